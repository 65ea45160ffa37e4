// Package pattern is the helper an admin describes instead of writing
// one: regular expressions over a text protocol's payload whose named
// groups announce the port (and address) of a connection to expect, as
// in "MATCH 40123", "DATA 10.0.0.2 40001" or "PORT=5001".
//
// Each Rule is one pattern, RE2 syntax (Go's regexp/syntax), matched
// against each line of the payload (without its "\n" or "\r\n") or, with
// Whole, against the whole payload. Its groups:
//
//   - port: the port, decimal; or port_hi and port_lo, its two bytes in
//     decimal (FTP's "h1,h2,h3,h4,p1,p2");
//   - addr, optional: the address, IPv4 (dotted, or with commas as FTP
//     writes it) or IPv6 text. Without it the announcing side means its
//     own address.
//
// The expected connection goes from the other side of the master to the
// address and port, from any source port, over Rule.Expect (default: the
// master's protocol). The first rule (in order) that matches a line
// announces; one match per line (per payload with Whole).
//
// Safety, as the built-in parsers: an announced address other than the
// sender's own creates nothing unless the option loose is set; ports
// below 1024 are refused unless low-ports is set; matching takes time
// linear in the payload whatever the pattern. On TCP a line is read only
// where one is known to start (the stream's first byte, or after a
// newline, tracked per direction in the private data), so text the other
// side makes a peer echo in the middle of a line announces nothing; a line
// cut by the end of a segment is not read.
//
// Under NAT the announced address and port text are rewritten to what
// the other side can reach (the kernel adjusts TCP sequence numbers when
// the length changes) and the expectation follows the master's NAT, as the
// ftp helper does; the parser implements cthelper.PortRenumberer so that
// a port another connection holds moves to the next one.
//
// Matching allocates nothing per packet once the patterns are compiled:
// the matcher's scratch is sized from the compiled patterns and reused.
package pattern

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// Dir says which direction's payload a rule reads.
type Dir uint8

const (
	DirBoth Dir = iota
	DirOriginal
	DirReply
)

func (d Dir) String() string { return [...]string{"both", "original", "reply"}[d] }

// ParseDir reads original, reply or both.
func ParseDir(s string) (Dir, error) {
	switch s {
	case "both":
		return DirBoth, nil
	case "original":
		return DirOriginal, nil
	case "reply":
		return DirReply, nil
	}
	return 0, fmt.Errorf("%q is not a direction: write original, reply or both", s)
}

func (d Dir) has(dir cthelper.Direction) bool {
	return d == DirBoth || (d == DirOriginal) == (dir == cthelper.Original)
}

// Rule is one pattern and where it applies.
type Rule struct {
	Expr string
	Dir  Dir
	// Expect is the expected connection's protocol, IPPROTO_TCP or
	// IPPROTO_UDP; 0 means the master's.
	Expect uint8
	// Whole matches the whole payload at once instead of line by line.
	Whole bool
}

// Options of a pattern helper, as the ftp helper names them.
const (
	OptionLoose    = "loose"
	OptionLowPorts = "low-ports"
)

// Errors, for errors.Is: ErrMalformed for an announcement that cannot be
// read, ErrRefused for one read but not allowed.
var (
	ErrMalformed = errors.New("malformed")
	ErrRefused   = errors.New("refused")
)

// Parser is a pattern helper: its compiled rules and options. It keeps no
// per-connection state (that lives in the private data) and may be used
// from several goroutines.
type Parser struct {
	name     string
	rules    []rule
	lines    bool    // some rule reads lines
	whole    bool    // some rule reads whole payloads
	reads    [2]bool // some rule reads this direction
	loose    bool
	lowPorts bool
	machines sync.Pool
}

type rule struct {
	Rule
	prog *program
}

// Compile checks one rule: the pattern's syntax and groups (a
// *SyntaxError, with where in the pattern), its direction and protocol.
func Compile(r Rule) error {
	_, err := compileRule(r)
	return err
}

