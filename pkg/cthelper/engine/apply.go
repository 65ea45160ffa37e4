package engine

import (
	"errors"
	"log/slog"
	"syscall"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/gonfct/gonfct/pkg/nfq"
	"golang.org/x/sys/unix"
)

// This file is a worker's per-packet work: decode the queued packet and
// its conntrack, Decide, and apply the plan, building the verdict (and the
// ctnetlink requests that ride ahead of it) in w.v. Whatever goes wrong,
// the packet gets a verdict: ACCEPT un-helped unless the parser decided
// otherwise.

// prepare does everything for one packet but send the verdict it builds
// in w.v.
func (w *worker) prepare(p *nfq.Packet) {
	h := w.cur.Load()
	st := w.stats
	if p.CT == nil || !p.HasCTInfo {
		st.NoConntrack.Add(1)
		w.logLimited(limNoConntrack, slog.LevelWarn, "packet queued without conntrack information: is the queue fed by a helper (CT target / nft ct helper) rather than an NFQUEUE rule?")
		w.accept(p)
		return
	}
	if p.Truncated() {
		st.Malformed.Add(1)
		w.accept(p)
		return
	}
	off, err := decodeIP(p.Payload, &w.pkt)
	if err == nil {
		err = decodeConntrack(p.CT, &w.view)
	}
	if err != nil {
		st.Malformed.Add(1)
		w.logLimited(limMalformed, slog.LevelDebug, "malformed packet accepted un-helped", "err", err)
		w.accept(p)
		return
	}
	w.ct = Conntrack{Info: cthelper.CTInfo(p.CTInfo), Orig: w.view.orig, Reply: w.view.reply, Confirmed: w.view.confirmed(),
		Zone: w.view.zone, HasZone: w.view.hasZone, Priv: w.view.info}
	st.BytesSeen.Add(uint64(len(w.pkt.Payload)))
	Decide(h, &w.pkt, &w.ct, &w.plan)
	w.apply(p, h, off)
}

// apply writes the plan for packet p into w.v: NATed expectations whose
// port the payload announces are created first (renumbered while their
// port is taken), then the verdict is built with what rides in and ahead
// of it.
func (w *worker) apply(p *nfq.Packet, h *Serving, off l4Offsets) {
	st, pl := w.stats, &w.plan
	switch pl.Outcome {
	case Panicked:
		st.Panics.Add(1)
		w.logLimited(limPanic, slog.LevelError, "helper parser panicked; packet accepted un-helped",
			"panic", pl.Panic, "stack", string(pl.Stack))
		w.accept(p)
		return
	case ParseError:
		st.ParseErrors.Add(1)
		w.logLimited(limParseError, slog.LevelDebug, "parser refused a packet; accepted un-helped", "err", pl.Err)
		w.accept(p)
		return
	}
	r := &pl.Result
	if !w.placeFirst() {
		pl.Unannounce()
	}
	verdict := nfq.Accept
	if pl.Verdict() == cthelper.Drop {
		verdict = nfq.Drop
	}
	w.v.Start(p.Queue, p.ID, verdict)
	// Expectations through ctnetlink ride in the same datagram as the
	// verdict, ahead of it: nfnetlink creates them before it releases the
	// packet, so the expected connection cannot arrive first. They ask
	// for no acknowledgement (one message less to read per exchange):
	// the kernel answers a refusal all the same, on the queue's socket
	// (onAck), where it is counted and logged.
	inVerdict := -1
	for i := range r.Expects[:r.NExpects] {
		switch pl.Via[i] {
		case PathVerdict:
			inVerdict = i
		case PathCtnetlink:
			ex := pl.Expectation(i)
			w.enc.Reset()
			ex.Encode(&w.enc)
			w.v.Request(subsysCtnetlinkExp, ctnetlink.MsgExpNew, pl.Packet.Family, unix.NLM_F_CREATE, 0, w.enc.Bytes())
			st.ExpectCtnetlink.Add(1)
		}
	}
	if r.PrivChanged {
		w.v.HelpInfo(h.Name, pl.Packet.Priv)
		st.PrivUpdates.Add(1)
	}
	if r.Timeout > 0 {
		w.v.Timeout(r.Timeout)
		st.TimeoutUpdates.Add(1)
	}
	if inVerdict >= 0 {
		ex := pl.Expectation(inVerdict)
		ex.Master, ex.Zone, ex.HasZone = ctnetlink.Tuple{}, 0, false // the queued packet's conntrack
		ex.Encode(w.v.Expect())
		st.ExpectInVerdict.Add(1)
	}
	if r.NRewrites > 0 {
		pk := &pl.Packet
		end := off.payload + len(pk.Payload)
		out, err := rewrite(w.out, p.Payload, off, end, pk.Proto, r.Rewrites[:r.NRewrites])
		if err != nil {
			st.ParseErrors.Add(1)
			w.logLimited(limParseError, slog.LevelWarn, "parser asked for an impossible payload rewrite; packet passes unchanged", "err", err)
		} else {
			w.out = out
			w.v.Payload(out)
			if pk.Proto == unix.IPPROTO_TCP && len(out) != end {
				w.v.SeqAdjust()
			}
			st.PayloadRewrites.Add(1)
		}
	}
	if verdict == nfq.Drop {
		st.Dropped.Add(1)
	} else {
		st.Accepted.Add(1)
	}
}

