package expect

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
)

// ParseMask reads a mask for the expected tuple t from command-line text,
// in either form:
//
//	SRC DST [SPORT DPORT]          255.255.255.0 255.255.255.255 0 65535
//	src=A [dst=B] [sport=N] [dport=N]   keys left out match exactly
//
// so "src=0.0.0.0 sport=0" accepts any source address and port.
func ParseMask(s string, t ctnetlink.Tuple) (ctnetlink.Tuple, error) {
	m := ExactMask(t)
	words := strings.Fields(s)
	if len(words) == 0 {
		return m, fmt.Errorf("empty mask: give SRC DST [SPORT DPORT] or src=A sport=N")
	}
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
				m.Src, err = ctnetlink.ParseAddr(v)
			case "dst":
				m.Dst, err = ctnetlink.ParseAddr(v)
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
				return m, fmt.Errorf("mask: %w", err)
			}
		}
	} else {
		if len(words) != 2 && len(words) != 4 {
			return m, fmt.Errorf("mask %q: want SRC DST [SPORT DPORT]", s)
		}
		var err error
		if m.Src, err = ctnetlink.ParseAddr(words[0]); err != nil {
			return m, fmt.Errorf("mask: %w", err)
		}
		if m.Dst, err = ctnetlink.ParseAddr(words[1]); err != nil {
			return m, fmt.Errorf("mask: %w", err)
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
