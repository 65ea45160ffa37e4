package engine

import (
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/nfq"
)

// RewritePacket lends rewrite to the fuzz tests of package engine_test
// (fuzz_packet_test.go), which read the parsers' captures through replay,
// a package that imports this one.
func RewritePacket(dst, b []byte, off Offsets, payloadEnd int, proto uint8, ws []cthelper.Rewrite) ([]byte, error) {
	return rewrite(dst, b, l4Offsets{l4: off.L4, payload: off.Payload}, payloadEnd, proto, ws)
}

// serveOne serves one packet as run does a read that brought only it:
// handle stages its verdict, flush writes it.
func (w *worker) serveOne(p *nfq.Packet) error {
	err := w.handle(p)
	w.flush()
	return err
}
