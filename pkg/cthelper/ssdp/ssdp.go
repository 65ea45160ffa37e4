// Package ssdp is the SSDP/UPnP helper (UDP 1900 and the devices' HTTP
// over TCP), for a control point behind the firewall:
//
//   - M-SEARCH: a UDP request to the SSDP group (239.255.255.250,
//     ff02::c or ff05::c) starting "M-SEARCH" expects the devices' unicast
//     answers: UDP from any address and port to the searcher's address and
//     port (PERMANENT: many devices answer; with NAT the answers follow
//     the master's translation back to the searcher).
//   - LOCATION: an answer (any later UDP packet of a conntrack helped by
//     ssdp, such as the answers the M-SEARCH expectation let in) with a
//     "LOCATION: http://host[:port]/..." header expects the control
//     point's TCP connection to that host and port (80 if none)
//     (PERMANENT). The host must be the device that answered unless
//     loose=yes. Over IPv6 devices answer from their link-local address
//     and name a global or unique-local one (miniupnpd does, as UPnP's
//     IPv6 annex asks), which the helper cannot tie to the device: IPv6
//     control points need loose=yes. The control point then connects
//     from an address of that scope, not the link-local one the answer
//     went to, so the expectation leaves the source address open. Where
//     the device is destination-NATed (a unicast search to an address
//     translated to it) and names its own address, the URL is rewritten
//     to the address the control point searched (IPv4 and IPv6) and the
//     expected connection follows the master's translation to the device.
//   - SUBSCRIBE: on a TCP connection from the control point, an HTTP
//     SUBSCRIBE with "CALLBACK: <http://addr:port/...>" naming the control
//     point itself expects the device's event connections (NOTIFY) to
//     that port. Where the control point is source-NATed the address in
//     the URL is rewritten to the translated one (IPv4 and IPv6) and the
//     expected connection follows the master's translation.
//   - NOTIFY: a NOTIFY on a connection to a callback renews that
//     expectation for the next event.
//
// Every expectation carries the helper name "ssdp", so the expected
// connections are helped too (that is how answers reach LOCATION and
// NOTIFY connections reach renewal). The kernel honours the name only for
// an expectation that rides in the verdict, which the engine sees to; the
// helper must exist for the expected connection's protocol, so run it for
// both udp and tcp.
//
// Options:
//
//	loose=yes|no   accept LOCATION URLs naming a host other than the
//	               answering device (default no)
package ssdp

import (
	"errors"
	"net/netip"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/ascii"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// PrivLen: ssdp keeps no private data.
const PrivLen = 0

// Name is the helper name the expectations ask for.
const Name = "ssdp"

var (
	group4   = netip.MustParseAddr("239.255.255.250")
	group6LL = netip.MustParseAddr("ff02::c")
	group6SL = netip.MustParseAddr("ff05::c")
)

var (
	errBadURL    = errors.New("ssdp: URL is not http:// with an address literal of the connection's family and a valid port")
	errThirdHost = errors.New("ssdp: LOCATION names a host other than the answering device (give the helper loose=yes to allow)")
	errLinkLocal = errors.New("ssdp: the device answered from an IPv6 link-local address and LOCATION names another address (give the helper loose=yes for IPv6 control points)")
	errCallback  = errors.New("ssdp: SUBSCRIBE CALLBACK names a host other than the subscriber")
)

// Parser is the ssdp helper.
type Parser struct {
	loose bool
}

// New reads the option loose and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check(Name, opts, "loose"); err != nil {
		return nil, err
	}
	loose, err := options.Bool(Name, opts, "loose", false)
	if err != nil {
		return nil, err
	}
	return &Parser{loose: loose}, nil
}

