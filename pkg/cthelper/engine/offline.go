package engine

import (
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/expect"
)

// This file lends the engine's per-packet logic to offline tools (`gonfct
// helper test`), so that a capture is read and answered exactly as live
// traffic is.

// Offsets locate a decoded packet's transport header and payload in its
// bytes.
type Offsets struct{ L4, Payload int }

// DecodePacket fills p's own fields (family, protocol, addresses, ports,
// TCP sequence number, payload) from b, which starts at the IP header,
// with the engine's decoder. It does not allocate; p.Payload aliases b.
func DecodePacket(b []byte, p *cthelper.Packet) (Offsets, error) {
	off, err := decodeIP(b, p)
	return Offsets{L4: off.l4, Payload: off.payload}, err
}

// ErrNotTCPUDP is DecodePacket's error for an IP packet that is neither
// TCP nor UDP: no helper ever sees one.
var ErrNotTCPUDP = errNotTCPUDP

// Expectation is the kernel expectation the engine creates through
// ctnetlink for a parser's Expect x on packet p of the conntrack whose
// original tuple is master.
func Expectation(p *cthelper.Packet, x *cthelper.Expect, master ctnetlink.Tuple) expect.Expectation {
	w := worker{pkt: *p}
	w.ct.orig = master
	return w.expectation(nil, x, true)
}
