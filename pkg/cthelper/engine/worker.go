package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/gonfct/gonfct/pkg/nfq"
)

// worker serves one queue on its own goroutine and sockets.
type worker struct {
	q     *nfq.Queue
	log   *slog.Logger
	stats *Stats
	// cur is the helper the worker serves its packets with; a reload
	// swaps it atomically between two packets.
	cur atomic.Pointer[Serving]

	// dial opens the ctnetlink socket for expectations that must be placed
	// before the verdict is written (port clashes under NAT); sync is that
	// socket, opened at first need, and exps the client on it.
	dial func() (*ctnl.Conn, error)
	sync *ctnl.Conn
	exps *expect.Client

	stopping atomic.Bool
	draining atomic.Bool // serve until the queue stays empty for drainQuiet, then return
	done     chan struct{}
	err      error // why the worker stopped on its own

	// Per-packet scratch, reused: the common path allocates nothing.
	handleFn func(*nfq.Packet) error
	v        nfq.Verdict
	pkt      cthelper.Packet
	view     conntrackView
	ct       Conntrack
	plan     Plan
	out      []byte
	enc      ctnl.Encoder
	limits   [numLimits]rateLimit
}

func newWorker(q *nfq.Queue, s *Serving, log *slog.Logger, stats *Stats, dial func() (*ctnl.Conn, error)) *worker {
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
		// With none ready it parks in the netpoller (why: the kernel
		// socket's Recv in pkg/ctnl).
		err := w.q.Receive(w.handleFn)
		w.flush()
		if err == nil && w.draining.Load() {
			w.q.InterruptAfter(drainQuiet)
		}
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
			// stop's interrupt, or drainQuiet without packets while
			// the engine drains: the queue is empty.
			if w.stopping.Load() || w.draining.Load() {
				return
			}
			continue
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

// drain makes the worker return once its queue stays empty for
// drainQuiet.
func (w *worker) drain() {
	w.draining.Store(true)
	w.q.InterruptAfter(drainQuiet)
}

func (w *worker) stop() {
	w.stopping.Store(true)
	w.q.Interrupt()
	<-w.done
	if w.sync != nil {
		w.sync.Close()
	}
}

// handle serves one packet: decode, decide, apply (prepare), then stage
// the verdict: run's flush sends it with the others of the same read.
func (w *worker) handle(p *nfq.Packet) error {
	w.prepare(p)
	return w.send()
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
