// Package answer builds the expectation the multicast query helpers (mdns,
// slp) share: the unicast answers to a query a host sent to a group.
package answer

import (
	"net/netip"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// Expect asks for UDP answers from any address, from the port the query
// went to, to the querier's address and port, PERMANENT (several hosts
// answer one query). With source NAT the answers follow the master's
// translation back to the querier.
func Expect(p *cthelper.Packet, r *cthelper.Result) {
	e := cthelper.Expect{
		Proto:   unix.IPPROTO_UDP,
		SrcPort: p.Orig.DstPort,
		Dst:     p.Reply.Dst,
		DstPort: p.Reply.DstPort,
		Flags:   cthelper.ExpectPermanent,
	}
	if snat, _ := p.NATed(); snat {
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Reply, p.Orig.Src, p.Orig.SrcPort
	}
	r.AddExpect(e)
}

// Broadcast reports whether a is a multicast or a broadcast-looking IPv4
// address (255.255.255.255 or one ending in .255): a destination whose
// answers cannot come back as replies of the query's own conntrack.
func Broadcast(a netip.Addr) bool {
	if a.IsMulticast() {
		return true
	}
	if a.Is4() {
		return a.As4()[3] == 255
	}
	return false
}
