// Package tns is the Oracle TNS (SQL*Net, TCP 1521) helper: a listener
// may answer a client's CONNECT with a REDIRECT to another address and
// port (a dispatcher or another node), which the client then connects to.
//
// In the server's direction, a REDIRECT (type 5) packet carries its
// connect data behind a 2-byte length; when that length is 0 the data
// comes in the very next DATA (type 6) packet instead, which the helper
// then reads (one byte of private data remembers that). In that text it
// finds (HOST=address) and (PORT=n) (keys in any case and order; an IPv4
// or IPv6 literal: host names cannot be resolved here) and expects a TCP
// connection from the client to that address and port.
//
// A redirect to a host other than the server itself (a third party) is
// refused unless the option loose=yes is given, as the client could
// otherwise be steered through the firewall to any host. Where the master
// is destination-NATed and the redirect names the real server, the
// address in the payload is rewritten to the one the client reaches (IPv4
// and IPv6), the TNS length fields are fixed and its checksums zeroed (0
// means "not used"), and the expected connection follows the master's
// translation.
//
// Options:
//
//	loose=yes|no   accept redirects to third-party hosts (default no)
package tns

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/ascii"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// PrivLen is the private data per conntrack: byte 0 is 1 when the next
// DATA packet from the server carries a redirect's connect data, else 0
// (conntrackd's bool tns_info.parse).
const PrivLen = 1

const (
	typeRedirect = 5
	typeData     = 6
	headerLen    = 8
	redirectHdr  = headerLen + 2 // header and connect data length
)

var (
	errTruncated = errors.New("tns: redirect data longer than the packet")
	errNoAddress = errors.New("tns: redirect without a (HOST=address)(PORT=n) pair")
	errThirdHost = errors.New("tns: redirect to a host other than the server (give the helper loose=yes to allow)")
	errTooLong   = errors.New("tns: rewritten redirect would exceed the 64 KiB TNS length")
	errPriv      = errors.New("tns: no private data (helper made with priv len 0)")
)

// Parser is the tns helper.
type Parser struct {
	loose bool
}

// New reads the option loose and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check("tns", opts, "loose"); err != nil {
		return nil, err
	}
	loose, err := options.Bool("tns", opts, "loose", false)
	if err != nil {
		return nil, err
	}
	return &Parser{loose: loose}, nil
}

// Parse implements cthelper.Parser.
func (t *Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if len(p.Priv) < PrivLen {
		return errPriv
	}
	if p.Dir != cthelper.Reply || p.Info != cthelper.EstablishedReply || len(p.Payload) < headerLen {
		return nil
	}
	b := p.Payload
	pending := p.Priv[0] == 1
	setPending := func(v bool) {
		if pending != v {
			p.Priv[0] = 0
			if v {
				p.Priv[0] = 1
			}
			r.PrivChanged = true
		}
	}
	var text []byte
	var textOff int
	switch b[4] {
	case typeRedirect:
		setPending(false)
		if len(b) < redirectHdr {
			return errTruncated
		}
		n := int(binary.BigEndian.Uint16(b[headerLen:]))
		if n == 0 {
			setPending(true)
			return nil
		}
		if redirectHdr+n > len(b) {
			return errTruncated
		}
		text, textOff = b[redirectHdr:redirectHdr+n], redirectHdr
	case typeData:
		if !pending {
			return nil
		}
		setPending(false)
		text, textOff = b[headerLen:], headerLen
	default:
		setPending(false)
		return nil
	}
	host, hostOff, hostLen, port, ok := findAddress(text)
	if !ok {
		return errNoAddress
	}
	if host.Is4() != (p.Family == unix.AF_INET) {
		return errNoAddress
	}
	server := host == p.Reply.Src || host == p.Orig.Dst
	if !server && !t.loose {
		return errThirdHost
	}
	e := cthelper.Expect{
		Proto:      unix.IPPROTO_TCP,
		Src:        p.Orig.Src,
		Dst:        host,
		AnySrcPort: true,
		DstPort:    port,
	}
	snat, dnat := p.NATed()
	if server && (snat || dnat) {
		e.Dst = p.Orig.Dst
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Original, p.Reply.Src, port
		if dnat && host != p.Orig.Dst && !rewrite(p, r, b[4] == typeRedirect, textOff+hostOff, hostLen) {
			return errTooLong
		}
	}
	r.AddExpect(e)
	return nil
}

// rewrite replaces the HOST value at off (n bytes) with the address the
// client reaches, fixing the TNS header (and a REDIRECT's data length).
// The header rewrite comes first and keeps its length, so the offsets of
// both rewrites hold whether they are applied in turn or at once.
func rewrite(p *cthelper.Packet, r *cthelper.Result, redirect bool, off, n int) bool {
	text := p.Orig.Dst.AppendTo(r.Scratch[:0])
	delta := len(text) - n
	hdr := headerLen
	if redirect {
		hdr = redirectHdr
	}
	if int(binary.BigEndian.Uint16(p.Payload))+delta > 0xffff ||
		redirect && int(binary.BigEndian.Uint16(p.Payload[headerLen:]))+delta > 0xffff {
		return false
	}
	h := r.Scratch[len(text) : len(text)+hdr]
	copy(h, p.Payload[:hdr])
	binary.BigEndian.PutUint16(h[0:], uint16(int(binary.BigEndian.Uint16(h[0:]))+delta))
	binary.BigEndian.PutUint16(h[2:], 0) // packet checksum
	binary.BigEndian.PutUint16(h[6:], 0) // header checksum
	if redirect {
		binary.BigEndian.PutUint16(h[8:], uint16(int(binary.BigEndian.Uint16(h[8:]))+delta))
	}
	r.AddRewrite(cthelper.Rewrite{Off: 0, Len: hdr, Data: h})
	r.AddRewrite(cthelper.Rewrite{Off: off, Len: n, Data: text})
	return true
}

// findAddress finds (HOST=addr) and (PORT=n) in a connect descriptor; it
// returns the address, the offset and length of its text, and the port.
func findAddress(text []byte) (host netip.Addr, off, n int, port uint16, ok bool) {
	h := ascii.IndexFold(text, "(host=")
	pi := ascii.IndexFold(text, "(port=")
	if h < 0 || pi < 0 {
		return host, 0, 0, 0, false
	}
	off = h + len("(host=")
	val, end := value(text[off:])
	if end < 0 {
		return host, 0, 0, 0, false
	}
	if host, ok = ascii.Addr(val); !ok {
		return host, 0, 0, 0, false
	}
	pv, pend := value(text[pi+len("(port="):])
	if pend < 0 {
		return host, 0, 0, 0, false
	}
	if port, ok = ascii.Port(pv); !ok {
		return host, 0, 0, 0, false
	}
	// Report the value without surrounding spaces.
	lead := 0
	for text[off+lead] == ' ' {
		lead++
	}
	return host, off + lead, len(val), port, true
}

// value returns the text up to the closing parenthesis, trimmed, and the
// parenthesis' index (-1 if there is none).
func value(b []byte) ([]byte, int) {
	for i, c := range b {
		if c == ')' {
			return ascii.TrimSpace(b[:i]), i
		}
		if c == '(' {
			return nil, -1
		}
	}
	return nil, -1
}
