package nfq

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

// One queued packet as the kernel sends it with the conntrack glue:
// header, conntrack, ctinfo, a 227 reply's payload, cap len.
func BenchmarkDecodePacket(b *testing.B) {
	e := ctnl.NewEncoder(nil)
	e.Put(attrPacketHdr, []byte{0, 0, 1, 2, 0x08, 0x00, 3})
	ct := e.Nest(attrCT)
	e.Uint32(3, 0x188) // CTA_STATUS
	e.End(ct)
	e.Uint32(attrCTInfo, 3)
	e.Put(attrPayload, make([]byte, 83))
	e.Uint32(attrCapLen, 83)
	m := packetMessage(e.Bytes())
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Decode(m); err != nil {
			b.Fatal(err)
		}
	}
}

// A verdict with the helper's private data and an expectation riding
// along (the engine's per-packet answer).
func BenchmarkVerdict(b *testing.B) {
	var v Verdict
	info := make([]byte, 24)
	b.ReportAllocs()
	for b.Loop() {
		v.Start(5, 2, Accept)
		v.HelpInfo("ftp", info)
		v.Expect().Uint32(6, 1)
		_ = v.Bytes()
	}
}
