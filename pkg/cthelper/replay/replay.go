package replay

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/expect"
	"golang.org/x/sys/unix"
)

// Helper is what Run replays a capture through: a parser and what the
// kernel and the ruleset would give it.
type Helper struct {
	Name    string
	Parser  cthelper.Parser
	PrivLen int
	// Protos and Ports say which flows the ruleset assigns the helper to:
	// those whose original direction goes to one of Ports (any port if
	// none) over one of Protos, and over one of Families (any if none).
	Protos   []uint8
	Ports    []uint16
	Families []uint8
	// Timeout is the expectation timeout of the helper's policy, in
	// seconds, shown with each expectation.
	Timeout uint32
}

// Kind says what an Event is.
type Kind string

const (
	// KindExpect: the parser asked for an expectation (Expect).
	KindExpect Kind = "expect"
	// KindRewrite: the parser rewrote part of the payload (Rewrite, Old).
	KindRewrite Kind = "rewrite"
	// KindDrop: the parser dropped the packet (the sender retransmits).
	KindDrop Kind = "drop"
	// KindError: the parser refused the packet as malformed (Err); the
	// engine accepts it un-helped.
	KindError Kind = "error"
	// KindMalformed: the packet of a helped flow could not be decoded, or
	// the capture kept only part of it (Err).
	KindMalformed Kind = "malformed"
	// KindRetransmit: a TCP segment whose data the helper saw already; it
	// is not parsed again.
	KindRetransmit Kind = "retransmission"
	// KindGap: a TCP segment starts after data the capture missed (Err
	// says how much); it is parsed anyway, as the kernel would.
	KindGap Kind = "gap"
)

// Event is one thing worth reporting about one packet.
type Event struct {
	Packet int // frame number in the capture, from 1
	Kind   Kind
	// The packet's flow, in its own direction.
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Dir              cthelper.Direction

	Expect  expect.Expectation // KindExpect: as the engine sends it to the kernel
	Rewrite cthelper.Rewrite   // KindRewrite: Data is a copy
	Old     []byte             // KindRewrite: the bytes it replaces
	Err     string
}

// Stats count what Run saw.
type Stats struct {
	Frames                                                         int // frames in the capture
	Flows                                                          int // flows the helper was assigned to
	Packets                                                        int // packets handed to the parser
	Expects, Rewrites, Drops, Errors, Malformed, Retransmits, Gaps int
}

// flow is what Run keeps of a conntrack besides the emulation's own.
type flow struct {
	helped bool
	// TCP: the sequence number after the last data seen, per direction.
	next    [2]uint32
	hasNext [2]bool
}