func compileRule(r Rule) (rule, error) {
	if r.Dir > DirReply {
		return rule{}, fmt.Errorf("direction %d: want original, reply or both", r.Dir)
	}
	if r.Expect != 0 && r.Expect != unix.IPPROTO_TCP && r.Expect != unix.IPPROTO_UDP {
		return rule{}, fmt.Errorf("expected protocol %d: want tcp or udp", r.Expect)
	}
	p, err := compile(r.Expr)
	if err != nil {
		return rule{}, err
	}
	return rule{Rule: r, prog: p}, nil
}

// New compiles rules into the parser of helper name, with its options.
func New(name string, rules []Rule, o cthelper.Options) (*Parser, error) {
	if len(rules) == 0 {
		return nil, fmt.Errorf("helper %s: no pattern", name)
	}
	if err := options.Check(name, o, OptionLoose, OptionLowPorts); err != nil {
		return nil, err
	}
	h := &Parser{name: name}
	var err error
	if h.loose, err = options.Bool(name, o, OptionLoose, false); err != nil {
		return nil, err
	}
	if h.lowPorts, err = options.Bool(name, o, OptionLowPorts, false); err != nil {
		return nil, err
	}
	ninst := 0
	for i, r := range rules {
		cr, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("helper %s: pattern %d: %w", name, i+1, err)
		}
		h.rules = append(h.rules, cr)
		ninst = max(ninst, len(cr.prog.insts))
		h.whole = h.whole || r.Whole
		h.lines = h.lines || !r.Whole
		for _, d := range []cthelper.Direction{cthelper.Original, cthelper.Reply} {
			h.reads[d] = h.reads[d] || r.Dir.has(d)
		}
	}
	h.machines.New = func() any { return newMachine(ninst) }
	return h, nil
}

// Parse reads one packet's payload. On TCP it updates the private data
// (where lines start) and sets r.PrivChanged, also when it returns an
// error.
func (h *Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	data := p.Payload
	if len(data) == 0 || !h.reads[p.Dir&1] {
		return nil // (where lines start matters only where a rule reads)
	}
	tcp := p.Proto == unix.IPPROTO_TCP
	switch {
	case tcp && p.Info != cthelper.Established && p.Info != cthelper.EstablishedReply:
		return nil
	case !tcp && p.Proto != unix.IPPROTO_UDP:
		return nil
	}
	// The matcher's scratch is taken when a line passes a rule's literal
	// start, and given back at the end (a panic leaves it to the GC).
	var m *machine
	defer func() {
		if m != nil {
			h.machines.Put(m)
		}
	}()
	var firstErr error
	if h.whole {
		firstErr = h.unit(p, r, &m, data, 0, true)
	}
	if !h.lines {
		return firstErr
	}
	start := 0
	var st lineState
	if tcp {
		var ok bool
		if st, ok = loadLines(p.Priv); !ok {
			return fmt.Errorf("%s: private data is %d bytes, want %d: make the helper object with PrivLen %d", h.name, len(p.Priv), PrivLen, PrivLen)
		}
		if !st.atLineStart(uint8(p.Dir&1), p.Seq) {
			start = bytes.IndexByte(data, '\n') + 1 // 0 if none: no line starts here
			if start == 0 {
				start = len(data)
			}
		}
	}
	for off := start; off < len(data); {
		n := bytes.IndexByte(data[off:], '\n')
		if n < 0 && tcp {
			break // cut by the segment's end: not a whole line
		}
		end := off + n
		if n < 0 {
			end = len(data) // a datagram's last line needs no newline
		}
		line := data[off:end]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if err := h.unit(p, r, &m, line, off, false); err != nil && firstErr == nil {
			firstErr = err
		}
		off = end + 1
	}
	if tcp && st.update(uint8(p.Dir&1), p.Seq, data) {
		st.store(p.Priv)
		r.PrivChanged = true
	}
	return firstErr
}

// unit matches the rules of its kind against one line (or the whole
// payload) at payload offset off; the first that matches announces.
func (h *Parser) unit(p *cthelper.Packet, r *cthelper.Result, m **machine, text []byte, off int, whole bool) error {
	for i := range h.rules {
		ru := &h.rules[i]
		if ru.Whole != whole || !ru.Dir.has(p.Dir) || !ru.prog.mayStart(text) {
			continue
		}
		if *m == nil {
			*m = h.machines.Get().(*machine)
		}
		if (*m).run(ru.prog, text) {
			return h.announce(p, r, ru, i, (*m).match, text, off)
		}
	}
	return nil
}

