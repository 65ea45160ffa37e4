// Package dhcpv6 is the DHCPv6 client helper (UDP 546/547, RFC 8415). A
// client multicasts to ff02::1:2 (or ff05::1:3) and servers answer by
// unicast from their own address: answers that do not match the request's
// conntrack, whose destination was the group.
//
// On a client message (Solicit, Request, Confirm, Renew, Rebind, Release,
// Decline or Information-Request) in the original direction to a
// multicast address, the helper expects UDP from any address and port to
// the client's address and port (546), PERMANENT, and sets the master
// conntrack's timeout to the client's longest wait between two sends of
// that type (RFC 3315's maximum retransmission times, conntrackd's
// values): Solicit and Information-Request 120 s, Request 30 s, Confirm
// 4 s, Renew and Rebind 600 s, Release and Decline 1 s. The master never
// sees a reply (the answers come from another address), so without this
// it would have UDP's 30 s, and its expectation dies with it. Other
// message types pass without an expectation (conntrackd drops types past
// 13, which today's relay and lease-query messages are; gonfct lets them
// through).
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

// Message types a client sends to servers (RFC 8415, section 7.3).
const (
	msgSolicit            = 1
	msgRequest            = 3
	msgConfirm            = 4
	msgRenew              = 5
	msgRebind             = 6
	msgRelease            = 8
	msgDecline            = 9
	msgInformationRequest = 11
)

// masterTimeout is, for each message type a client sends to servers, the
// master conntrack's timeout in seconds after it: SOL_MAX_RT, REQ_MAX_RT,
// CNF_MAX_RT, REN_MAX_RT, REB_MAX_RT, REL_TIMEOUT, DEC_TIMEOUT and
// INF_MAX_RT of RFC 3315 (section 5.5); 0 for the other types.
var masterTimeout = [256]uint32{
	msgSolicit: 120, msgRequest: 30, msgConfirm: 4, msgRenew: 600, msgRebind: 600,
	msgRelease: 1, msgDecline: 1, msgInformationRequest: 120,
}

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
	timeout := masterTimeout[p.Payload[0]]
	if timeout == 0 {
		return nil
	}
	r.Timeout = timeout
	r.AddExpect(cthelper.Expect{
		Proto:      unix.IPPROTO_UDP,
		Dst:        p.Reply.Dst,
		AnySrcPort: true,
		DstPort:    p.Reply.DstPort,
		Flags:      cthelper.ExpectPermanent,
	})
	return nil
}
