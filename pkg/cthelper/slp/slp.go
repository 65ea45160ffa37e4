// Package slp is the Service Location Protocol helper (UDP 427, RFC 2608
// and RFC 2165). A user agent multicasts (or broadcasts) a request and
// every matching service or directory agent answers by unicast from port
// 427 to the requester's port: answers that do not match the request's own
// conntrack, whose destination was the group.
//
// On an SLP request (version 1 or 2, a full header, function SrvRqst (1),
// AttrRqst (6) or SrvTypeRqst (9)) in the original direction to a
// multicast or broadcast-looking address (255.255.255.255 or one ending in
// .255), the helper expects UDP from any address, port 427 (the port the
// request went to), to the requester's address and port, PERMANENT, for the
// policy's timeout (16 s).
package slp

import (
	"errors"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/answer"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
)

// PrivLen: slp keeps no private data.
const PrivLen = 0

const (
	headerLen1 = 12 // SLPv1 (RFC 2165)
	headerLen2 = 16 // SLPv2 (RFC 2608) with an empty language tag
)

var (
	errShort   = errors.New("slp: message shorter than an SLP header")
	errVersion = errors.New("slp: not SLP version 1 or 2")
)

// Parser is the slp helper. It has no options.
type Parser struct{}

// New validates opts (slp takes none) and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check("slp", opts); err != nil {
		return nil, err
	}
	return Parser{}, nil
}

// Parse implements cthelper.Parser.
func (Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Dir != cthelper.Original || !answer.Broadcast(p.Orig.Dst) {
		return nil
	}
	b := p.Payload
	if len(b) < 2 {
		return errShort
	}
	switch b[0] {
	case 1:
		if len(b) < headerLen1 {
			return errShort
		}
	case 2:
		if len(b) < headerLen2 {
			return errShort
		}
	default:
		return errVersion
	}
	switch b[1] {
	case 1, 6, 9: // SrvRqst, AttrRqst, SrvTypeRqst
		answer.Expect(p, r)
	}
	return nil
}
