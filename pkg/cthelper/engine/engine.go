// Package engine is gonfct's user-space helper engine: it binds one
// NFQUEUE per helper with the conntrack glue, creates and enables the
// helper objects that feed those queues, runs each queued packet through
// its protocol parser (guarded against panics), and answers with a
// verdict carrying only what changed: new private data (CTA_HELP_INFO),
// an expectation (NFQA_EXP), a rewritten packet. Further expectations go
// through ctnetlink. Each queue is served by its own goroutine and
// sockets.
package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/nfq"
)

// pollPeriod is how long a queue's worker waits in poll(2) before it
// looks at its stop flag: the bound on Stop's wait for a worker.
const pollPeriod = 100 * time.Millisecond

// Options are the engine's surroundings.
type Options struct {
	// Dial opens a netfilter socket in the namespace to serve.
	Dial func() (*ctnl.Conn, error)
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Metrics receives the counters; nil makes a private set.
	Metrics *Metrics
	// DrainTime is how long queues keep being served after the helpers
	// are disabled at Stop, for packets already queued (0: 100 ms).
	DrainTime time.Duration
}

// Engine serves a set of helpers. Start, Reload and Stop must not be
// called concurrently.
type Engine struct {
	opts    Options
	cfg     Config
	ctl     *cthelper.Client
	ctlConn *ctnl.Conn
	workers map[uint16]*worker
	served  map[uint16]queueConfig
	// failed receives a worker that stopped on its own.
	failed chan *worker
	mu     sync.Mutex
}

// New makes an engine.
func New(opts Options) *Engine {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.DrainTime == 0 {
		opts.DrainTime = 100 * time.Millisecond
	}
	return &Engine{opts: opts, workers: map[uint16]*worker{}, served: map[uint16]queueConfig{}, failed: make(chan *worker, 16)}
}

// Metrics is the engine's counter set.
func (e *Engine) Metrics() *Metrics { return e.opts.Metrics }

// Failed delivers an error when a queue's worker stops on its own.
func (e *Engine) Failed() <-chan error {
	ch := make(chan error, 1)
	go func() {
		w, ok := <-e.failed
		if ok {
			ch <- w.err
		}
	}()
	return ch
}

// Start validates cfg, binds every queue (with the conntrack glue), then
// creates or updates each helper object and enables it, and starts
// serving. Queues are bound before their helpers are enabled, so no
// packet is queued to nobody. On error everything done so far is undone.
func (e *Engine) Start(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	c, err := e.opts.Dial()
	if err != nil {
		return err
	}
	e.ctlConn, e.ctl = c, cthelper.NewClient(c)
	e.cfg = cfg
	for _, qc := range cfg.queues() {
		if err := e.startQueue(qc); err != nil {
			e.abort()
			return err
		}
	}
	return nil
}

// startQueue binds one queue, enables its helpers and starts its worker.
func (e *Engine) startQueue(qc queueConfig) error {
	conn, err := e.opts.Dial()
	if err != nil {
		return err
	}
	q, err := nfq.Bind(conn, nfq.Config{Num: qc.num, MaxLen: qc.queueLen, Conntrack: true, FailOpen: e.cfg.FailOpen,
		ReceiveBuffer: e.cfg.ReceiveBuffer, PollReads: pollPeriod})
	if err != nil {
		conn.Close()
		return err
	}
	log := e.opts.Log.With("helper", qc.name, "queue", qc.num)
	if size, err := q.ReceiveBuffer(); err != nil {
		log.Warn("socket receive buffer not enlarged: the queue overflows sooner under bursts", "err", err)
	} else {
		log.Debug("queue bound", "receive_buffer", size, "queue_len", qc.queueLen, "fail_open", e.cfg.FailOpen)
	}
	w := newWorker(q, e.serving(qc), log, e.opts.Metrics.For(qc.num, qc.name), e.opts.Dial)
	e.workers[qc.num] = w
	e.served[qc.num] = qc
	go func() {
		w.run()
		if w.err != nil {
			log.Error("queue worker stopped", "err", w.err)
			select {
			case e.failed <- w:
			default:
			}
		}
	}()
	for _, o := range qc.objects {
		o.Status = cthelper.Enabled
		if err := e.ctl.Add(&o, true); err != nil {
			return err
		}
		log.Info("helper enabled", "family", ctnl.FamilyName(o.Family), "proto", ctnl.ProtoName(o.Proto),
			"policies", policiesText(o.Policies), "queue_len", qc.queueLen)
	}
	return nil
}

func (e *Engine) serving(qc queueConfig) *serving {
	return &serving{name: qc.name, parser: qc.parser, privLen: int(qc.privLen), expectVia: e.cfg.ExpectVia}
}

func policiesText(ps []cthelper.Policy) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%s/%d/%ds", p.Name, p.ExpectMax, p.ExpectTimeout)
	}
	return s
}