// Run replays frames through h, calling emit for each event, in capture
// order, and returns the counts. The emulation is what the kernel and
// `gonfct run` do for a connection the ruleset assigns to the helper:
// one conntrack per flow with the kernel's ctinfo and private data
// (Conntracks), every packet of the flow decoded by the engine's own IP
// decoding and run through engine.Decide, the decision path of `gonfct
// run`. TCP segments whose data was seen already are not parsed again.
func Run(frames []Frame, h Helper, emit func(Event)) Stats {
	st := Stats{Frames: len(frames)}
	cts := &Conntracks{Ports: h.Ports, PrivLen: h.PrivLen}
	flows := map[*Conntrack]*flow{}
	serving := &engine.Serving{Name: h.Name, Parser: h.Parser, PrivLen: h.PrivLen}
	var (
		pkt  cthelper.Packet
		plan engine.Plan
	)
	for _, fr := range frames {
		if fr.IP == nil {
			continue
		}
		pkt = cthelper.Packet{}
		off, err := engine.DecodePacket(fr.IP, &pkt)
		if errors.Is(err, engine.ErrNotTCPUDP) {
			continue // ICMP and the like: no helper sees them
		}
		if err != nil {
			// Its flow is unknown, so it may or may not be the helper's.
			st.Malformed++
			emit(Event{Packet: fr.Number, Kind: KindMalformed, Err: err.Error()})
			continue
		}
		tcp := pkt.Proto == unix.IPPROTO_TCP
		var flags byte
		if tcp {
			flags = fr.IP[off.L4+13]
		}
		ct, dir, isNew := cts.Find(&pkt, flags)
		fl := flows[ct]
		if isNew {
			fl = &flow{helped: slices.Contains(h.Protos, pkt.Proto) && (len(h.Ports) == 0 || slices.Contains(h.Ports, ct.Orig.DstPort)) &&
				(len(h.Families) == 0 || slices.Contains(h.Families, pkt.Family))}
			flows[ct] = fl
			if fl.helped {
				st.Flows++
			}
		}
		if !fl.helped {
			ct.Passed(dir)
			continue
		}
		ev := Event{Packet: fr.Number, Proto: pkt.Proto, Src: pkt.Src, Dst: pkt.Dst, SrcPort: pkt.SrcPort, DstPort: pkt.DstPort, Dir: dir}
		if fr.Truncated {
			st.Malformed++
			ev.Kind, ev.Err = KindMalformed, "the capture kept only part of this packet (snap length): the parser sees what was kept"
			emit(ev)
		}
		if tcp {
			if skip := fl.trackTCP(dir, pkt.Seq, len(pkt.Payload), flags, &st, ev, emit); skip {
				ct.Passed(dir)
				continue
			}
		}
		view := ct.View(dir)
		st.Packets++
		engine.Decide(serving, &pkt, &view, &plan)
		ct.Passed(dir)
		ct.Apply(&plan)
		switch plan.Outcome {
		case engine.ParseError:
			st.Errors++
			ev.Kind, ev.Err = KindError, plan.Err.Error()
			emit(ev)
			continue
		case engine.Panicked:
			st.Errors++
			ev.Kind, ev.Err = KindError, "parser panicked: "+plan.Panic
			emit(ev)
			continue
		}
		res := &plan.Result
		for i := range res.NExpects {
			st.Expects++
			e := ev
			e.Kind = KindExpect
			e.Expect = plan.Expectation(i)
			e.Expect.Timeout = h.Timeout
			emit(e)
		}
		for i := range res.NRewrites {
			st.Rewrites++
			w := res.Rewrites[i]
			e := ev
			e.Kind = KindRewrite
			e.Rewrite = cthelper.Rewrite{Off: w.Off, Len: w.Len, Data: slices.Clone(w.Data)}
			if w.Off >= 0 && w.Len >= 0 && w.Off+w.Len <= len(pkt.Payload) {
				e.Old = slices.Clone(pkt.Payload[w.Off : w.Off+w.Len])
			}
			emit(e)
		}
		if plan.Verdict() == cthelper.Drop {
			st.Drops++
			e := ev
			e.Kind = KindDrop
			emit(e)
			if tcp {
				// Dropped data never arrived: the sender sends it again.
				fl.hasNext[dir] = false
			}
		}
	}
	return st
}

// trackTCP follows one direction's sequence numbers: it reports a segment
// whose data was all seen before (skip it) and one that starts after a
// hole in the capture (parse it anyway).
func (fl *flow) trackTCP(dir cthelper.Direction, seq uint32, n int, flags byte, st *Stats, ev Event, emit func(Event)) (skip bool) {
	end := seq + uint32(n)
	if flags&tcpSYN != 0 {
		end++ // the SYN takes a sequence number
		seq++
	}
	if flags&tcpFIN != 0 {
		end++
	}
	if !fl.hasNext[dir] {
		fl.next[dir], fl.hasNext[dir] = end, true
		return false
	}
	next := fl.next[dir]
	switch {
	case n > 0 && int32(end-next) <= 0:
		st.Retransmits++
		ev.Kind = KindRetransmit
		emit(ev)
		return true
	case n > 0 && int32(seq-next) > 0:
		st.Gaps++
		ev.Kind, ev.Err = KindGap, fmt.Sprintf("%d bytes before this segment are missing from the capture", seq-next)
		emit(ev)
	}
	if int32(end-next) > 0 {
		fl.next[dir] = end
	}
	return false
}

// ForBuiltin makes the Helper of a built-in helper, with its parser built
// with opts, its private-data length, protocols, well-known port and
// first policy's expectation timeout.
func ForBuiltin(reg *cthelper.Registry, name string, opts cthelper.Options) (Helper, error) {
	spec, ok := reg.Lookup(name)
	if !ok {
		return Helper{}, reg.UnknownHelperError(name)
	}
	if spec.NewParser == nil {
		return Helper{}, fmt.Errorf("helper %q has no parser in this build of gonfct", name)
	}
	p, err := spec.NewParser(opts)
	if err != nil {
		return Helper{}, err
	}
	h := Helper{Name: name, Parser: p, PrivLen: int(spec.PrivLen), Protos: slices.Clone(spec.Protos)}
	if spec.Port != 0 {
		h.Ports = []uint16{spec.Port}
	}
	if len(spec.Policies) > 0 {
		h.Timeout = spec.Policies[0].ExpectTimeout
	}
	return h, nil
}
