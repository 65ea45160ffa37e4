// Package mdns is the multicast DNS helper (UDP 5353, RFC 6762). A query
// sent to a multicast group from an ordinary port (a "one-shot" or legacy
// unicast query, as most resolvers send) is answered by unicast from each
// responder's port 5353 to the querier's port: answers that do not match
// the query's own conntrack, whose destination was the group.
//
// On a DNS query (QR bit clear, full 12-byte header) in the original
// direction to a multicast address, the helper expects UDP from any
// address, port 5353 (the port the query went to), to the querier's
// address and port, PERMANENT, for the policy's timeout (30 s).
package mdns

import (
	"errors"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/answer"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
)

// PrivLen: mdns keeps no private data.
const PrivLen = 0

const dnsHeaderLen = 12

var errShort = errors.New("mdns: message shorter than a DNS header")

// Parser is the mdns helper. It has no options.
type Parser struct{}

// New validates opts (mdns takes none) and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check("mdns", opts); err != nil {
		return nil, err
	}
	return Parser{}, nil
}

// Parse implements cthelper.Parser.
func (Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Dir != cthelper.Original || !p.Orig.Dst.IsMulticast() {
		return nil
	}
	if len(p.Payload) < dnsHeaderLen {
		return errShort
	}
	if p.Payload[2]&0x80 != 0 {
		return nil // a response, not a query
	}
	answer.Expect(p, r)
	return nil
}
