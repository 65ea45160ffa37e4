// Package tftp is the TFTP helper (RFC 1350): a client's read or write
// request to the server's port 69 makes the server answer from a new port,
// a new connection the helper expects.
//
// On a read (RRQ, opcode 1) or write (WRQ, opcode 2) request in the
// original direction, with a NUL-terminated file name and mode, it expects
// a UDP connection from the server's address, any port, to the client's
// address and port (the master's reply tuple, so it holds under NAT too;
// with NAT the expected connection follows the master's translation).
// Every other packet is let through untouched.
package tftp

import (
	"encoding/binary"
	"errors"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// PrivLen: tftp keeps no private data.
const PrivLen = 0

const (
	opRRQ = 1
	opWRQ = 2
)

var errMalformed = errors.New("tftp: request without a NUL-terminated file name and mode")

// Parser is the tftp helper. It has no options.
type Parser struct{}

// New validates opts (tftp takes none) and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check("tftp", opts); err != nil {
		return nil, err
	}
	return Parser{}, nil
}

// Parse implements cthelper.Parser.
func (Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Dir != cthelper.Original || len(p.Payload) < 2 {
		return nil
	}
	op := binary.BigEndian.Uint16(p.Payload)
	if op != opRRQ && op != opWRQ {
		return nil
	}
	// filename NUL mode NUL [options]
	rest := p.Payload[2:]
	for field := 0; field < 2; field++ {
		n := indexNUL(rest)
		if n <= 0 {
			return errMalformed
		}
		rest = rest[n+1:]
	}
	e := cthelper.Expect{
		Proto:      unix.IPPROTO_UDP,
		Src:        p.Reply.Src,
		Dst:        p.Reply.Dst,
		AnySrcPort: true,
		DstPort:    p.Reply.DstPort,
	}
	if snat, dnat := p.NATed(); snat || dnat {
		// Translate the server's answer back to the client's own
		// address and port, as the master's replies are.
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Reply, p.Orig.Src, p.Orig.SrcPort
	}
	r.AddExpect(e)
	return nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
