package ftp

import (
	"bytes"
	"net/netip"
	"strconv"
	"unsafe"
)

// announce is what one line announces: address (invalid for EPSV) and
// port, and where in the line the text that names them is (off, len) so
// NAT can replace it.
type announce struct {
	addr     netip.Addr
	port     uint16
	off, len int
	delim    byte // EPRT/EPSV field delimiter
}

// parseRFC959 reads "h1,h2,h3,h4,p1,p2" from line[at:]. For PORT it must
// come first (after the spaces); for a 227 reply it is the first run of
// digits in the text (RFC 1123 4.1.2.6: clients scan for it, with or
// without parentheses). It must end the line or be followed by a
// character that is not a digit or comma.
func parseRFC959(line []byte, at int, scan bool) (announce, bool) {
	i := at
	if scan {
		for i < len(line) && !isDigit(line[i]) {
			i++
		}
	}
	var a announce
	a.off = i
	var n [6]uint32
	for f := 0; f < 6; f++ {
		digits := 0
		for i < len(line) && isDigit(line[i]) {
			n[f] = n[f]*10 + uint32(line[i]-'0')
			i++
			digits++
			if digits > 3 {
				return a, false
			}
		}
		if digits == 0 || n[f] > 255 {
			return a, false
		}
		if f < 5 {
			if i >= len(line) || line[i] != ',' {
				return a, false
			}
			i++
		}
	}
	// What follows: end of line, CR, or (227) ')' or '.' or text.
	if i < len(line) && !scan && line[i] != '\r' && line[i] != ' ' {
		return a, false
	}
	a.len = i - a.off
	a.addr = netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	a.port = uint16(n[4]<<8 | n[5])
	return a, true
}

// parseEPRT reads "<d>1<d>addr<d>port<d>" (RFC 2428) from line[at:].
func parseEPRT(line []byte, at int) (announce, bool) {
	a := announce{off: at}
	if len(line)-at < 7 {
		return a, false
	}
	d := line[at]
	if !validDelim(d) || line[at+2] != d || (line[at+1] != '1' && line[at+1] != '2') {
		return a, false
	}
	fam := line[at+1]
	i := at + 3
	end := indexByte(line[i:], d)
	if end <= 0 || end > 45 {
		return a, false
	}
	text := line[i : i+end]
	for _, c := range text {
		// Only address characters: no zone, no spaces.
		if !isDigit(c) && c != '.' && c != ':' && !('a' <= c && c <= 'f') && !('A' <= c && c <= 'F') {
			return a, false
		}
	}
	// The string does not outlive the call: ParseAddr keeps nothing of
	// it for an address without a zone.
	addr, err := netip.ParseAddr(unsafe.String(&text[0], len(text)))
	if err != nil || (fam == '1') != addr.Is4() {
		return a, false
	}
	i += end + 1
	port, j, ok := parsePort(line, i)
	if !ok || j >= len(line) || line[j] != d {
		return a, false
	}
	a.addr, a.port, a.delim = addr, port, d
	a.len = j + 1 - a.off
	return a, true
}

// parseEPSV reads "(<d><d><d>port<d>)" from a 229 reply's text.
func parseEPSV(line []byte, at int) (announce, bool) {
	a := announce{}
	i := indexByte(line[at:], '(')
	if i < 0 {
		return a, false
	}
	i += at + 1
	if len(line)-i < 5 {
		return a, false
	}
	d := line[i]
	if !validDelim(d) || line[i+1] != d || line[i+2] != d {
		return a, false
	}
	port, j, ok := parsePort(line, i+3)
	if !ok || j >= len(line) || line[j] != d {
		return a, false
	}
	a.port, a.delim, a.off, a.len = port, d, i, j+1-i
	return a, true
}

// parsePort reads a decimal port at line[i:] and returns it and the index
// after it.
func parsePort(line []byte, i int) (uint16, int, bool) {
	var n uint32
	start := i
	for i < len(line) && isDigit(line[i]) && i-start < 5 {
		n = n*10 + uint32(line[i]-'0')
		i++
	}
	if i == start || n > 65535 || (i < len(line) && isDigit(line[i])) {
		return 0, i, false
	}
	return uint16(n), i, true
}

// validDelim: RFC 2428 allows any printable ASCII but digits.
func validDelim(c byte) bool { return c >= 33 && c <= 126 && !isDigit(c) }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// slotSize is each rewrite's share of Result.Scratch: enough for the
// longest text, "|2|" + 39 bytes of IPv6 + "|65535|" = 49.
const slotSize = 64

// render writes the text that replaces an announcement for addr and port
// into buf (which has room for slotSize bytes, so nothing allocates).
// IPv6 addresses are written in the RFC 5952 form (fd57::1), not in full
// as the kernel's nf_nat_ftp does (fd57:0000:...:0001): servers such as
// pyftpdlib compare the EPRT address with the control connection's peer
// as text and refuse the full form.
func render(buf []byte, k kind, delim byte, addr netip.Addr, port uint16) []byte {
	switch k {
	case kindPORT, kindPASV:
		a := addr.As4()
		for _, b := range a {
			buf = strconv.AppendUint(buf, uint64(b), 10)
			buf = append(buf, ',')
		}
		buf = strconv.AppendUint(buf, uint64(port>>8), 10)
		buf = append(buf, ',')
		return strconv.AppendUint(buf, uint64(port&0xff), 10)
	case kindEPRT:
		fam := byte('1')
		if !addr.Is4() {
			fam = '2'
		}
		buf = append(buf, delim, fam, delim)
		buf = addr.AppendTo(buf)
		buf = append(buf, delim)
		buf = strconv.AppendUint(buf, uint64(port), 10)
		return append(buf, delim)
	default: // EPSV
		buf = append(buf, delim, delim, delim)
		buf = strconv.AppendUint(buf, uint64(port), 10)
		return append(buf, delim)
	}
}
