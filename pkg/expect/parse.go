package expect

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
)

// ParseMask reads a mask for the expected tuple t from command-line text,
// in either form:
//
//	SRC DST [SPORT DPORT]          /24 /32 0 65535, or 255.255.255.0 255.255.255.255 0 65535
//	src=M [dst=M] [sport=N] [dport=N]   keys left out take DefaultMask's value
//
// An address mask is a prefix length (/24, /128) or a mask address
// (255.255.255.0); a port mask is a number (65535: exact, 0: any). So
// "src=/0 sport=0" accepts any source address and port. A mask address need
// not be a contiguous prefix (the kernel ANDs bit by bit): Contiguous tells
// the caller whether it is one.
func ParseMask(s string, t ctnetlink.Tuple) (ctnetlink.Tuple, error) {
	m := DefaultMask(t)
	words := strings.Fields(s)
	if len(words) == 0 {
		return m, fmt.Errorf("empty mask: give SRC DST [SPORT DPORT] or src=/32 sport=0")
	}
	bits := t.Src.BitLen()
	if strings.Contains(words[0], "=") {
		seen := map[string]bool{}
		for _, w := range words {
			k, v, _ := strings.Cut(w, "=")
			if seen[k] {
				return m, fmt.Errorf("mask key %q given twice", k)
			}
			seen[k] = true
			var err error
			switch k {
			case "src":
				m.Src, err = parseAddrMask(v, bits)
			case "dst":
				m.Dst, err = parseAddrMask(v, bits)
			case "sport":
				m.SrcPort, err = ctnetlink.ParsePort(v)
			case "dport":
				m.DstPort, err = ctnetlink.ParsePort(v)
			case "proto":
				// Accepted for symmetry with conntrack's output; the mask
				// always takes the tuple's protocol.
			default:
				return m, fmt.Errorf("unknown mask key %q (want src, dst, sport, dport)", k)
			}
			if err != nil {
				return m, fmt.Errorf("mask %s: %w", k, err)
			}
		}
	} else {
		if len(words) != 2 && len(words) != 4 {
			return m, fmt.Errorf("mask %q: want SRC DST [SPORT DPORT]", s)
		}
		var err error
		if m.Src, err = parseAddrMask(words[0], bits); err != nil {
			return m, fmt.Errorf("mask src: %w", err)
		}
		if m.Dst, err = parseAddrMask(words[1], bits); err != nil {
			return m, fmt.Errorf("mask dst: %w", err)
		}
		if len(words) == 4 {
			if m.SrcPort, err = ctnetlink.ParsePort(words[2]); err != nil {
				return m, fmt.Errorf("mask: %w", err)
			}
			if m.DstPort, err = ctnetlink.ParsePort(words[3]); err != nil {
				return m, fmt.Errorf("mask: %w", err)
			}
		}
	}
	if m.Src.Is4() != t.Src.Is4() || m.Dst.Is4() != t.Src.Is4() {
		return m, fmt.Errorf("mask %q and tuple are of different families", s)
	}
	return m, nil
}

// parseAddrMask reads an address mask: "/N", N from 0 to bits, or a mask
// address.
func parseAddrMask(s string, bits int) (netip.Addr, error) {
	if n, ok := strings.CutPrefix(s, "/"); ok {
		l, err := strconv.ParseUint(n, 10, 8)
		if err != nil || int(l) > bits {
			return netip.Addr{}, fmt.Errorf("bad prefix length %q: want /0 to /%d", s, bits)
		}
		return PrefixMask(bits, int(l)), nil
	}
	return ctnetlink.ParseAddr(s)
}

// PrefixMask is the address mask of a prefix of length ones in an address
// of bits bits (32 or 128).
func PrefixMask(bits, ones int) netip.Addr {
	var b [16]byte
	for i := 0; i < ones; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	if bits == 32 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// Contiguous reports whether an address mask is a prefix: ones, then zeros
// only. An address typed where a mask belongs (src=10.0.0.2) is not one.
func Contiguous(m netip.Addr) bool {
	b := m.AsSlice()
	zero := false
	for _, c := range b {
		if zero && c != 0 {
			return false
		}
		if c != 0xff {
			// Within the byte: ones then zeros means ^c+1 is a power of two.
			if inv := ^c; inv&(inv+1) != 0 {
				return false
			}
			zero = true
		}
	}
	return true
}

// ParseNATTuple reads the NAT target of an expectation: "ADDR [PORT]" or
// "src=ADDR [sport=PORT]". The kernel keeps the source address and port.
func ParseNATTuple(s string, t ctnetlink.Tuple) (ctnetlink.Tuple, error) {
	n := ctnetlink.Tuple{Proto: t.Proto}
	words := strings.Fields(s)
	if len(words) == 0 || len(words) > 2 {
		return n, fmt.Errorf("NAT tuple %q: want ADDR [PORT] or src=ADDR [sport=PORT]", s)
	}
	for i, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			k, v = [2]string{"src", "sport"}[i], w
		}
		var err error
		switch k {
		case "src":
			n.Src, err = ctnetlink.ParseAddr(v)
		case "sport":
			n.SrcPort, err = ctnetlink.ParsePort(v)
		default:
			return n, fmt.Errorf("unknown NAT tuple key %q (want src, sport)", k)
		}
		if err != nil {
			return n, fmt.Errorf("NAT tuple: %w", err)
		}
	}
	if !n.Src.IsValid() {
		return n, fmt.Errorf("NAT tuple %q lacks the address", s)
	}
	if n.Src.Is4() != t.Src.Is4() {
		return n, fmt.Errorf("NAT address %s and the tuple are of different families", n.Src)
	}
	// ctnetlink parses it as a whole tuple: give it a destination.
	if n.Src.Is4() {
		n.Dst, _ = ctnetlink.ParseAddr("0.0.0.0")
	} else {
		n.Dst, _ = ctnetlink.ParseAddr("::")
	}
	return n, nil
}

// ParseNATDir reads a NAT direction: original (0) or reply (1).
func ParseNATDir(s string) (uint32, error) {
	switch strings.ToLower(s) {
	case "original", "orig", "0":
		return 0, nil
	case "reply", "1":
		return 1, nil
	}
	return 0, fmt.Errorf("unknown NAT direction %q: want original or reply", s)
}

// NATDirName is the word for a NAT direction.
func NATDirName(d uint32) string {
	switch d {
	case 0:
		return "original"
	case 1:
		return "reply"
	}
	return strconv.FormatUint(uint64(d), 10)
}
