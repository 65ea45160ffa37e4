package ctnetlink

import (
	"net/netip"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// Tuple is one direction of a connection as ctnetlink sees it. Ports are
// host byte order. For ICMP, ICMPID/Type/Code replace the ports.
type Tuple struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	ICMPID           uint16
	ICMPType         uint8
	ICMPCode         uint8
	Zone             uint16 // CTA_TUPLE_ZONE; encoded only when HasZone
	HasZone          bool
}

// Family is AF_INET or AF_INET6, from the addresses (AF_INET if unset).
func (t Tuple) Family() uint8 {
	if t.Src.Is6() || t.Dst.Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// Layer4 says which layer-4 fields a tuple of some protocol carries. It is
// the one place that knows which protocols have ports, keys or ICMP
// fields: every codec (netlink, text, JSON, words) asks it.
type Layer4 uint8

// What a tuple carries after its addresses.
const (
	NoLayer4   Layer4 = iota // nothing (protocols conntrack tracks generically)
	Ports                    // TCP, UDP, UDPlite, SCTP, DCCP: source and destination port
	GREKeys                  // GRE: the keys, which travel in the port attributes
	ICMPFields               // ICMP, ICMPv6: type, code and id
)

// Layer4Of is what a tuple of protocol p carries.
func Layer4Of(p uint8) Layer4 {
	switch p {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE, unix.IPPROTO_SCTP, unix.IPPROTO_DCCP:
		return Ports
	case unix.IPPROTO_GRE:
		return GREKeys
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		return ICMPFields
	}
	return NoLayer4
}

// PortAttrs reports whether such a tuple fills SrcPort and DstPort
// (CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT): ports, or GRE keys.
func (l Layer4) PortAttrs() bool { return l == Ports || l == GREKeys }

// Encode appends the tuple as a nested attribute of type typ (CTA_TUPLE_ORIG,
// CTA_EXPECT_MASTER, ...).
func (t Tuple) Encode(e *ctnl.Encoder, typ uint16) {
	n := e.Nest(typ)
	ip := e.Nest(AttrTupleIP)
	if t.Family() == unix.AF_INET6 {
		s, d := t.Src.As16(), t.Dst.As16()
		e.Put(AttrIPv6Src, s[:])
		e.Put(AttrIPv6Dst, d[:])
	} else {
		s, d := t.Src.Unmap(), t.Dst.Unmap()
		if !s.IsValid() {
			s = netip.IPv4Unspecified()
		}
		if !d.IsValid() {
			d = netip.IPv4Unspecified()
		}
		s4, d4 := s.As4(), d.As4()
		e.Put(AttrIPv4Src, s4[:])
		e.Put(AttrIPv4Dst, d4[:])
	}
	e.End(ip)
	p := e.Nest(AttrTupleProto)
	e.Uint8(AttrProtoNum, t.Proto)
	switch l4 := Layer4Of(t.Proto); {
	case t.Proto == unix.IPPROTO_ICMP:
		e.Uint16(AttrProtoICMPID, t.ICMPID)
		e.Uint8(AttrProtoICMPType, t.ICMPType)
		e.Uint8(AttrProtoICMPCode, t.ICMPCode)
	case t.Proto == unix.IPPROTO_ICMPV6:
		e.Uint16(AttrProtoICMPv6ID, t.ICMPID)
		e.Uint8(AttrProtoICMPv6Type, t.ICMPType)
		e.Uint8(AttrProtoICMPv6Code, t.ICMPCode)
	case l4.PortAttrs():
		// The kernel refuses a GRE tuple without its keys (EINVAL).
		e.Uint16(AttrProtoSrcPort, t.SrcPort)
		e.Uint16(AttrProtoDstPort, t.DstPort)
	}
	e.End(p)
	if t.HasZone {
		e.Uint16(AttrTupleZone, t.Zone)
	}
	e.End(n)
}

// DecodeTuple reads the payload of a tuple attribute.
func DecodeTuple(b []byte) (Tuple, error) {
	var t Tuple
	s := ctnl.NewScanner(b)
	for s.Next() {
		switch s.Type() {
		case AttrTupleIP:
			ip := s.Nested()
			for ip.Next() {
				d := ip.Data()
				switch ip.Type() {
				case AttrIPv4Src, AttrIPv4Dst:
					if len(d) != 4 {
						return t, ctnl.ErrShortAttribute
					}
					a := netip.AddrFrom4([4]byte(d))
					if ip.Type() == AttrIPv4Src {
						t.Src = a
					} else {
						t.Dst = a
					}
				case AttrIPv6Src, AttrIPv6Dst:
					if len(d) != 16 {
						return t, ctnl.ErrShortAttribute
					}
					a := netip.AddrFrom16([16]byte(d))
					if ip.Type() == AttrIPv6Src {
						t.Src = a
					} else {
						t.Dst = a
					}
				}
			}
			if err := ip.Err(); err != nil {
				return t, err
			}
		case AttrTupleProto:
			p := s.Nested()
			for p.Next() {
				switch p.Type() {
				case AttrProtoNum:
					t.Proto = p.Uint8()
				case AttrProtoSrcPort:
					t.SrcPort = p.Uint16()
				case AttrProtoDstPort:
					t.DstPort = p.Uint16()
				case AttrProtoICMPID, AttrProtoICMPv6ID:
					t.ICMPID = p.Uint16()
				case AttrProtoICMPType, AttrProtoICMPv6Type:
					t.ICMPType = p.Uint8()
				case AttrProtoICMPCode, AttrProtoICMPv6Code:
					t.ICMPCode = p.Uint8()
				}
			}
			if err := p.Err(); err != nil {
				return t, err
			}
		case AttrTupleZone:
			t.Zone, t.HasZone = s.Uint16(), true
		}
	}
	return t, s.Err()
}

// Key finds one conntrack or expectation: its original (for an
// expectation, expected) tuple, in Zone when HasZone (CTA_ZONE,
// CTA_EXPECT_ZONE; the tuple's own Zone is a directional one), and, when ID
// is not zero, only the entry with that ID, so that one replaced meanwhile
// is left alone.
type Key struct {
	Tuple   Tuple
	Zone    uint16
	HasZone bool
	ID      uint32
}

// Port is an optional port a filter matches.
type Port struct {
	N   uint16
	Set bool
}

// PortOf is the port n, given.
func PortOf(n uint16) Port { return Port{N: n, Set: true} }

// Matches reports whether port n passes: p is not given, or is n.
func (p Port) Matches(n uint16) bool { return !p.Set || p.N == n }

// WithoutZone is t without its directional zone: expectation dumps carry
// masters without zones, so tuples are compared this way.
func (t Tuple) WithoutZone() Tuple {
	t.Zone, t.HasZone = 0, false
	return t
}
