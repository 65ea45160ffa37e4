// Package rpc is the ONC RPC portmapper helper: it lets in the connection a
// client makes to the port the portmapper (rpcbind) tells it.
//
// A call from the client (original direction) is remembered in the
// conntrack's private data when it is a portmapper v2 GETPORT (program
// 100000, version 2, procedure 3) or an rpcbind v3/v4 GETADDR (procedure 3,
// and v4 GETVERSADDR, procedure 9). The server's reply with the same xid,
// accepted and successful, carrying a non-zero port (v2) or a universal
// address (v3/v4: "h1.h2.h3.h4.p1.p2" or an IPv6 address followed by
// ".p1.p2"), makes a PERMANENT expectation from the client to the server on
// that port and the asked protocol. Under NAT the expected connection is
// translated as the master is, and behind destination NAT a universal
// address naming the real server is rewritten to the one the client
// asked. Over TCP, calls and replies are records
// in one or more fragments (RFC 5531 §11); the part of the record the
// helper reads must be in one segment, as every portmapper client sends it.
//
// Nothing is expected for: a reply whose xid does not match the pending
// call (a spoofed or stale reply), a denied or failed reply, port 0 or an
// empty address (program not registered), a GETPORT for the portmapper
// itself (program 100000), a protocol other than TCP or UDP, an address of
// another family than the master's, or a universal address naming a host
// other than the server.
package rpc

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/ascii"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// PrivLen is the private data the helper keeps per conntrack.
//
// Layout (big endian), describing the one pending call:
//
//	[0:4]   xid
//	[4:8]   program asked for
//	[8:12]  its version
//	[12]    rpcbind version of the call: 0 none pending, 2, 3 or 4
//	[13]    protocol asked for (IPPROTO_TCP or IPPROTO_UDP)
//	[14]    family asked for (AF_INET or AF_INET6)
//	[15]    zero
//
// It differs from conntrackd's struct rpc_info (host-order u32s), so a
// connection whose call was seen by conntrackd is not answered here.
const PrivLen = 16

const (
	portmapProgram = 100000
	procGetPort    = 3 // PMAPPROC_GETPORT (v2), RPCBPROC_GETADDR (v3, v4)
	procGetVersAdr = 9 // RPCBPROC_GETVERSADDR (v4)

	msgCall  = 0
	msgReply = 1

	msgAccepted = 0
	success     = 0

	maxAuth  = 400 // RFC 5531: opaque_auth body ≤ 400 bytes
	maxUaddr = 255 // generous for r_addr and r_owner strings
)

var (
	errTruncated = errors.New("rpc: truncated or malformed message")
	errNotRPC    = errors.New("rpc: not an ONC RPC portmapper message")
	errPriv      = errors.New("rpc: private data shorter than 16 bytes (helper made with the wrong priv len)")
)

// Parser is the rpc helper. It has no options.
type Parser struct{}

// New validates opts (rpc takes none) and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check("rpc", opts); err != nil {
		return nil, err
	}
	return Parser{}, nil
}

// Parse implements cthelper.Parser.
func (Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if len(p.Priv) < PrivLen {
		return errPriv
	}
	if len(p.Payload) == 0 {
		return nil
	}
	tcp := p.Proto == unix.IPPROTO_TCP
	if tcp && p.Info != cthelper.Established && p.Info != cthelper.EstablishedReply {
		return nil
	}
	if p.Dir == cthelper.Original {
		return parseCall(p, r, tcp)
	}
	return parseReply(p, r, tcp)
}

func parseCall(p *cthelper.Packet, r *cthelper.Result, tcp bool) error {
	x := newReader(p.Payload, tcp)
	xid := x.u32()
	if mtype := x.u32(); !x.ok() {
		return errTruncated
	} else if mtype != msgCall {
		return errNotRPC
	}
	rpcvers, prog, vers, proc := x.u32(), x.u32(), x.u32(), x.u32()
	x.u32() // credential flavor
	x.opaque(maxAuth)
	x.u32() // verifier flavor
	x.opaque(maxAuth)
	if !x.ok() {
		return errTruncated
	}
	if rpcvers != 2 || prog != portmapProgram {
		return errNotRPC
	}
	var askProg, askVers uint32
	var proto, family uint8
	switch {
	case vers == 2 && proc == procGetPort:
		askProg, askVers = x.u32(), x.u32()
		prot := x.u32()
		x.u32() // port, unused in a call
		if !x.ok() {
			return errTruncated
		}
		if prot != unix.IPPROTO_TCP && prot != unix.IPPROTO_UDP {
			return nil
		}
		proto, family = uint8(prot), p.Family
	case (vers == 3 || vers == 4) && proc == procGetPort, vers == 4 && proc == procGetVersAdr:
		askProg, askVers = x.u32(), x.u32()
		var netid [8]byte
		n := x.str(netid[:])
		x.opaque(maxUaddr) // r_addr
		x.opaque(maxUaddr) // r_owner
		if !x.ok() {
			return errTruncated
		}
		var ok bool
		if proto, family, ok = parseNetid(netid[:n]); !ok {
			return nil
		}
	default:
		return nil // DUMP, SET, NULL, ...: nothing to remember
	}
	if askProg == portmapProgram {
		return nil // the portmapper itself: its port is already known
	}
	priv := p.Priv
	binary.BigEndian.PutUint32(priv[0:], xid)
	binary.BigEndian.PutUint32(priv[4:], askProg)
	binary.BigEndian.PutUint32(priv[8:], askVers)
	priv[12], priv[13], priv[14], priv[15] = uint8(vers), proto, family, 0
	r.PrivChanged = true
	return nil
}

