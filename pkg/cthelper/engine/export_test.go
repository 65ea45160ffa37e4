package engine

import "github.com/gonfct/gonfct/pkg/cthelper"

// RewritePacket lends rewrite to the fuzz tests of package engine_test
// (fuzz_packet_test.go), which read the parsers' captures through replay,
// a package that imports this one.
func RewritePacket(dst, b []byte, off Offsets, payloadEnd int, proto uint8, ws []cthelper.Rewrite) ([]byte, error) {
	return rewrite(dst, b, l4Offsets{l4: off.L4, payload: off.Payload}, payloadEnd, proto, ws)
}
