package engine

import (
	"encoding/hex"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/ftp"
)

// BenchmarkPrepare is the engine's own work for one queued packet, the
// real ftp parser included, without the socket: decode the packet and its
// conntrack, parse, build the verdict (and the expectation request for a
// 227 reply).
func BenchmarkPrepare(b *testing.B) {
	p, err := ftp.New(cthelper.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		info    []byte
		expects int
	}{
		// Private data saying the reply direction's next line starts at
		// the 227 (sequence 1000): the parser reads it and expects.
		{"227 reply with expectation", ftpPriv(1000), 1},
		// A segment that does not start a line: looked at, nothing to do.
		{"mid-line segment", ftpPriv(5), 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := newRig(&testing.T{}, p, ExpectAuto)
			r.w.q = nil
			pkt := r.packet(&testing.T{}, true, tc.info)
			r.w.prepare(pkt)
			if r.w.plan.Result.NExpects != tc.expects {
				b.Fatalf("the parser asked for %d expectations, want %d", r.w.plan.Result.NExpects, tc.expects)
			}
			b.ReportAllocs()
			for b.Loop() {
				r.w.prepare(pkt)
			}
		})
	}
}

// ftpPriv is ftp's private data (the kernel's nf_ct_ftp_master layout:
// seq_aft_nl[2][2] u32, seq_aft_nl_num[2] u16, flags[2] u16) with the
// reply direction's line start at seq.
func ftpPriv(seq uint32) []byte {
	b := make([]byte, 24)
	b[8], b[9], b[10], b[11] = byte(seq), byte(seq>>8), byte(seq>>16), byte(seq>>24)
	b[18] = 1
	return b
}

// BenchmarkDecodeIP is the first step of prepare alone: the queued IP
// packet's headers and payload.
func BenchmarkDecodeIP(b *testing.B) {
	for _, bc := range []struct{ name, hex string }{{"ipv4-tcp-227", v4Reply227}, {"ipv6-udp-dstopts", v6TFTP}} {
		b.Run(bc.name, func(b *testing.B) {
			pkt, err := hex.DecodeString(bc.hex)
			if err != nil {
				b.Fatal(err)
			}
			var p cthelper.Packet
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeIP(pkt, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
