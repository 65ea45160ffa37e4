// Package ascii holds the allocation-free text scanning the protocol
// parsers share: decimal numbers, dotted-quad and IPv6 addresses, and
// case-insensitive prefix search in byte slices.
package ascii

import "net/netip"

// Uint parses the leading decimal digits of b, at most max. It returns the
// value and how many bytes it used; n is 0 when b does not start with a
// digit or the value exceeds max.
func Uint(b []byte, max uint64) (v uint64, n int) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + uint64(b[n]-'0')
		if v > max {
			return 0, 0
		}
		n++
		if n > 20 {
			return 0, 0
		}
	}
	return v, n
}

// Port parses a decimal port number (1..65535) that makes up all of b.
func Port(b []byte) (uint16, bool) {
	v, n := Uint(b, 65535)
	if n == 0 || n != len(b) || v == 0 {
		return 0, false
	}
	return uint16(v), true
}

// Addr parses a textual IPv4 or IPv6 address (no zone) that makes up all
// of b. It does not allocate: netip.ParseAddr would make b's bytes escape.
func Addr(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		if c == ':' {
			return addr6(b)
		}
	}
	v4, ok := addr4(b)
	if !ok {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(v4), true
}

// addr4 parses a dotted quad without leading zeros.
func addr4(b []byte) ([4]byte, bool) {
	var out [4]byte
	for i := 0; i < 4; i++ {
		if i > 0 {
			if len(b) == 0 || b[0] != '.' {
				return out, false
			}
			b = b[1:]
		}
		v, n := Uint(b, 255)
		if n == 0 || n > 1 && b[0] == '0' {
			return out, false
		}
		out[i] = byte(v)
		b = b[n:]
	}
	return out, len(b) == 0
}

func hexVal(c byte) (uint16, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint16(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint16(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint16(c-'A') + 10, true
	}
	return 0, false
}

// addr6 parses RFC 4291 text: eight groups, one "::", an optional dotted
// quad in the last 32 bits.
func addr6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // byte index of the "::"
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		b = b[2:]
		if len(b) == 0 {
			return netip.AddrFrom16(ip), true
		}
	}
	for i < 16 {
		// A dotted quad ends the address.
		dot := false
		for j := 0; j < len(b) && b[j] != ':'; j++ {
			if b[j] == '.' {
				dot = true
				break
			}
		}
		if dot {
			if i > 12 {
				return netip.Addr{}, false
			}
			v4, ok := addr4(b)
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[i:], v4[:])
			i += 4
			b = nil
			break
		}
		var v uint16
		n := 0
		for n < len(b) && n < 5 {
			h, ok := hexVal(b[n])
			if !ok {
				break
			}
			v = v<<4 | h
			n++
		}
		if n == 0 || n > 4 {
			return netip.Addr{}, false
		}
		ip[i], ip[i+1] = byte(v>>8), byte(v)
		i += 2
		b = b[n:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return netip.Addr{}, false
		}
		b = b[1:]
		if b[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			b = b[1:]
			if len(b) == 0 {
				break
			}
		}
	}
	if len(b) != 0 {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// HasPrefixFold reports whether b starts with prefix, ignoring ASCII case
// (prefix given in lower case).
func HasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lower(b[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// IndexFold finds needle (lower case) in b, ignoring ASCII case; -1 if absent.
func IndexFold(b []byte, needle string) int {
	for i := 0; i+len(needle) <= len(b); i++ {
		if HasPrefixFold(b[i:], needle) {
			return i
		}
	}
	return -1
}

// Line returns b up to (not including) the first CR or LF, and the rest
// after that line's end.
func Line(b []byte) (line, rest []byte) {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			j := i + 1
			if c == '\r' && j < len(b) && b[j] == '\n' {
				j++
			}
			return b[:i], b[j:]
		}
	}
	return b, nil
}

// TrimSpace strips leading and trailing spaces and tabs.
func TrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// AppendUint appends v in decimal.
func AppendUint(dst []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}