// Parse implements cthelper.Parser.
func (s *Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	switch p.Proto {
	case unix.IPPROTO_UDP:
		if p.Dir == cthelper.Original && isGroup(p.Orig.Dst) {
			// Searches repeat on the same socket: each one renews.
			return mSearch(p, r)
		}
		return s.location(p, r)
	case unix.IPPROTO_TCP:
		if p.Info != cthelper.Established {
			return nil
		}
		switch {
		case hasPrefix(p.Payload, "NOTIFY "):
			return notify(p, r)
		case hasPrefix(p.Payload, "SUBSCRIBE "):
			return subscribe(p, r)
		}
	}
	return nil
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

func isGroup(a netip.Addr) bool { return a == group4 || a == group6LL || a == group6SL }

func mSearch(p *cthelper.Packet, r *cthelper.Result) error {
	if !hasPrefix(p.Payload, "M-SEARCH") {
		return nil
	}
	e := cthelper.Expect{
		Proto:      unix.IPPROTO_UDP,
		Dst:        p.Reply.Dst,
		AnySrcPort: true,
		DstPort:    p.Reply.DstPort,
		Flags:      cthelper.ExpectPermanent,
		Helper:     Name,
	}
	if snat, _ := p.NATed(); snat {
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Reply, p.Orig.Src, p.Orig.SrcPort
	}
	r.AddExpect(e)
	return nil
}

func (s *Parser) location(p *cthelper.Packet, r *cthelper.Result) error {
	v, off := header(p.Payload, "location:")
	if v == nil {
		return nil
	}
	u, ok := parseURL(v, p.Family)
	if !ok {
		return errBadURL
	}
	// The device sent this packet: it is the source of the direction the
	// packet travels.
	device, receiver := p.Orig.Src, p.Reply.Src
	if p.Dir == cthelper.Reply {
		device, receiver = p.Reply.Src, p.Orig.Src
	}
	// An answer to a search sent to a destination-NATed device: the
	// control point reaches the device at the address it searched.
	_, dnat := p.NATed()
	dialled := p.Orig.Dst
	behindDNAT := dnat && p.Dir == cthelper.Reply && (u.addr == device || u.addr == dialled)
	if u.addr != device && !behindDNAT && !s.loose {
		if device.IsLinkLocalUnicast() {
			return errLinkLocal
		}
		return errThirdHost
	}
	src := receiver
	if receiver.IsLinkLocalUnicast() && !u.addr.IsLinkLocalUnicast() {
		src = netip.Addr{} // the control point's address of the URL's scope
	}
	e := cthelper.Expect{
		Proto:      unix.IPPROTO_TCP,
		Src:        src,
		Dst:        u.addr,
		AnySrcPort: true,
		DstPort:    u.port,
		Flags:      cthelper.ExpectPermanent,
		Helper:     Name,
	}
	if behindDNAT {
		e.Dst = dialled
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Original, device, u.port
		if u.addr != dialled {
			text := dialled.AppendTo(r.Scratch[:0])
			r.AddRewrite(cthelper.Rewrite{Off: off + u.hostOff, Len: u.hostLen, Data: text})
		}
	}
	r.AddExpect(e)
	return nil
}

func notify(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Dir != cthelper.Original {
		return nil
	}
	e := cthelper.Expect{
		Proto:      unix.IPPROTO_TCP,
		Src:        p.Orig.Src,
		Dst:        p.Orig.Dst,
		AnySrcPort: true,
		DstPort:    p.Orig.DstPort,
		Helper:     Name,
	}
	if _, dnat := p.NATed(); dnat {
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Original, p.Reply.Src, p.Reply.SrcPort
	}
	r.AddExpect(e)
	return nil
}

func subscribe(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Dir != cthelper.Original {
		return nil
	}
	v, off := header(p.Payload, "callback:")
	if v == nil {
		return nil
	}
	if len(v) < 2 || v[0] != '<' {
		return errBadURL
	}
	u, ok := parseURL(v[1:], p.Family)
	if !ok {
		return errBadURL
	}
	if u.addr != p.Orig.Src {
		return errCallback
	}
	e := cthelper.Expect{
		Proto:      unix.IPPROTO_TCP,
		Src:        p.Reply.Src,
		Dst:        p.Reply.Dst,
		AnySrcPort: true,
		DstPort:    u.port,
		Helper:     Name,
	}
	if snat, _ := p.NATed(); snat {
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Reply, p.Orig.Src, u.port
		if p.Reply.Dst != p.Orig.Src {
			text := p.Reply.Dst.AppendTo(r.Scratch[:0])
			r.AddRewrite(cthelper.Rewrite{Off: off + 1 + u.hostOff, Len: u.hostLen, Data: text})
		}
	}
	r.AddExpect(e)
	return nil
}

// header finds the first line starting with name (lower case, compared
// without case) and returns its value without surrounding blanks, and the
// value's offset in b.
func header(b []byte, name string) ([]byte, int) {
	off := 0
	for len(b) > 0 {
		line, rest := ascii.Line(b)
		if ascii.HasPrefixFold(line, name) {
			v := line[len(name):]
			lead := 0
			for lead < len(v) && (v[lead] == ' ' || v[lead] == '\t') {
				lead++
			}
			return ascii.TrimSpace(v[lead:]), off + len(name) + lead
		}
		off += len(b) - len(rest)
		b = rest
	}
	return nil, 0
}

type url struct {
	addr             netip.Addr
	port             uint16
	hostOff, hostLen int // the address text, without brackets
}

// parseURL reads "http://addr[:port]..." with an IPv4 literal or an IPv6
// literal in brackets, of the given family.
func parseURL(b []byte, family uint8) (url, bool) {
	var u url
	if !ascii.HasPrefixFold(b, "http://") {
		return u, false
	}
	i := len("http://")
	var host []byte
	if i < len(b) && b[i] == '[' {
		end := i + 1
		for end < len(b) && b[end] != ']' {
			end++
		}
		if end == len(b) {
			return u, false
		}
		u.hostOff, host, i = i+1, b[i+1:end], end+1
	} else {
		end := i
		for end < len(b) && (b[end] == '.' || b[end] >= '0' && b[end] <= '9') {
			end++
		}
		u.hostOff, host, i = i, b[i:end], end
	}
	addr, ok := ascii.Addr(host)
	if !ok || addr.Is4() != (family == unix.AF_INET) {
		return u, false
	}
	u.addr, u.hostLen, u.port = addr, len(host), 80
	if i < len(b) && b[i] == ':' {
		v, n := ascii.Uint(b[i+1:], 65535)
		if n == 0 || v == 0 {
			return u, false
		}
		u.port, i = uint16(v), i+1+n
	}
	if i < len(b) && b[i] != '/' && b[i] != '>' {
		return u, false
	}
	return u, true
}