// accept prepares a plain ACCEPT: the packet passes un-helped.
func (w *worker) accept(p *nfq.Packet) {
	w.v.Start(p.Queue, p.ID, nfq.Accept)
	w.stats.Accepted.Add(1)
}

// maxPortTries bounds the ports tried for one expectation, as the kernel
// bounds its NAT helpers' search: a worker waits for each answer, and a
// range that busy is better refused (the peer asks again) than searched
// while the queue fills.
const maxPortTries = 128

// placeFirst creates the plan's PathFirst expectations through ctnetlink,
// one at a time and before the verdict: where another connection's
// expectation holds the tuple, it moves the expectation to the next port
// (the parser re-renders the announcing rewrite) and tries again. It
// reports false when an expectation found no free port: the packet is
// then dropped unchanged and its sender's retransmission tries again.
func (w *worker) placeFirst() bool {
	pl := &w.plan
	for i := range pl.Result.Expects[:pl.Result.NExpects] {
		if pl.Via[i] != PathFirst {
			continue
		}
		x := &pl.Result.Expects[i]
		for tries := 1; ; tries++ {
			err := w.createNow(i)
			if err == nil {
				w.stats.ExpectCtnetlink.Add(1)
				break
			}
			if !errors.Is(err, errPortTaken) {
				w.stats.ExpectFailed.Add(1)
				w.logLimited(limExpect, slog.LevelWarn, "expectation refused", "err", err, "hint", expectHints[ctnl.Errno(err)])
				break
			}
			if tries == maxPortTries || x.DstPort == 0xffff {
				w.stats.ExpectFailed.Add(1)
				w.logLimited(limExpect, slog.LevelWarn, "no free port for a NATed expectation; packet dropped",
					"port", x.DstPort, "tries", tries)
				return false
			}
			if rerr := pl.Renumber(i, x.DstPort+1); rerr != nil {
				w.stats.ExpectFailed.Add(1)
				w.logLimited(limExpect, slog.LevelWarn, "expectation's port taken and not movable", "err", rerr)
				break
			}
			w.stats.PortRenumbers.Add(1)
		}
	}
	return true
}

// errPortTaken: another connection's expectation holds the tuple.
var errPortTaken = errors.New("expected tuple held by another connection's expectation")

// createNow creates the plan's expectation i and waits for the kernel's
// answer. It asks for an exclusive create: a plain create would quietly
// refresh another master's expectation of the same tuple. An existing
// expectation of this same master (a retransmitted command) counts as
// created.
func (w *worker) createNow(i int) error {
	// Verdicts staged before this packet carry expectations too: they go
	// first, so that the kernel sees every expectation in packet order.
	w.flush()
	if w.sync == nil {
		if w.dial == nil {
			return errors.New("no ctnetlink socket for expectations")
		}
		c, err := w.dial()
		if err != nil {
			return err
		}
		w.sync, w.exps = c, expect.NewClient(c)
	}
	e := w.plan.Expectation(i)
	err := w.exps.Create(&e)
	switch ctnl.Errno(err) {
	case unix.EBUSY:
		return errPortTaken
	case unix.EEXIST:
		var old expect.Expectation
		if gerr := w.exps.Get(ctnetlink.Key{Tuple: e.Tuple, Zone: e.Zone, HasZone: e.HasZone}, &old); gerr != nil {
			return err
		}
		if old.Master.Src == e.Master.Src && old.Master.Dst == e.Master.Dst &&
			old.Master.SrcPort == e.Master.SrcPort && old.Master.DstPort == e.Master.DstPort {
			return nil
		}
		return errPortTaken
	}
	return err
}

// The netlink message types of the requests sent with verdicts.
const (
	subsysCtnetlinkExp = 2 // NFNL_SUBSYS_CTNETLINK_EXP
	typeExpNew         = subsysCtnetlinkExp<<8 | ctnetlink.MsgExpNew
	typeVerdict        = 3<<8 | 1 // NFNL_SUBSYS_QUEUE, NFQNL_MSG_VERDICT
)

// onAck counts the kernel's answers to the requests sent with verdicts:
// they ask for none, so these are refusals.
func (w *worker) onAck(a ctnl.Ack) {
	switch a.Type {
	case typeExpNew:
		if a.Err == nil {
			return // counted when sent
		}
		w.stats.ExpectFailed.Add(1)
		w.logLimited(limExpect, slog.LevelWarn, "expectation refused", "err", a.Err, "hint", expectHints[ctnl.Errno(a.Err)])
	default:
		if a.Err != nil {
			w.stats.VerdictErrors.Add(1)
			w.logLimited(limVerdict, slog.LevelWarn, "kernel refused a verdict", "err", a.Err)
		}
	}
}

var expectHints = map[syscall.Errno]string{
	unix.ENOENT:     "the master connection is gone, or not confirmed yet (use --expect-via auto or verdict)",
	unix.EBUSY:      "another connection's expectation holds that tuple",
	unix.EMFILE:     "the helper policy's ExpectMax is reached",
	unix.EOPNOTSUPP: "the master connection has no helper attached, or the named helper does not exist",
	unix.EINVAL:     "the kernel refused the expectation's attributes (class above the policy count, or NAT without nf_nat)",
}
