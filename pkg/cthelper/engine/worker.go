package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/gonfct/gonfct/pkg/nfq"
	"golang.org/x/sys/unix"
)

// serving is what a worker applies to its packets; a reload swaps it
// atomically between two packets.
type serving struct {
	name      string
	parser    cthelper.Parser
	privLen   int
	expectVia ExpectVia
}

// worker serves one queue on its own goroutine and sockets.
type worker struct {
	q     *nfq.Queue
	log   *slog.Logger
	stats *Stats
	cur   atomic.Pointer[serving]

	// dial opens the ctnetlink socket for expectations that must be placed
	// before the verdict is written (port clashes under NAT); sync is that
	// socket, opened at first need, and exps the client on it.
	dial func() (*ctnl.Conn, error)
	sync *ctnl.Conn
	exps *expect.Client

	stopping atomic.Bool
	done     chan struct{}
	err      error // why the worker stopped on its own

	// Per-packet scratch, reused: the common path allocates nothing.
	handleFn func(*nfq.Packet) error
	v        nfq.Verdict
	pkt      cthelper.Packet
	res      cthelper.Result
	ct       conntrackView
	priv     [cthelper.MaxPrivLen]byte
	out      []byte
	enc      ctnl.Encoder
	limits   [numLimits]rateLimit
}

func newWorker(q *nfq.Queue, s *serving, log *slog.Logger, stats *Stats, dial func() (*ctnl.Conn, error)) *worker {
	w := &worker{q: q, log: log, stats: stats, dial: dial, done: make(chan struct{})}
	if q != nil {
		q.SetAckHandler(w.onAck)
	}
	w.cur.Store(s)
	w.handleFn = w.handle
	w.enc = *ctnl.NewEncoder(make([]byte, 0, 512))
	return w
}

// yieldEvery is how often a busy worker yields: well within the
// runtime's 10 ms before it preempts by signal (forcePreemptNS).
const yieldEvery = 2 * time.Millisecond

// maxConsecutiveErrors stops a worker whose socket keeps failing (closed,
// or a kernel that answers every read with an error).
const maxConsecutiveErrors = 1000

func (w *worker) run() {
	defer close(w.done)
	// Not locked to its OS thread: a goroutine in a system call keeps its
	// thread anyway, and a locked one pays for every preemption (the
	// scheduler's every 10 ms under load, the GC's) with two thread
	// hand-offs, because only its own thread may run it.
	errs := 0
	lastYield := time.Now()
	for {
		// Receive hands over every packet that is ready (nfq.Config's
		// BatchReads); their verdicts leave together, in one write.
		err := w.q.Receive(w.handleFn)
		w.flush()
		// A goroutine that runs (system calls included) for 10 ms
		// without going through the scheduler gets a preemption signal,
		// which interrupts its system call and costs far more than
		// yielding now and then; under load the loop never waits, so
		// it yields between two batches.
		if now := time.Now(); now.Sub(lastYield) >= yieldEvery {
			lastYield = now
			runtime.Gosched()
		}
		if err == nil {
			errs = 0
			continue
		}
		if nfq.IsInterrupted(err) {
			if w.stopping.Load() {
				return
			}
			continue // a poll period without packets
		}
		switch {
		case errors.Is(err, ctnl.ErrLostEvents):
			w.stats.QueueOverflows.Add(1)
			if d, derr := w.q.Drops(); derr == nil {
				w.stats.SocketDrops.Store(uint64(d))
			}
			w.logLimited(limOverflow, slog.LevelWarn, "queue overflow: the kernel dropped packets for this queue (raise the receive buffer, lower the load, or use --fail-open)")
			continue
		case ctnl.Errno(err) != 0:
			// The kernel refused a verdict (its error comes back on the
			// next read).
			w.stats.VerdictErrors.Add(1)
			w.logLimited(limVerdict, slog.LevelWarn, "kernel refused a verdict", "err", err)
		default:
			w.logLimited(limReceive, slog.LevelWarn, "receive", "err", err)
		}
		if errs++; errs >= maxConsecutiveErrors {
			w.err = fmt.Errorf("queue %d: giving up after %d consecutive errors: %w", w.q.Num(), errs, err)
			return
		}
	}
}