// abort undoes a failed Start: helpers enabled so far are disabled (never
// deleted: they may have existed before), queues unbound.
func (e *Engine) abort() {
	for num, qc := range e.served {
		e.cleanupQueue(qc, CleanupDisable)
		e.stopWorker(num)
	}
	if e.ctlConn != nil {
		e.ctlConn.Close()
		e.ctlConn = nil
	}
}

func (e *Engine) stopWorker(num uint16) {
	w := e.workers[num]
	if w == nil {
		return
	}
	w.stop()
	if err := w.q.Close(); err != nil {
		e.opts.Log.Warn("unbind queue", "queue", num, "err", err)
	}
	delete(e.workers, num)
	delete(e.served, num)
}

// cleanupQueue applies the cleanup policy to a queue's helper objects.
func (e *Engine) cleanupQueue(qc queueConfig, how Cleanup) error {
	var errs []error
	for _, o := range qc.objects {
		log := e.opts.Log.With("helper", o.Name, "family", ctnl.FamilyName(o.Family), "proto", ctnl.ProtoName(o.Proto))
		switch how {
		case CleanupNone:
			log.Info("helper left enabled (--cleanup none): its traffic is dropped until an engine serves queue again", "queue", qc.num)
		case CleanupDelete:
			err := e.ctl.Delete(o.Name, o.Family, o.Proto)
			if err == nil {
				log.Info("helper deleted")
				continue
			}
			if errors.Is(err, ctnl.ErrNotFound) {
				continue
			}
			log.Warn("cannot delete helper, disabling it instead", "err", err)
			fallthrough
		case CleanupDisable:
			if err := e.ctl.SetStatus(o.Name, o.Family, o.Proto, cthelper.Disabled); err != nil && !errors.Is(err, ctnl.ErrNotFound) {
				log.Error("disable helper", "err", err)
				errs = append(errs, err)
				continue
			}
			log.Info("helper disabled")
		}
	}
	return errors.Join(errs...)
}

// Stop applies the cleanup policy to every helper, serves what is still
// queued for a moment, then stops the workers and unbinds the queues.
func (e *Engine) Stop() error {
	var errs []error
	for _, qc := range e.served {
		if err := e.cleanupQueue(qc, e.cfg.Cleanup); err != nil {
			errs = append(errs, err)
		}
	}
	if e.cfg.Cleanup != CleanupNone {
		time.Sleep(e.opts.DrainTime)
	}
	for num := range e.workers {
		e.stopWorker(num)
	}
	if e.ctlConn != nil {
		e.ctlConn.Close()
		e.ctlConn = nil
	}
	return errors.Join(errs...)
}

// Reload switches to a new configuration without dropping the queues it
// keeps: a queue whose helper stays gets the new parser, options and
// policies between two packets; new queues are bound and their helpers
// enabled; queues no longer configured get the cleanup policy and are
// unbound. The new configuration is validated first; if it is refused,
// the old one keeps running.
func (e *Engine) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		e.opts.Metrics.ReloadErrors.Add(1)
		return err
	}
	next := map[uint16]queueConfig{}
	for _, qc := range cfg.queues() {
		next[qc.num] = qc
	}
	// A kept queue must keep its helper name and private-data length:
	// otherwise it is a different helper, served by a fresh queue. A
	// helper no longer configured is disabled (deleted with --cleanup
	// delete).
	removal := CleanupDisable
	if cfg.Cleanup == CleanupDelete {
		removal = CleanupDelete
	}
	for num, old := range e.served {
		if nq, ok := next[num]; !ok || nq.name != old.name || nq.privLen != old.privLen {
			if err := e.cleanupQueue(old, removal); err != nil {
				e.opts.Log.Warn("reload: remove helper", "err", err)
			}
			e.stopWorker(num)
		}
	}
	e.cfg = cfg
	var errs []error
	for _, qc := range cfg.queues() {
		if old, kept := e.served[qc.num]; kept {
			if qc.queueLen != old.queueLen {
				// The queue's socket belongs to its worker mid-read; a
				// config command there could swallow a packet.
				e.opts.Log.Warn("reload: a new QueueLen takes effect at the next start", "queue", qc.num,
					"running", old.queueLen, "configured", qc.queueLen)
			}
			w := e.workers[qc.num]
			w.cur.Store(e.serving(qc))
			for _, o := range qc.objects {
				o.Status = cthelper.Enabled
				if err := e.ctl.Add(&o, true); err != nil {
					errs = append(errs, err)
				}
			}
			// Objects of the old queue no longer listed (another family).
			for _, o := range old.objects {
				if !hasObject(qc.objects, o) {
					_ = e.cleanupQueue(queueConfig{num: qc.num, objects: []cthelper.Helper{o}}, removal)
				}
			}
			e.served[qc.num] = qc
			continue
		}
		if err := e.startQueue(qc); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		e.opts.Metrics.ReloadErrors.Add(1)
		return err
	}
	e.opts.Metrics.Reloads.Add(1)
	return nil
}

func hasObject(list []cthelper.Helper, o cthelper.Helper) bool {
	for _, x := range list {
		if x.Name == o.Name && x.Family == o.Family && x.Proto == o.Proto {
			return true
		}
	}
	return false
}
