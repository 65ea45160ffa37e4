package engine

import (
	"fmt"
	"net/netip"
	"runtime/debug"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/expect"
	"golang.org/x/sys/unix"
)

// A queued packet goes through three steps: decode (the packet's bytes and
// its NFQA_CT into a cthelper.Packet and a Conntrack), decide (Decide, in
// this file: the parser's answer turned into a Plan) and apply (the worker
// writes the plan to the kernel: expectations, verdict, rewritten
// payload). Decide is pure, so `gonfct helper test` and the parsers'
// capture tests call it as the engine does, on conntracks they emulate.

// Serving is what Decide serves a packet with: a helper's name, parser
// and settings.
type Serving struct {
	// Name is the helper object's name, which a verdict's new private
	// data is sent under.
	Name   string
	Parser cthelper.Parser
	// PrivLen is the length of the helper's private data.
	PrivLen int
	// ExpectVia says how expectations reach the kernel.
	ExpectVia ExpectVia
}

// Conntrack is what Decide knows of a packet's conntrack: what the kernel
// sends in NFQA_CT and NFQA_CT_INFO, or what an offline replay emulates.
type Conntrack struct {
	// Info is the packet's ctinfo. The kernel's NFQUEUE glue reports the
	// packet's own: NEW for an original-direction packet until the
	// conntrack has seen a reply (the first packet of a new conntrack
	// included), ESTABLISHED after, ESTABLISHED_REPLY for replies,
	// RELATED for an expected connection's first packets.
	Info        cthelper.CTInfo
	Orig, Reply ctnetlink.Tuple
	// Confirmed: the conntrack is in the table (IPS_CONFIRMED), so
	// ctnetlink can find it; false for its first packet.
	Confirmed bool
	Zone      uint16
	HasZone   bool
	// Priv is the helper's private data as the kernel holds it
	// (CTA_HELP_INFO); shorter than the helper's PrivLen (or nil) it is
	// padded with zeros.
	Priv []byte
}

// Outcome says how a packet's parse went.
type Outcome uint8

const (
	// Helped: the parser answered; the plan says what to do.
	Helped Outcome = iota
	// ParseError: the parser refused the packet (Plan.Err); it passes
	// un-helped.
	ParseError
	// Panicked: the parser panicked (Plan.Panic, Plan.Stack); the packet
	// passes un-helped.
	Panicked
)

// Path is the way an expectation reaches the kernel.
type Path uint8

const (
	// PathVerdict: in the verdict itself (NFQA_EXP), the only way for an
	// unconfirmed master, and for an expectation that names a helper.
	PathVerdict Path = iota + 1
	// PathCtnetlink: a ctnetlink request in the verdict's datagram, ahead
	// of it (nfnetlink runs them in order); its answer comes back on the
	// queue's socket.
	PathCtnetlink
	// PathFirst: created through ctnetlink before the verdict is written,
	// waiting for the answer, and renumbered (Plan.Renumber) while
	// another connection's expectation holds its port: a NATed
	// expectation whose port the rewritten payload announces.
	PathFirst
)

func (p Path) String() string {
	switch p {
	case PathVerdict:
		return "verdict"
	case PathCtnetlink:
		return "ctnetlink"
	case PathFirst:
		return "ctnetlink-first"
	}
	return "none"
}

// Plan is Decide's answer for one packet. It holds the packet as the
// parser saw it, whose private data lives in the plan: a plan must not be
// copied once decided.
type Plan struct {
	Outcome Outcome
	Err     error  // ParseError: the parser's error
	Panic   string // Panicked: the panic's value
	Stack   []byte // Panicked: where

	// Packet is the packet as the parser saw it.
	Packet cthelper.Packet
	// Result is the parser's answer: its verdict, expectations (each
	// going by Via), new private data (in Packet.Priv when PrivChanged),
	// master timeout and payload rewrites (in payload order).
	Result cthelper.Result
	// Via is the path of each expectation in Result.Expects.
	Via [cthelper.MaxExpects]Path

	master  ctnetlink.Tuple
	zone    uint16
	hasZone bool
	renum   cthelper.PortRenumberer
	priv    [cthelper.MaxPrivLen]byte
}

// Verdict is the packet's verdict: ACCEPT unless the parser dropped it.
func (pl *Plan) Verdict() cthelper.Verdict {
	if pl.Outcome != Helped {
		return cthelper.Accept
	}
	return pl.Result.Verdict
}

