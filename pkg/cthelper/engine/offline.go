package engine

import (
	"github.com/gonfct/gonfct/pkg/cthelper"
)

// This file lends the engine's decoder to offline tools (`gonfct helper
// test`, the parsers' capture tests), so that a capture is read exactly as
// live traffic is; they decide with Decide, as the engine does.

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
