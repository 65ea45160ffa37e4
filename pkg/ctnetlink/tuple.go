package ctnetlink

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

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

// AppendText appends the tuple as conntrack(8) prints it, each field
// followed by a blank: "src=A dst=B sport=P dport=Q ".
func (t *Tuple) AppendText(b []byte) []byte {
	b = append(b, "src="...)
	b = t.Src.AppendTo(b)
	b = append(b, " dst="...)
	b = t.Dst.AppendTo(b)
	b = append(b, ' ')
	return AppendL4Text(b, t, t.Proto)
}

// AppendL4Text appends the layer-4 fields of t as libnetfilter_conntrack
// prints them for protocol p, each followed by a blank: ports, GRE keys, or
// ICMP type, code and id. (An expectation's mask is printed with the
// expected tuple's protocol, hence p.)
func AppendL4Text(b []byte, t *Tuple, p uint8) []byte {
	switch Layer4Of(p) {
	case Ports:
		b = append(b, "sport="...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, " dport="...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
		b = append(b, ' ')
	case GREKeys:
		b = append(b, "srckey=0x"...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 16)
		b = append(b, " dstkey=0x"...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 16)
		b = append(b, ' ')
	case ICMPFields:
		b = append(b, "type="...)
		b = strconv.AppendUint(b, uint64(t.ICMPType), 10)
		b = append(b, " code="...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode), 10)
		b = append(b, " id="...)
		b = strconv.AppendUint(b, uint64(t.ICMPID), 10)
		b = append(b, ' ')
	}
	return b
}

func (t Tuple) String() string {
	b := t.AppendText(nil)
	return ctnl.ProtoName(t.Proto) + " " + string(b[:len(b)-1])
}

// ParseTuple reads a tuple from command-line words, in either form:
//
//	PROTO SRC DST [SPORT DPORT]                    tcp 10.0.0.1 10.0.0.2 40000 21
//	proto=P src=A dst=B [sport=N dport=N]          as conntrack prints it
//
// ICMP takes type=T code=C id=I in the key form, or TYPE CODE ID as words.
func ParseTuple(words []string) (Tuple, error) {
	var t Tuple
	if len(words) == 1 {
		words = strings.Fields(words[0])
	}
	if len(words) == 0 {
		return t, fmt.Errorf("empty tuple: give PROTO SRC DST [SPORT DPORT]")
	}
	if strings.Contains(words[0], "=") {
		return parseKeyTuple(words)
	}
	p, err := ctnl.ParseProto(words[0])
	if err != nil {
		return t, err
	}
	t.Proto = p
	if len(words) < 3 {
		return t, fmt.Errorf("tuple %q: want PROTO SRC DST [SPORT DPORT]", strings.Join(words, " "))
	}
	if t.Src, err = ParseAddr(words[1]); err != nil {
		return t, err
	}
	if t.Dst, err = ParseAddr(words[2]); err != nil {
		return t, err
	}
	if t.Src.Is4() != t.Dst.Is4() {
		return t, fmt.Errorf("tuple %q mixes IPv4 and IPv6 addresses", strings.Join(words, " "))
	}
	rest := words[3:]
	switch Layer4Of(p) {
	case ICMPFields:
		if len(rest) != 0 && len(rest) != 3 {
			return t, fmt.Errorf("icmp tuple: want TYPE CODE ID after the addresses")
		}
		if len(rest) == 3 {
			ty, err1 := parseUint(rest[0], 8, "icmp type")
			co, err2 := parseUint(rest[1], 8, "icmp code")
			id, err3 := parseUint(rest[2], 16, "icmp id")
			if err := firstErr(err1, err2, err3); err != nil {
				return t, err
			}
			t.ICMPType, t.ICMPCode, t.ICMPID = uint8(ty), uint8(co), uint16(id)
		}
	case Ports:
		if len(rest) != 2 {
			return t, fmt.Errorf("%s tuple %q: want PROTO SRC DST SPORT DPORT", ctnl.ProtoName(p), strings.Join(words, " "))
		}
		sp, err1 := ParsePort(rest[0])
		dp, err2 := ParsePort(rest[1])
		if err := firstErr(err1, err2); err != nil {
			return t, err
		}
		t.SrcPort, t.DstPort = sp, dp
	default:
		if len(rest) != 0 {
			return t, fmt.Errorf("protocol %s has no ports", ctnl.ProtoName(p))
		}
	}
	return t, nil
}

func parseKeyTuple(words []string) (Tuple, error) {
	var (
		t    Tuple
		seen = map[string]bool{}
	)
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return t, fmt.Errorf("tuple word %q: want key=value (proto, src, dst, sport, dport, type, code, id)", w)
		}
		if seen[k] {
			return t, fmt.Errorf("tuple key %q given twice", k)
		}
		seen[k] = true
		var err error
		var n uint64
		switch k {
		case "proto":
			t.Proto, err = ctnl.ParseProto(v)
		case "src":
			t.Src, err = ParseAddr(v)
		case "dst":
			t.Dst, err = ParseAddr(v)
		case "sport":
			t.SrcPort, err = ParsePort(v)
		case "dport":
			t.DstPort, err = ParsePort(v)
		case "type":
			n, err = parseUint(v, 8, "icmp type")
			t.ICMPType = uint8(n)
		case "code":
			n, err = parseUint(v, 8, "icmp code")
			t.ICMPCode = uint8(n)
		case "id":
			n, err = parseUint(v, 16, "icmp id")
			t.ICMPID = uint16(n)
		default:
			return t, fmt.Errorf("unknown tuple key %q (want proto, src, dst, sport, dport, type, code, id)", k)
		}
		if err != nil {
			return t, err
		}
	}
	for _, k := range []string{"proto", "src", "dst"} {
		if !seen[k] {
			return t, fmt.Errorf("tuple lacks %s=", k)
		}
	}
	if Layer4Of(t.Proto) == Ports && (!seen["sport"] || !seen["dport"]) {
		return t, fmt.Errorf("%s tuple lacks sport= or dport=", ctnl.ProtoName(t.Proto))
	}
	if t.Src.Is4() != t.Dst.Is4() {
		return t, fmt.Errorf("tuple mixes IPv4 and IPv6 addresses")
	}
	return t, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func parseUint(s string, bits int, what string) (uint64, error) {
	n, err := strconv.ParseUint(s, 0, bits)
	if err != nil {
		return 0, fmt.Errorf("bad %s %q: want a number below %d", what, s, uint64(1)<<bits)
	}
	return n, nil
}

// ParsePort reads a port number 0..65535 (decimal or 0x hex).
func ParsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q: want a number from 0 to 65535", s)
	}
	return uint16(n), nil
}

// ParseAddr reads an IPv4 or IPv6 address.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("bad address %q: want an IPv4 or IPv6 address", s)
	}
	return a.Unmap(), nil
}