// Decide runs packet p (its own fields decoded) of conntrack ct through
// h's parser, guarded against panics, and fills pl with what to do: the
// verdict, each expectation's path, the new private data, the master's
// timeout and the payload rewrites. It is pure: no I/O, no clock, nothing
// but its arguments; it does not allocate unless the parser panics.
func Decide(h *Serving, p *cthelper.Packet, ct *Conntrack, pl *Plan) {
	pl.Outcome, pl.Err, pl.Panic, pl.Stack = Helped, nil, "", nil
	pl.master, pl.zone, pl.hasZone = ct.Orig, ct.Zone, ct.HasZone
	pl.master.HasZone = false
	pl.Via = [cthelper.MaxExpects]Path{}

	pk := &pl.Packet
	*pk = *p
	pk.Info = ct.Info
	pk.Dir = ct.Info.Direction()
	pk.Orig, pk.Reply = ct.Orig, ct.Reply
	n := copy(pl.priv[:h.PrivLen], ct.Priv)
	clear(pl.priv[n:h.PrivLen])
	pk.Priv = pl.priv[:h.PrivLen]

	r := &pl.Result
	r.Reset()
	parse(h.Parser, pl)
	if pl.Outcome != Helped {
		r.Reset()
		return
	}
	pl.renum, _ = h.Parser.(cthelper.PortRenumberer)

	// NATed expectations whose port the payload announces are placed
	// first, so that a port another connection holds can be renumbered
	// before the rewritten payload leaves: ctnetlink finds only a
	// confirmed master.
	first := pl.renum != nil && ct.Confirmed
	// At most one expectation rides in the verdict: the first on an
	// unconfirmed master (ctnetlink cannot find it) or always with
	// --expect-via verdict; else one that names a helper (ctnetlink
	// ignores CTA_EXPECT_HELP_NAME).
	inVerdict := -1
	switch {
	case h.ExpectVia == ExpectVerdict || (h.ExpectVia == ExpectAuto && !ct.Confirmed):
		inVerdict = 0
	case h.ExpectVia == ExpectAuto:
		inVerdict = helperExpect(r)
	}
	for i := range r.Expects[:r.NExpects] {
		x := &r.Expects[i]
		_, announced := x.Announcement()
		switch {
		case first && x.NAT && announced:
			pl.Via[i] = PathFirst
		case i == inVerdict:
			pl.Via[i] = PathVerdict
		default:
			pl.Via[i] = PathCtnetlink
		}
	}
}

// parse calls the parser, turning a panic into the plan's outcome.
func parse(p cthelper.Parser, pl *Plan) {
	defer func() {
		if v := recover(); v != nil {
			pl.Outcome, pl.Panic, pl.Stack = Panicked, fmt.Sprint(v), debug.Stack()
		}
	}()
	if err := p.Parse(&pl.Packet, &pl.Result); err != nil {
		pl.Outcome, pl.Err = ParseError, err
	}
}

// helperExpect is the first expectation that names a helper for the
// expected connection, or -1. The kernel attaches that helper only to an
// expectation that rides in the verdict: ctnetlink's expectation creation
// ignores CTA_EXPECT_HELP_NAME since the 2026 expectation fixes (stable
// kernels too: the expected connection would go un-helped).
func helperExpect(r *cthelper.Result) int {
	for i := range r.Expects[:r.NExpects] {
		if r.Expects[i].Helper != "" {
			return i
		}
	}
	return -1
}

// Renumber moves expectation i (PathFirst) to port, the parser
// re-rendering the rewrite that announces it: the step apply takes when
// another connection's expectation holds the port.
func (pl *Plan) Renumber(i int, port uint16) error {
	if pl.renum == nil || i < 0 || i >= pl.Result.NExpects {
		return fmt.Errorf("expectation %d cannot be renumbered", i)
	}
	return pl.renum.RenumberPort(&pl.Result, i, port)
}

// Unannounce gives up the packet's help after an expectation found no
// free port: the payload goes unchanged, and no other expectation is
// made (the packet is dropped and its sender's retransmission tries
// again).
func (pl *Plan) Unannounce() {
	pl.Result.NRewrites = 0
	pl.Result.Verdict = cthelper.Drop
	for i := range pl.Via[:pl.Result.NExpects] {
		if pl.Via[i] != PathFirst {
			pl.Via[i] = 0
		}
	}
}

// Expectation is the kernel expectation of the plan's expectation i, as
// the engine sends it through ctnetlink and as the kernel lists it: with
// its master's tuple and zone. (In a verdict they are left out: the
// kernel takes the queued packet's conntrack.)
func (pl *Plan) Expectation(i int) expect.Expectation {
	x := &pl.Result.Expects[i]
	pk := &pl.Packet
	proto := x.Proto
	if proto == 0 {
		proto = pk.Proto
	}
	zero, ones := unspecified(pk.Family), allOnes(pk.Family)
	e := expect.Expectation{
		Family: pk.Family,
		Tuple:  ctnetlink.Tuple{Src: x.Src, Dst: x.Dst, Proto: proto, SrcPort: x.SrcPort, DstPort: x.DstPort},
		Mask:   ctnetlink.Tuple{Src: ones, Dst: ones, Proto: proto, SrcPort: 0xffff, DstPort: 0xffff},
		Flags:  expect.Flags(x.Flags),
		Class:  uint32(x.Class),
		Helper: x.Helper,
	}
	if !x.Src.IsValid() {
		e.Tuple.Src, e.Mask.Src = zero, zero
	}
	if x.AnySrcPort {
		e.Tuple.SrcPort, e.Mask.SrcPort = 0, 0
	}
	e.Master = pl.master
	e.Zone, e.HasZone = pl.zone, pl.hasZone
	if x.NAT {
		e.NAT = expect.NAT{Set: true, Dir: uint32(x.NATDir),
			Tuple: ctnetlink.Tuple{Src: x.NATAddr, Dst: zero, Proto: proto, SrcPort: x.NATPort}}
		e.Fn = "nat-follow-master"
	}
	return e
}

func unspecified(family uint8) netip.Addr {
	if family == unix.AF_INET6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

var (
	ones4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	ones6 = netip.AddrFrom16([16]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255})
)

func allOnes(family uint8) netip.Addr {
	if family == unix.AF_INET6 {
		return ones6
	}
	return ones4
}
