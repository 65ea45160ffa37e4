package replay

import (
	"net/netip"
	"slices"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
)

// This file emulates, for a capture, the conntrack table the kernel would
// keep and what its NFQUEUE glue would report with each queued packet:
// the one place where offline tools (Run, and the parsers' capture tests)
// decide a packet's direction, ctinfo and private data, before handing it
// to engine.Decide as `gonfct run` does.

// TCP flags the emulation looks at.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpACK = 0x10
)

// Conntracks is an emulated conntrack table: one conntrack per flow (both
// directions), made by the flow's first packet.
type Conntracks struct {
	// Ports, if any, are the helper's well-known ports: a flow first
	// seen mid-stream from such a port is taken as the server's answer
	// (its conntrack was made before the capture began).
	Ports   []uint16
	PrivLen int
	flows   map[flowKey]*Conntrack
}

// flowKey identifies a flow in both directions.
type flowKey struct {
	proto uint8
	a, b  netip.AddrPort // a < b
}

// Conntrack is one emulated conntrack.
type Conntrack struct {
	Orig, Reply ctnetlink.Tuple
	// Existing: the conntrack was made before the capture began (the
	// flow's first packet was an answer).
	Existing  bool
	seenReply bool
	confirmed bool
	priv      []byte
}

// Find returns packet p's conntrack, making it if p is the flow's first
// packet (new is then true), and p's direction. flags are p's TCP flags
// (0 for UDP). A SYN's sender opened its connection; a SYN-ACK answers
// the other side; otherwise the first packet's sender did, unless it
// comes from one of Ports to another port.
func (c *Conntracks) Find(p *cthelper.Packet, flags byte) (ct *Conntrack, dir cthelper.Direction, isNew bool) {
	src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	k := flowKey{proto: p.Proto, a: src, b: dst}
	if src.Compare(dst) > 0 {
		k.a, k.b = dst, src
	}
	if c.flows == nil {
		c.flows = map[flowKey]*Conntrack{}
	}
	ct = c.flows[k]
	if ct == nil {
		ct, isNew = newConntrack(p, flags, c.Ports), true
		ct.priv = make([]byte, c.PrivLen)
		c.flows[k] = ct
	}
	if p.Src == ct.Reply.Src && p.SrcPort == ct.Reply.SrcPort && p.Dst == ct.Reply.Dst && p.DstPort == ct.Reply.DstPort {
		dir = cthelper.Reply
	}
	return ct, dir, isNew
}

func newConntrack(p *cthelper.Packet, flags byte, ports []uint16) *Conntrack {
	fwd := ctnetlink.Tuple{Src: p.Src, Dst: p.Dst, Proto: p.Proto, SrcPort: p.SrcPort, DstPort: p.DstPort}
	rev := ctnetlink.Tuple{Src: p.Dst, Dst: p.Src, Proto: p.Proto, SrcPort: p.DstPort, DstPort: p.SrcPort}
	ct := &Conntrack{Orig: fwd, Reply: rev}
	switch {
	case flags&tcpSYN != 0 && flags&tcpACK == 0:
		// A SYN's sender opened the connection.
	case flags&tcpSYN != 0:
		ct.Orig, ct.Reply = rev, fwd // a SYN-ACK answers the other side
	case !slices.Contains(ports, p.DstPort) && slices.Contains(ports, p.SrcPort):
		ct.Orig, ct.Reply = rev, fwd // mid-stream: the helper's port is the server's
	}
	if ct.Orig != fwd {
		// Its first packet was an answer: the conntrack was there before
		// the capture, confirmed, and has seen a reply.
		ct.Existing, ct.seenReply, ct.confirmed = true, true, true
	}
	return ct
}

// View is what the kernel reports of the conntrack with its next packet,
// going in dir: ctinfo NEW for an original-direction packet until the
// conntrack has seen a reply — its first packet included, whatever its
// protocol —, then ESTABLISHED; ESTABLISHED_REPLY for replies; the
// conntrack unconfirmed until its first packet has passed; the private
// data the helper last sent.
func (ct *Conntrack) View(dir cthelper.Direction) engine.Conntrack {
	info := cthelper.New
	switch {
	case dir == cthelper.Reply:
		info = cthelper.EstablishedReply
	case ct.seenReply:
		info = cthelper.Established
	}
	return engine.Conntrack{Info: info, Orig: ct.Orig, Reply: ct.Reply, Confirmed: ct.confirmed, Priv: ct.priv}
}

// Priv is the conntrack's private data as the kernel holds it.
func (ct *Conntrack) Priv() []byte { return ct.priv }

// Passed records a packet in dir going through: the conntrack is
// confirmed, and a reply is seen. Call it for every packet of the flow,
// handed to a parser or not.
func (ct *Conntrack) Passed(dir cthelper.Direction) {
	ct.confirmed = true
	if dir == cthelper.Reply {
		ct.seenReply = true
	}
}

// Apply keeps what the verdict of a decided packet would change in the
// kernel's conntrack: the private data, when the parser changed it.
func (ct *Conntrack) Apply(pl *engine.Plan) {
	if pl.Outcome == engine.Helped && pl.Result.PrivChanged {
		copy(ct.priv, pl.Packet.Priv)
	}
}
