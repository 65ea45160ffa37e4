// Package dhcpv6 is the DHCPv6 client helper (UDP 546/547, RFC 8415). A
// client multicasts to ff02::1:2 (or ff05::1:3) and servers answer by
// unicast from their own address: answers that do not match the request's
// conntrack, whose destination was the group.
//
// On a client message (Solicit, Request, Confirm, Renew, Rebind, Release,
// Decline or Information-Request) in the original direction to a
// multicast address, the helper expects UDP from any address and port to
// the client's address and port (546), PERMANENT. Other message types
// pass without an expectation (conntrackd drops types past 13, which
// today's relay and lease-query messages are; gonfct lets them through).
package dhcpv6

import (
	"errors"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// PrivLen: dhcpv6 keeps no private data.
const PrivLen = 0

var errShort = errors.New("dhcpv6: message shorter than type and transaction id")

// clientMessage marks the message types a client sends to servers.
var clientMessage = [256]bool{1: true, 3: true, 4: true, 5: true, 6: true, 8: true, 9: true, 11: true}

// Parser is the dhcpv6 helper. It has no options.
type Parser struct{}

// New validates opts (dhcpv6 takes none) and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check("dhcpv6", opts); err != nil {
		return nil, err
	}
	return Parser{}, nil
}

// Parse implements cthelper.Parser.
func (Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Dir != cthelper.Original || !p.Orig.Dst.Is6() || !p.Orig.Dst.IsMulticast() {
		return nil
	}
	if len(p.Payload) < 4 {
		return errShort
	}
	if !clientMessage[p.Payload[0]] {
		return nil
	}
	r.AddExpect(cthelper.Expect{
		Proto:      unix.IPPROTO_UDP,
		Dst:        p.Reply.Dst,
		AnySrcPort: true,
		DstPort:    p.Reply.DstPort,
		Flags:      cthelper.ExpectPermanent,
	})
	return nil
}