func (w *worker) stop() {
	w.stopping.Store(true)
	w.q.Interrupt()
	<-w.done
	if w.sync != nil {
		w.sync.Close()
	}
}

// handle serves one packet: decode, parse (guarded), verdict. Whatever
// goes wrong, the packet gets a verdict — ACCEPT un-helped unless the
// parser decided otherwise. The verdict is staged: run's flush sends it
// with the others of the same read.
func (w *worker) handle(p *nfq.Packet) error {
	w.prepare(p)
	return w.send()
}

// prepare does everything for one packet but send the verdict it builds
// in w.v.
func (w *worker) prepare(p *nfq.Packet) {
	s := w.cur.Load()
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
		err = decodeConntrack(p.CT, &w.ct)
	}
	if err != nil {
		st.Malformed.Add(1)
		w.logLimited(limMalformed, slog.LevelDebug, "malformed packet accepted un-helped", "err", err)
		w.accept(p)
		return
	}
	pk := &w.pkt
	pk.Info = cthelper.CTInfo(p.CTInfo)
	pk.Dir = pk.Info.Direction()
	pk.Orig, pk.Reply = w.ct.orig, w.ct.reply
	n := copy(w.priv[:s.privLen], w.ct.info)
	clear(w.priv[n:s.privLen])
	pk.Priv = w.priv[:s.privLen]
	st.BytesSeen.Add(uint64(len(pk.Payload)))

	w.res.Reset()
	if perr, panicked := w.parse(s.parser); panicked {
		st.Panics.Add(1)
		w.accept(p)
		return
	} else if perr != nil {
		st.ParseErrors.Add(1)
		w.logLimited(limParseError, slog.LevelDebug, "parser refused a packet; accepted un-helped", "err", perr)
		w.accept(p)
		return
	}
	r := &w.res

	verdict := nfq.Accept
	if r.Verdict == cthelper.Drop {
		verdict = nfq.Drop
	}
	// NATed expectations whose port the payload announces are placed
	// first, one at a time, so that a port another connection holds can
	// be renumbered before the rewritten payload leaves.
	var placed [cthelper.MaxExpects]bool
	noPort := false
	if rn, ok := s.parser.(cthelper.PortRenumberer); ok && r.NRewrites > 0 && w.ct.confirmed() {
		if noPort = !w.placeNATExpects(s, rn, &placed); noPort {
			verdict = nfq.Drop
			r.NRewrites = 0
		}
	}
	w.v.Start(p.Queue, p.ID, verdict)
	// Expectations through ctnetlink ride in the same datagram as the
	// verdict, ahead of it: nfnetlink creates them before it releases the
	// packet, so the expected connection cannot arrive first. They ask
	// for no acknowledgement (one message less to read per exchange):
	// the kernel answers a refusal all the same, on the queue's socket
	// (onAck), where it is counted and logged.
	inVerdict := -1
	if r.NExpects > 0 && !noPort {
		switch {
		case s.expectVia == ExpectVerdict || (s.expectVia == ExpectAuto && !w.ct.confirmed()):
			inVerdict = 0
		case s.expectVia == ExpectAuto:
			inVerdict = helperExpect(r)
		}
		for i := 0; i < r.NExpects; i++ {
			if i == inVerdict || placed[i] {
				continue
			}
			ex := w.expectation(s, &r.Expects[i], true)
			w.enc.Reset()
			ex.Encode(&w.enc)
			w.v.Request(subsysCtnetlinkExp, ctnetlink.MsgExpNew, pk.Family, unix.NLM_F_CREATE, 0, w.enc.Bytes())
			st.ExpectCtnetlink.Add(1)
		}
	}
	if r.PrivChanged {
		w.v.HelpInfo(s.name, pk.Priv)
		st.PrivUpdates.Add(1)
	}
	if r.Timeout > 0 {
		w.v.Timeout(r.Timeout)
		st.TimeoutUpdates.Add(1)
	}
	if inVerdict >= 0 && !placed[inVerdict] {
		ex := w.expectation(s, &r.Expects[inVerdict], false)
		ex.Encode(w.v.Expect())
		st.ExpectInVerdict.Add(1)
	}
	if r.NRewrites > 0 {
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

// parse calls the parser, turning a panic into a counted, logged event.
func (w *worker) parse(p cthelper.Parser) (err error, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			w.logLimited(limPanic, slog.LevelError, "helper parser panicked; packet accepted un-helped",
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	return p.Parse(&w.pkt, &w.res), false
}

// accept prepares a plain ACCEPT: the packet passes un-helped.
func (w *worker) accept(p *nfq.Packet) {
	w.v.Start(p.Queue, p.ID, nfq.Accept)
	w.stats.Accepted.Add(1)
}

// send stages the verdict built in w.v.
func (w *worker) send() error {
	n := w.q.Staged()
	if err := w.q.Stage(&w.v); err != nil {
		w.sendFailed(n, err)
	}
	return nil
}

// flush writes the staged verdicts.
func (w *worker) flush() {
	n := w.q.Staged()
	if err := w.q.Flush(); err != nil {
		w.sendFailed(n, err)
	}
}

func (w *worker) sendFailed(n int, err error) {
	w.stats.VerdictErrors.Add(uint64(n))
	w.logLimited(limVerdict, slog.LevelError, "send verdict", "err", err, "verdicts", n)
}

// expectation turns a parser's Expect into the kernel's expectation for
// the current packet's master.
func (w *worker) expectation(s *serving, x *cthelper.Expect, master bool) expect.Expectation {
	pk := &w.pkt
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
	if master {
		e.Master = w.ct.orig
		e.Master.HasZone = false
		e.Zone, e.HasZone = w.ct.zone, w.ct.hasZone
	}
	if x.NAT {
		e.NAT = expect.NAT{Set: true, Dir: uint32(x.NATDir),
			Tuple: ctnetlink.Tuple{Src: x.NATAddr, Dst: zero, Proto: proto, SrcPort: x.NATPort}}
		e.Fn = "nat-follow-master"
	}
	return e
}

// maxPortTries bounds the ports tried for one expectation, as the kernel
// bounds its NAT helpers' search: a worker waits for each answer, and a
// range that busy is better refused (the peer asks again) than searched
// while the queue fills.
const maxPortTries = 128

// placeNATExpects creates the NATed expectations of the current packet
// through ctnetlink, one at a time and before the verdict: where another
// connection's expectation holds the tuple, it moves the expectation to
// the next port (the parser re-renders the announcing rewrite) and tries
// again. It marks in placed what it handled, and reports false when an
// expectation found no free port: the packet is then dropped unchanged
// and its sender's retransmission tries again.
func (w *worker) placeNATExpects(s *serving, rn cthelper.PortRenumberer, placed *[cthelper.MaxExpects]bool) bool {
	r := &w.res
	for i := 0; i < r.NExpects; i++ {
		x := &r.Expects[i]
		if !x.NAT {
			continue
		}
		placed[i] = true
		for tries := 1; ; tries++ {
			err := w.createNow(s, x)
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
			if rerr := rn.RenumberPort(r, i, x.DstPort+1); rerr != nil {
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

// createNow creates one expectation and waits for the kernel's answer.
// It asks for an exclusive create: a plain create would quietly refresh
// another master's expectation of the same tuple. An existing expectation
// of this same master (a retransmitted command) counts as created.
func (w *worker) createNow(s *serving, x *cthelper.Expect) error {
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
	e := w.expectation(s, x, true)
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

// Kinds of rate-limited log messages: each kind has its own period, so a
// flood of one does not hide another.
const (
	limNoConntrack = iota
	limMalformed
	limParseError
	limPanic
	limExpect
	limVerdict
	limOverflow
	limReceive
	numLimits
)

func (w *worker) logLimited(kind int, level slog.Level, msg string, args ...any) {
	w.limits[kind].log(w.log, level, msg, args...)
}

// rateLimit logs at most once per period; the next message says how many
// were suppressed meanwhile.
type rateLimit struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// logPeriod is the rate period of repeated warnings.
const logPeriod = 10 * time.Second

func (r *rateLimit) log(l *slog.Logger, level slog.Level, msg string, args ...any) {
	if !l.Enabled(context.Background(), level) {
		return
	}
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < logPeriod {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.Log(context.Background(), level, msg, args...)
}
