package ctnetlink

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

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
