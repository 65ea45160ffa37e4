// Package sane is the SANE network scanning helper (saned, TCP 6566): the
// scanned image comes over a second connection from the client to a port
// the server announces in its answer to SANE_NET_START.
//
// A client segment that is exactly a SANE_NET_START request (8 bytes: RPC
// code 7 and a handle) marks the conntrack as waiting for the answer; any
// other 8-byte request clears the mark. The server's next segment, when
// waiting, ends the wait; if it starts with status SANE_STATUS_GOOD (0)
// and a port (a 32-bit word whose high half is zero), the helper expects a
// TCP connection from the client to the server on that port. Segments of
// other sizes from the client (option values, image requests) leave the
// state alone, as the kernel helper does.
package sane

import (
	"encoding/binary"
	"errors"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// PrivLen is the private data per conntrack: byte 0 is the state (0
// normal, 1 SANE_NET_START sent and not answered yet), bytes 1-3 zero;
// the same values as conntrackd's 4-byte enum on little-endian hosts.
const PrivLen = 4

const (
	netStart       = 7 // SANE_NET_START
	stateNormal    = 0
	stateStartSent = 1
	requestLen     = 8 // RPC code, handle
	replyLen       = 8 // status, port (as a 32-bit word)
)

var errPriv = errors.New("sane: private data shorter than 4 bytes (helper made with the wrong priv len)")

// Parser is the sane helper. It has no options.
type Parser struct{}

// New validates opts (sane takes none) and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check("sane", opts); err != nil {
		return nil, err
	}
	return Parser{}, nil
}

// Parse implements cthelper.Parser.
func (Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if len(p.Priv) < PrivLen {
		return errPriv
	}
	if len(p.Payload) == 0 || (p.Info != cthelper.Established && p.Info != cthelper.EstablishedReply) {
		return nil
	}
	state := &p.Priv[0]
	if p.Dir == cthelper.Original {
		if len(p.Payload) != requestLen {
			return nil
		}
		next := uint8(stateNormal)
		if binary.BigEndian.Uint32(p.Payload) == netStart {
			next = stateStartSent
		}
		if *state != next {
			*state = next
			r.PrivChanged = true
		}
		return nil
	}
	if *state != stateStartSent {
		return nil
	}
	*state = stateNormal
	r.PrivChanged = true
	if len(p.Payload) < replyLen {
		return nil
	}
	status, word := binary.BigEndian.Uint32(p.Payload), binary.BigEndian.Uint32(p.Payload[4:])
	if status != 0 || word > 0xffff || word == 0 {
		return nil
	}
	e := cthelper.Expect{
		Proto:      unix.IPPROTO_TCP,
		Src:        p.Orig.Src,
		Dst:        p.Orig.Dst,
		AnySrcPort: true,
		DstPort:    uint16(word),
	}
	if snat, dnat := p.NATed(); snat || dnat {
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Original, p.Reply.Src, uint16(word)
	}
	r.AddExpect(e)
	return nil
}
