// Package ftp is the FTP conntrack helper: a pure parser over the control
// channel that asks for the data connections PORT, EPRT, PASV (227) and
// EPSV (229) announce, and rewrites them when the control connection is
// NATed.
//
// It follows the kernel's nf_conntrack_ftp where that matters to a
// firewall: commands are looked for in the original direction (client to
// server) and replies in the reply direction; a line is parsed only when it
// starts at a line start, known from the sequence number after the last
// newline in each direction, kept in the conntrack's private data (24
// bytes, laid out as the kernel's and conntrack-tools' struct, so a
// connection can move between them); an announced address other than the
// sender's own creates no expectation unless "loose" is set.
//
// Where it differs on purpose:
//   - Every line of a segment is looked at, not only the first (a line
//     after a newline in the same segment is a line start too).
//   - A malformed PORT/EPRT/227/229 line gives an error (the engine accepts
//     the packet un-helped); the kernel drops it.
//   - Data ports below 1024 are refused unless "low-ports" is set.
//   - 227 replies without parentheses (RFC 1123: look for the first digit)
//     are understood.
//
// A line cut by the end of the segment that may be one of the four
// commands is dropped, as the kernel does, so that the sender retransmits
// it whole (Linux merges the queued bytes into the retransmission).
package ftp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// Errors, for errors.Is: ErrMalformed for a command or reply that cannot
// be read, ErrRefused for one read but not allowed (bounce, low port,
// wrong family).
var (
	ErrMalformed = errors.New("malformed")
	ErrRefused   = errors.New("refused")
)

// Options: "loose yes" accepts an announced address other than the
// sender's own (FTP bounce; needed for some multi-homed servers);
// "low-ports yes" accepts data ports below 1024.
const (
	OptionLoose    = "loose"
	OptionLowPorts = "low-ports"
)

// Parser is the FTP helper with its options. It holds no per-connection
// state: that lives in the packet's private data.
type Parser struct {
	Loose    bool
	LowPorts bool
}

// New builds the parser from its options.
func New(o cthelper.Options) (cthelper.Parser, error) {
	p := &Parser{}
	for k, v := range o {
		var dst *bool
		switch k {
		case OptionLoose:
			dst = &p.Loose
		case OptionLowPorts:
			dst = &p.LowPorts
		default:
			return nil, fmt.Errorf("unknown option %q: ftp has %s and %s", k, OptionLoose, OptionLowPorts)
		}
		b, err := parseBool(v)
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", k, err)
		}
		*dst = b
	}
	return p, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "on", "true", "1":
		return true, nil
	case "no", "off", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", s)
}

// kind is what a line announces.
type kind uint8

const (
	kindPORT kind = iota + 1
	kindEPRT
	kindPASV // 227
	kindEPSV // 229
)

func (k kind) String() string {
	switch k {
	case kindPORT:
		return "PORT"
	case kindEPRT:
		return "EPRT"
	case kindPASV:
		return "227"
	}
	return "229"
}

// Parse reads one control-channel segment. It updates p.Priv (line
// tracking) and sets r.PrivChanged also when it returns an error: the
// engine should save the private data in either case, or the next line
// will not be known to start a line.
func (h *Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Proto != unix.IPPROTO_TCP || (p.Info != cthelper.Established && p.Info != cthelper.EstablishedReply) {
		return nil
	}
	data := p.Payload
	if len(data) == 0 {
		return nil
	}
	st, ok := loadState(p.Priv)
	if !ok {
		return fmt.Errorf("ftp: private data is %d bytes, want %d: make the helper object with the ftp defaults", len(p.Priv), PrivLen)
	}
	dir := p.Dir & 1

	// Where the first whole line starts: at the segment start if it is
	// known to follow a newline, or if nothing is known yet in this
	// direction (a conntrack another firewall committed, or restored,
	// without private data: its first segment is taken as a line start,
	// as the kernel's helper does with its pick-up flag); else after the
	// segment's first newline.
	start := 0
	if !st.pickUp(uint8(dir)) && !st.atLineStart(uint8(dir), p.Seq) {
		nl := indexNL(data)
		if nl < 0 {
			return nil
		}
		start = nl + 1
	}

	var firstErr error
	for off := start; off < len(data); {
		nl := indexNL(data[off:])
		if nl < 0 {
			if mayStartCommand(data[off:], dir) {
				// Cut by the segment end: have it sent again whole.
				r.Verdict = cthelper.Drop
				r.NExpects, r.NRewrites = 0, 0
				return nil
			}
			break
		}
		line := data[off : off+nl]
		if err := h.line(p, r, dir, line, off); err != nil && firstErr == nil {
			firstErr = err
		}
		off += nl + 1
	}
	changed := st.flags[dir]&seqPickUp != 0
	st.flags[dir] &^= seqPickUp
	if data[len(data)-1] == '\n' && st.recordLineStart(uint8(dir), p.Seq+uint32(len(data))) {
		changed = true
	}
	if changed {
		st.store(p.Priv)
		r.PrivChanged = true
	}
	return firstErr
}

