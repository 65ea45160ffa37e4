package cthelper

import (
	"net/netip"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
)

// Direction is a packet's direction relative to its conntrack.
type Direction uint8

const (
	// Original: from the connection's initiator (IP_CT_DIR_ORIGINAL).
	Original Direction = 0
	// Reply: towards the initiator (IP_CT_DIR_REPLY).
	Reply Direction = 1
)

func (d Direction) String() string {
	if d == Reply {
		return "reply"
	}
	return "original"
}

// CTInfo is the kernel's enum ip_conntrack_info, as NFQA_CT_INFO carries it.
type CTInfo uint8

const (
	Established      CTInfo = 0 // IP_CT_ESTABLISHED
	Related          CTInfo = 1 // IP_CT_RELATED
	New              CTInfo = 2 // IP_CT_NEW
	EstablishedReply CTInfo = 3 // IP_CT_ESTABLISHED_REPLY
	RelatedReply     CTInfo = 4 // IP_CT_RELATED_REPLY
)

// Direction derives the packet direction from the conntrack info.
func (i CTInfo) Direction() Direction {
	if i >= EstablishedReply {
		return Reply
	}
	return Original
}

// Packet is what a protocol parser sees of one queued packet. Everything in
// it is owned by the engine and valid only during Parse.
type Packet struct {
	Family uint8 // AF_INET or AF_INET6
	Proto  uint8 // IPPROTO_TCP or IPPROTO_UDP
	Dir    Direction
	Info   CTInfo

	// The packet's own addresses and ports.
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// Seq is the TCP sequence number of Payload's first byte (0 for UDP).
	Seq uint32

	// Orig and Reply are the master conntrack's tuples. They differ from a
	// plain mirror image when the connection is NATed: Reply.Src is the
	// real destination after DNAT, Reply.Dst the translated source after
	// SNAT.
	Orig, Reply ctnetlink.Tuple

	// Payload is the transport payload (after the TCP or UDP header).
	Payload []byte

	// Priv is the helper's private data for this conntrack (CTA_HELP_INFO),
	// PrivLen bytes, zeroed by the kernel when the helper was attached.
	// A parser may change it in place and set Result.PrivChanged.
	Priv []byte
}

// NATed reports whether the master connection is translated, and how.
func (p *Packet) NATed() (snat, dnat bool) {
	return p.Reply.Dst != p.Orig.Src || p.Reply.DstPort != p.Orig.SrcPort,
		p.Reply.Src != p.Orig.Dst || p.Reply.SrcPort != p.Orig.DstPort
}

// Verdict is the fate of a queued packet.
type Verdict uint8

const (
	Accept Verdict = 1 // NF_ACCEPT
	Drop   Verdict = 0 // NF_DROP
)

// Expectation flags (NF_CT_EXPECT_*).
const (
	ExpectPermanent = 0x1
	ExpectInactive  = 0x2
)

// Expect is an expectation a parser asks for: the connection to let in as
// RELATED to the master. An invalid Src means any source address; SrcPort 0
// with AnySrcPort means any source port. Dst and DstPort are always exact.
type Expect struct {
	Class      uint8
	Proto      uint8
	Src, Dst   netip.Addr
	SrcPort    uint16
	AnySrcPort bool
	DstPort    uint16
	Flags      uint32
	// Helper, if set, is attached to the expected connection (ssdp does
	// this so the expected connection is helped too).
	Helper string

	// NAT: where the master is translated, the expected connection follows
	// it ("nat-follow-master"): NATDir is the direction whose tuple is
	// saved, NATAddr/NATPort the address and port to translate to.
	NAT     bool
	NATDir  Direction
	NATAddr netip.Addr
	NATPort uint16

	// Announce links a NATed expectation to the payload rewrite that
	// announces its port to the peer: Rewrites[Announce-1]; 0 for none.
	// Result.AddAnnounced sets it and keeps it true as rewrites are
	// inserted; the engine renumbers only an expectation so linked
	// (PortRenumberer).
	Announce uint8
}

// Announcement is the index in Result.Rewrites of the rewrite that
// announces e's port, if any.
func (e *Expect) Announcement() (int, bool) {
	return int(e.Announce) - 1, e.Announce != 0
}