// parseNetid maps an rpcbind network id to protocol and family.
func parseNetid(b []byte) (proto, family uint8, ok bool) {
	switch string(b) {
	case "tcp":
		return unix.IPPROTO_TCP, unix.AF_INET, true
	case "udp":
		return unix.IPPROTO_UDP, unix.AF_INET, true
	case "tcp6":
		return unix.IPPROTO_TCP, unix.AF_INET6, true
	case "udp6":
		return unix.IPPROTO_UDP, unix.AF_INET6, true
	}
	return 0, 0, false
}

func parseReply(p *cthelper.Packet, r *cthelper.Result, tcp bool) error {
	priv := p.Priv
	vers := priv[12]
	if vers == 0 {
		return nil // no call pending
	}
	x := newReader(p.Payload, tcp)
	xid := x.u32()
	mtype := x.u32()
	if !x.ok() {
		return errTruncated
	}
	if mtype != msgReply {
		return errNotRPC
	}
	if xid != binary.BigEndian.Uint32(priv[0:]) {
		return nil // not the answer to the pending call
	}
	// Answered, one way or another: forget the call.
	defer func() {
		clear(priv[:PrivLen])
		r.PrivChanged = true
	}()
	if x.u32() != msgAccepted {
		return nil
	}
	x.u32() // verifier flavor
	x.opaque(maxAuth)
	stat := x.u32()
	if !x.ok() {
		return errTruncated
	}
	if stat != success {
		return nil
	}
	var port uint16
	if vers == 2 {
		v := x.u32()
		if !x.ok() {
			return errTruncated
		}
		if v == 0 || v > 65535 {
			return nil
		}
		port = uint16(v)
	} else {
		var ua [64]byte
		uaOff := x.offset()
		n := x.str(ua[:])
		if !x.ok() {
			return errTruncated
		}
		if n == 0 {
			return nil // not registered
		}
		addr, pt, ok := ParseUniversalAddr(ua[:n])
		if !ok {
			return errTruncated
		}
		if addr.Is4() != (priv[14] == unix.AF_INET) {
			return nil
		}
		if !addr.IsUnspecified() && addr != p.Reply.Src && addr != p.Orig.Dst {
			return nil // a third host: not this server's service
		}
		if pt == 0 {
			return nil
		}
		port = pt
		// Behind destination NAT the address names the real server, which
		// the client cannot reach (and the expectation does not let in):
		// give it the address the client asked instead. The string must
		// lie in one fragment, as every rpcbind sends it.
		if _, dnat := p.NATed(); dnat && addr == p.Reply.Src && addr != p.Orig.Dst &&
			x.offset()-uaOff == 4+(n+3)&^3 && priv[14] == p.Family {
			rewriteUaddr(p, r, &x, uaOff, x.offset(), p.Orig.Dst, pt)
		}
	}
	if priv[14] != p.Family {
		return nil // the client asked for the other family's address
	}
	e := cthelper.Expect{
		Proto:      priv[13],
		Src:        p.Orig.Src,
		Dst:        p.Orig.Dst,
		AnySrcPort: true,
		DstPort:    port,
		Flags:      cthelper.ExpectPermanent,
	}
	if snat, dnat := p.NATed(); snat || dnat {
		// The expected connection is translated as the master is: its
		// destination to the real server (the reply's source) on the
		// same port.
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Original, p.Reply.Src, port
	}
	r.AddExpect(e)
	return nil
}

// rewriteUaddr replaces the XDR string at payload[from:to] with the
// universal address of addr and port and, over TCP, fixes the length in
// the fragment's mark.
func rewriteUaddr(p *cthelper.Packet, r *cthelper.Result, x *reader, from, to int, addr netip.Addr, port uint16) {
	b := r.Scratch[:4:len(r.Scratch)]
	b = binary.BigEndian.AppendUint32(b, 0) // the string's length, set below
	b = addr.AppendTo(b)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(port>>8), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(port&0xff), 10)
	binary.BigEndian.PutUint32(b[4:], uint32(len(b)-8))
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	delta := len(b) - 4 - (to - from)
	if x.tcp && delta != 0 {
		mark := binary.BigEndian.Uint32(p.Payload[x.mark:])
		n := int(mark&0x7fffffff) + delta
		binary.BigEndian.PutUint32(b[:4], mark&0x80000000|uint32(n))
		r.AddRewrite(cthelper.Rewrite{Off: x.mark, Len: 4, Data: b[:4]})
	}
	r.AddRewrite(cthelper.Rewrite{Off: from, Len: to - from, Data: b[4:]})
}

// ParseUniversalAddr parses an rpcbind universal address (RFC 5665 §5.2.3.3
// and §5.2.3.4): an IPv4 or IPv6 address followed by ".p1.p2", the port's
// high and low bytes in decimal.
func ParseUniversalAddr(b []byte) (netip.Addr, uint16, bool) {
	last := lastDot(b)
	if last <= 0 {
		return netip.Addr{}, 0, false
	}
	prev := lastDot(b[:last])
	if prev <= 0 {
		return netip.Addr{}, 0, false
	}
	hi, n1 := ascii.Uint(b[prev+1:last], 255)
	lo, n2 := ascii.Uint(b[last+1:], 255)
	if n1 == 0 || n1 != last-prev-1 || n2 == 0 || n2 != len(b)-last-1 {
		return netip.Addr{}, 0, false
	}
	addr, ok := ascii.Addr(b[:prev])
	if !ok {
		return netip.Addr{}, 0, false
	}
	return addr, uint16(hi<<8 | lo), true
}

func lastDot(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '.' {
			return i
		}
	}
	return -1
}