// announcement is what a match says, with where its groups are in text.
type announcement struct {
	addr   netip.Addr
	commas bool // addr written with commas (FTP style)
	port   uint16
	hiLo   bool // the port is port_hi and port_lo
	caps   caps
}

// read turns a match's groups into an address and port.
func (ru *rule) read(c caps, text []byte) (announcement, error) {
	a := announcement{caps: c, hiLo: ru.prog.hiLo}
	group := func(slot int) []byte {
		if c[slot] < 0 || c[slot+1] < c[slot] {
			return nil
		}
		return text[c[slot]:c[slot+1]]
	}
	if ru.prog.hiLo {
		hi, okHi := byteValue(group(slotPort))
		lo, okLo := byteValue(group(slotLo))
		if !okHi || !okLo {
			return a, fmt.Errorf("%w: port_hi %q and port_lo %q are not two numbers from 0 to 255", ErrMalformed, group(slotPort), group(slotLo))
		}
		a.port = uint16(hi)<<8 | uint16(lo)
	} else {
		port, ok := portValue(group(slotPort))
		if !ok {
			return a, fmt.Errorf("%w: port %q is not a number from 1 to 65535", ErrMalformed, group(slotPort))
		}
		a.port = port
	}
	if a.port == 0 {
		return a, fmt.Errorf("%w: port 0", ErrMalformed)
	}
	if group(slotAddr) != nil {
		var ok bool
		a.addr, a.commas, ok = addrValue(group(slotAddr))
		if !ok {
			return a, fmt.Errorf("%w: addr %q is not an IPv4 or IPv6 address", ErrMalformed, clip(group(slotAddr)))
		}
	}
	return a, nil
}

// announce turns rule i's match into an expectation, and a payload
// rewrite when the master is NATed.
func (h *Parser) announce(p *cthelper.Packet, r *cthelper.Result, ru *rule, i int, c caps, text []byte, off int) error {
	a, err := ru.read(c, text)
	if err != nil {
		return fmt.Errorf("%s: pattern %d: %w", h.name, i+1, err)
	}
	// The sender's own address and its peer's as the conntrack sees them
	// before NAT, and where the peer sends to reach the sender.
	sender, peer, natDst := p.Orig.Src, p.Reply.Src, p.Reply.Dst
	if p.Dir == cthelper.Reply {
		sender, peer, natDst = p.Reply.Src, p.Orig.Src, p.Orig.Dst
	}
	sender, peer, natDst = sender.Unmap(), peer.Unmap(), natDst.Unmap()
	addr := sender
	if a.addr.IsValid() {
		a.addr = a.addr.Unmap()
		switch {
		case a.addr.Is4() != sender.Is4():
			return fmt.Errorf("%s: pattern %d: %w: announces %s on a connection between %s and %s", h.name, i+1, ErrRefused, a.addr, sender, peer)
		case a.addr != sender && !h.loose:
			return fmt.Errorf("%s: pattern %d: %w: announces %s, not the sender's own %s (Option loose yes allows it)", h.name, i+1, ErrRefused, a.addr, sender)
		}
		addr = a.addr
	}
	if a.port < 1024 && !h.lowPorts {
		return fmt.Errorf("%s: pattern %d: %w: port %d is below 1024 (Option low-ports yes allows it)", h.name, i+1, ErrRefused, a.port)
	}
	proto := ru.Expect
	if proto == 0 {
		proto = p.Proto
	}
	e := cthelper.Expect{Proto: proto, Src: peer, AnySrcPort: true, Dst: addr, DstPort: a.port}
	if snat, dnat := p.NATed(); snat || dnat {
		// The peer connects to the sender's translated address; the
		// kernel's nat-follow-master maps the new connection back to what
		// was announced.
		e.NAT, e.NATDir = true, 1-p.Dir
		e.NATAddr, e.NATPort = addr, a.port
		e.Dst = natDst
		return h.addNAT(r, e, a, text, off)
	}
	r.AddExpect(e)
	return nil
}

// clip shortens text for an error message.
func clip(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}