func indexNL(b []byte) int { return bytes.IndexByte(b, '\n') }

// mayStartCommand reports whether a line cut short could be one the
// parser reads: a prefix of the keyword, or the keyword and more.
func mayStartCommand(frag []byte, dir cthelper.Direction) bool {
	if dir == cthelper.Original {
		return hasPrefixFold(frag, "PORT") || hasPrefixFold(frag, "EPRT")
	}
	return hasPrefixFold(frag, "227 ") || hasPrefixFold(frag, "229 ")
}

// hasPrefixFold: frag starts with kw, or is the start of kw, ignoring
// ASCII case.
func hasPrefixFold(frag []byte, kw string) bool {
	n := min(len(frag), len(kw))
	for i := 0; i < n; i++ {
		if upper(frag[i]) != kw[i] {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// line handles one line without its '\n'; off is its payload offset.
func (h *Parser) line(p *cthelper.Packet, r *cthelper.Result, dir cthelper.Direction, line []byte, off int) error {
	var k kind
	var argOff int
	if dir == cthelper.Original {
		switch {
		case len(line) > 4 && hasPrefixFold(line, "PORT") && line[4] == ' ':
			k = kindPORT
		case len(line) > 4 && hasPrefixFold(line, "EPRT") && line[4] == ' ':
			k = kindEPRT
		default:
			return nil
		}
		argOff = 5
		for argOff < len(line) && line[argOff] == ' ' {
			argOff++
		}
	} else {
		switch {
		case len(line) >= 4 && string(line[:4]) == "227 ":
			k = kindPASV
		case len(line) >= 4 && string(line[:4]) == "229 ":
			k = kindEPSV
		default:
			return nil
		}
		argOff = 4
	}

	var a announce
	var ok bool
	switch k {
	case kindPORT:
		a, ok = parseRFC959(line, argOff, false)
	case kindPASV:
		a, ok = parseRFC959(line, argOff, true)
	case kindEPRT:
		a, ok = parseEPRT(line, argOff)
	case kindEPSV:
		a, ok = parseEPSV(line, argOff)
	}
	if !ok {
		return malformed(k, line)
	}
	return h.expect(p, r, dir, k, a, off)
}

func malformed(k kind, line []byte) error {
	if len(line) > 64 {
		line = line[:64]
	}
	return fmt.Errorf("ftp: %w %s line %q", ErrMalformed, k, strings.TrimRight(string(line), "\r"))
}

// expect turns an announced address and port into an expectation, and a
// payload rewrite when the connection is NATed.
func (h *Parser) expect(p *cthelper.Packet, r *cthelper.Result, dir cthelper.Direction, k kind, a announce, off int) error {
	// The sender's own address and its peer's, as the conntrack sees
	// them before NAT (the kernel's tuplehash[dir].src and [!dir].src).
	sender, peer := p.Orig.Src, p.Reply.Src
	natDst := p.Reply.Dst // where the peer sends to reach the sender
	if dir == cthelper.Reply {
		sender, peer, natDst = p.Reply.Src, p.Orig.Src, p.Orig.Dst
	}
	sender, peer, natDst = sender.Unmap(), peer.Unmap(), natDst.Unmap()

	if a.port == 0 {
		return fmt.Errorf("ftp: %w %s: port 0", ErrMalformed, k)
	}
	addr := sender
	if k != kindEPSV {
		if a.addr.Is4() != sender.Is4() {
			return fmt.Errorf("ftp: %w %s: announces %s on an %s connection", ErrRefused, k, a.addr, familyWord(sender))
		}
		if a.addr != sender {
			if !h.Loose {
				return fmt.Errorf("ftp: %w %s: announces %s, not the sender's own %s (Option loose yes allows it)", ErrRefused, k, a.addr, sender)
			}
			addr = a.addr
		}
	}
	if a.port < 1024 && !h.LowPorts {
		return fmt.Errorf("ftp: %w %s: data port %d is below 1024 (Option low-ports yes allows it)", ErrRefused, k, a.port)
	}

	e := cthelper.Expect{
		Class:      0,
		Proto:      unix.IPPROTO_TCP,
		Src:        peer,
		AnySrcPort: true,
		Dst:        addr,
		DstPort:    a.port,
	}
	snat, dnat := p.NATed()
	if snat || dnat {
		// The peer connects to the sender's translated address; the
		// kernel's nat-follow-master maps the new connection back to what
		// was announced.
		e.NAT = true
		e.NATDir = 1 - dir
		e.NATAddr, e.NATPort = addr, a.port
		e.Dst = natDst
	}
	if r.NExpects == len(r.Expects) || (e.NAT && r.NRewrites == len(r.Rewrites)) {
		return nil
	}
	if e.NAT {
		// Slots 0..NRewrites-1 hold the rewrites so far: the next is free.
		slot := r.NRewrites
		w := cthelper.Rewrite{Off: off + a.off, Len: a.len}
		w.Data = render(r.Scratch[slot*slotSize:slot*slotSize:(slot+1)*slotSize], k, a.delim, e.Dst, e.DstPort)
		r.AddAnnounced(e, w)
		return nil
	}
	r.AddExpect(e)
	return nil
}

func familyWord(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// RenumberPort moves NATed expectation i to another port: it sets
// r.Expects[i].DstPort and re-renders the rewrite that announces it (the
// one its Announce links), so the peer is told the new port. It does not
// allocate.
//
// What the engine must do on a port clash (nf_nat_ftp does the same in the
// kernel): when creating r.Expects[i] with NAT set fails with EBUSY (the
// translated tuple is taken by another expectation), call RenumberPort(r,
// i, port+1) and try again, up to port 65535; if none is free, drop the
// packet (the client will retry) and do not send any rewrite.
func (h *Parser) RenumberPort(r *cthelper.Result, i int, port uint16) error {
	if i < 0 || i >= r.NExpects || !r.Expects[i].NAT {
		return fmt.Errorf("ftp: expectation %d has no NAT rewrite", i)
	}
	e := &r.Expects[i]
	k, ok := e.Announcement()
	if !ok || k >= r.NRewrites {
		return fmt.Errorf("ftp: expectation %d has no NAT rewrite", i)
	}
	w := &r.Rewrites[k]
	slot := -1
	for s := range cthelper.MaxRewrites {
		if cap(w.Data) > 0 && &w.Data[:1][0] == &r.Scratch[s*slotSize] {
			slot = s
		}
	}
	if slot < 0 {
		return fmt.Errorf("ftp: expectation %d's rewrite is not the parser's", i)
	}
	kd, delim := rewriteKind(w.Data)
	e.DstPort = port
	w.Data = render(r.Scratch[slot*slotSize:slot*slotSize:(slot+1)*slotSize], kd, delim, e.Dst, port)
	return nil
}

// rewriteKind tells the form of a rendered rewrite: digits and commas for
// PORT and 227, "<d><d><d>port<d>" for 229, else EPRT.
func rewriteKind(b []byte) (kind, byte) {
	switch {
	case len(b) > 0 && isDigit(b[0]):
		return kindPORT, 0
	case len(b) > 2 && b[1] == b[0]:
		return kindEPSV, b[0]
	case len(b) > 0:
		return kindEPRT, b[0]
	}
	return kindEPSV, '|'
}
