// Package ascii holds the allocation-free text scanning the protocol
// parsers share: decimal numbers, dotted-quad and IPv6 addresses, and
// case-insensitive prefix search in byte slices.
package ascii

import (
	"net/netip"
	"unsafe"
)

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
// of b, without allocating.
func Addr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 45 {
		return netip.Addr{}, false
	}
	for _, c := range b {
		if c == '%' {
			return netip.Addr{}, false
		}
	}
	// ParseAddr neither keeps nor changes the string: a view of b does.
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
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