// Rewrite replaces Len bytes of the payload at Off with Data (NAT).
type Rewrite struct {
	Off, Len int
	Data     []byte
}

// MaxExpects is how many expectations one packet may create (amanda asks
// for four: DATA, MESG, INDEX and STATE).
const MaxExpects = 4

// MaxRewrites is how many payload rewrites one packet may carry.
const MaxRewrites = 4

// Result is what a parser decides about one packet. The engine resets it
// before every packet; its arrays make a parse allocation-free.
type Result struct {
	Verdict     Verdict
	PrivChanged bool
	// Timeout, if not 0, sets the master conntrack's timeout to this many
	// seconds from now: a helper keeps a master alive while it waits for
	// the answers it announced (dhcpv6 by message type, amanda). The
	// master's next packet sets its protocol's own timeout again.
	Timeout uint32

	Expects  [MaxExpects]Expect
	NExpects int

	Rewrites  [MaxRewrites]Rewrite
	NRewrites int
	// Scratch backs Rewrite.Data so that rewriting does not allocate.
	Scratch [256]byte
}

// Reset prepares r for the next packet.
func (r *Result) Reset() {
	r.Verdict = Accept
	r.PrivChanged = false
	r.Timeout = 0
	r.NExpects = 0
	r.NRewrites = 0
}

// AddExpect appends an expectation; false when the packet has MaxExpects
// already.
func (r *Result) AddExpect(e Expect) bool {
	if r.NExpects == len(r.Expects) {
		return false
	}
	r.Expects[r.NExpects] = e
	r.NExpects++
	return true
}

// AddAnnounced adds a NATed expectation together with the rewrite that
// announces its port, linking the two (Expect.Announce). The rewrite is
// inserted in payload order (the engine applies rewrites front to back),
// and the links of the expectations already added follow their rewrites.
// False, adding neither, when either array is full or w overlaps a
// rewrite already there.
func (r *Result) AddAnnounced(e Expect, w Rewrite) bool {
	if r.NExpects == len(r.Expects) || r.NRewrites == len(r.Rewrites) {
		return false
	}
	k := r.NRewrites
	for k > 0 && r.Rewrites[k-1].Off >= w.Off {
		k--
	}
	if (k > 0 && r.Rewrites[k-1].Off+r.Rewrites[k-1].Len > w.Off) || (k < r.NRewrites && w.Off+w.Len > r.Rewrites[k].Off) {
		return false
	}
	copy(r.Rewrites[k+1:r.NRewrites+1], r.Rewrites[k:r.NRewrites])
	r.Rewrites[k] = w
	r.NRewrites++
	for i := range r.Expects[:r.NExpects] {
		if x := &r.Expects[i]; x.Announce > uint8(k) {
			x.Announce++
		}
	}
	e.Announce = uint8(k) + 1
	r.Expects[r.NExpects] = e
	r.NExpects++
	return true
}

// AddRewrite appends a payload rewrite; false when full.
func (r *Result) AddRewrite(w Rewrite) bool {
	if r.NRewrites == len(r.Rewrites) {
		return false
	}
	r.Rewrites[r.NRewrites] = w
	r.NRewrites++
	return true
}

// Parser is a protocol helper: a pure function over one packet. It must not
// keep references to the packet, do I/O or block. An error means the packet
// was malformed: the engine counts it and accepts the packet un-helped.
type Parser interface {
	Parse(p *Packet, r *Result) error
}

// PortRenumberer is a parser whose NATed expectations announce their port
// in the payload (ftp's PORT, EPRT, 227 and 229). Where another
// connection's expectation already holds such an expectation's tuple (two
// clients behind one masquerade announcing the same port), the engine
// moves it to the next port and tries again, as the kernel's NAT helpers
// do: RenumberPort sets r.Expects[i].DstPort to port and re-renders the
// payload rewrite that announces it, the one its Announce names (never
// found by index: rewrites are in payload order, expectations are not).
type PortRenumberer interface {
	RenumberPort(r *Result, i int, port uint16) error
}

// Options are a helper's settings from the config file or command line
// ("loose", "ports", ...), by name.
type Options map[string]string
