// Package engine is gonfct's user-space helper engine: it binds one
// NFQUEUE per helper with the conntrack glue, creates and enables the
// helper objects that feed those queues, runs each queued packet through
// its protocol parser (guarded against panics), and answers with a
// verdict carrying only what changed: new private data (CTA_HELP_INFO),
// an expectation (NFQA_EXP), a rewritten packet. Further expectations go
// through ctnetlink. Each queue is served by its own goroutine and
// sockets.
//
// One engine serves many network namespaces: helper objects are global
// to the kernel, so it creates each once, while queues and conntrack
// tables belong to a namespace, so it binds each queue in every namespace
// it serves. Engines of one host coordinate through a registry (package
// registry) so that none re-points or disables a helper another serves.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/ctnl"
)

// drainQuiet is how long a draining queue must stay empty before its
// worker returns.
const drainQuiet = 100 * time.Millisecond

// batchReads is how many queued packets a worker takes per read: under
// load one recvmmsg(2) and one write serve this many packets instead of
// two system calls each. Each costs a 96 KiB receive buffer.
const batchReads = 16

// Options are the engine's surroundings.
type Options struct {
	// Dial opens a netfilter socket in the engine's own namespace: for
	// the helper objects (global to the kernel, reachable from any
	// namespace), and for the queues when Config.Netns is empty.
	Dial func() (*ctnl.Conn, error)
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Metrics receives the counters; nil makes a private set.
	Metrics *Metrics
	// DrainTime bounds how long the queues keep being served after Run
	// disabled the helpers, for the packets queued already: each queue is
	// served until it stays empty for drainQuiet (0: at most 1 s).
	DrainTime time.Duration
	// Registry, when set, is where the engine registers the helpers it
	// serves: Start and Reload refuse a helper another live engine
	// serves (a *registry.ConflictError), and Stop leaves enabled a
	// helper another engine serves. Nil: no coordination.
	Registry *registry.Dir
	// NetnsPoll is how often the namespaces Config.Netns names are looked
	// at again, for ones made or deleted since, where inotify cannot tell
	// (a namespace named by a /proc path, a directory not there yet);
	// elsewhere changes are seen at once (0: 250 ms).
	NetnsPoll time.Duration
	// FitProcs keeps GOMAXPROCS at the number of queues bound (at least
	// 1, at most the CPUs): see fitProcs.
	FitProcs bool
}

// Engine serves a set of helpers: Start, then Run until its context
// ends; Reload may be called while Run serves (not concurrently with
// Start or another Reload).
type Engine struct {
	opts    Options
	cfg     Config
	ctl     *cthelper.Client
	ctlConn *ctnl.Conn
	// served are the queues whose helper objects the engine enabled.
	served map[uint16]queueConfig
	// nets are the namespaces served, by name ("" the engine's own).
	nets map[string]*netns
	// refused are namespaces whose queues could not be bound, not tried
	// again until their identity changes.
	refused map[string]nsID
	claim   *registry.Claim
	started time.Time
	watch   *watcher
	// failed receives a worker that stopped on its own.
	failed chan *worker
	// stopped: Run has begun to stop; a Reload is refused.
	stopped bool
	// mu guards the namespaces and queues against the namespace watcher,
	// and Reload against Run's stop.
	mu sync.Mutex
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
		opts.DrainTime = time.Second
	}
	if opts.NetnsPoll == 0 {
		opts.NetnsPoll = 250 * time.Millisecond
	}
	return &Engine{opts: opts, served: map[uint16]queueConfig{}, nets: map[string]*netns{}, refused: map[string]nsID{},
		failed: make(chan *worker, 16)}
}

// Metrics is the engine's counter set.
func (e *Engine) Metrics() *Metrics { return e.opts.Metrics }

// Start validates cfg, registers the engine, binds every queue (with the
// conntrack glue) in every namespace it serves, then creates or updates
// each helper object and enables it, and starts serving. Queues are
// bound before their helpers are enabled, so no packet is queued to
// nobody. On error everything done so far is undone.
func (e *Engine) Start(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	found, err := lookNetns(cfg.Netns)
	if err != nil {
		return err
	}
	e.started = time.Now()
	if e.opts.Registry != nil {
		c, err := e.opts.Registry.Register(e.entry(cfg, nsNames(found)))
		if err != nil {
			return err
		}
		e.claim = c
	}
	c, err := e.opts.Dial()
	if err != nil {
		e.abort()
		return err
	}
	e.ctlConn, e.ctl = c, cthelper.NewClient(c)
	e.cfg = cfg
	if err := e.applyNetns(found, true); err != nil {
		e.abort()
		return err
	}
	if err := e.enable(true); err != nil {
		e.abort()
		return err
	}
	if len(cfg.Netns) > 0 {
		e.watch = e.startWatcher()
	}
	return nil
}

// lookNetns finds the namespaces words name now: every named one must be
// there. No words: the engine's own namespace.
func lookNetns(words []string) ([]nsFile, error) {
	if len(words) == 0 {
		return []nsFile{{name: "", named: true}}, nil
	}
	found, missing, _ := nsSources(words).scan()
	return found, errors.Join(missing...)
}

// entry is what the registry says of the engine serving cfg in the
// namespaces of those names.
func (e *Engine) entry(cfg Config, netns []string) registry.Entry {
	r := registry.Entry{PID: os.Getpid(), Started: e.started, Follows: nsSources(cfg.Netns).follows(), Netns: netns}
	if r.Netns == nil {
		r.Netns = []string{}
	}
	if slices.Contains(netns, "") {
		r.Own = OwnNetnsName()
	}
	for _, qc := range cfg.queues() {
		for _, o := range qc.objects {
			r.Helpers = append(r.Helpers, registryHelper(o))
		}
	}
	return r
}

func registryHelper(o cthelper.Helper) registry.Helper {
	return registry.Helper{Name: o.Name, Family: ctnl.FamilyName(o.Family), Proto: ctnl.ProtoName(o.Proto), Queue: uint16(o.QueueNum)}
}

// enable creates or updates every helper object of the configuration and
// enables it.
func (e *Engine) enable(logIt bool) error {
	var errs []error
	for _, qc := range e.cfg.queues() {
		e.served[qc.num] = qc
		for _, o := range qc.objects {
			o.Status = cthelper.Enabled
			if err := e.ctl.Add(&o, true); err != nil {
				errs = append(errs, err)
				continue
			}
			if logIt {
				e.opts.Log.Info("helper enabled", "helper", o.Name, "family", ctnl.FamilyName(o.Family), "proto", ctnl.ProtoName(o.Proto),
					"queue", qc.num, "policies", policiesText(o.Policies), "queue_len", qc.queueLen)
			}
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) serving(qc queueConfig, p cthelper.Parser) *Serving {
	return &Serving{Name: qc.name, Parser: p, PrivLen: int(qc.privLen), ExpectVia: e.cfg.ExpectVia}
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
// deleted: they may have existed before), queues unbound, the registry
// entry removed.
func (e *Engine) abort() {
	for _, qc := range e.served {
		e.cleanupQueue(qc, CleanupDisable, nil)
	}
	e.served = map[uint16]queueConfig{}
	e.dropAll()
	if e.claim != nil {
		e.claim.Release(nil)
		e.claim = nil
	}
}

// dropAll lets go of every namespace and of the control socket.
func (e *Engine) dropAll() {
	for _, n := range e.nets {
		e.dropNetns(n)
	}
	if e.ctlConn != nil {
		e.ctlConn.Close()
		e.ctlConn = nil
	}
}

// cleanupQueue applies the cleanup policy to a queue's helper objects,
// except those another live engine serves.
func (e *Engine) cleanupQueue(qc queueConfig, how Cleanup, others []registry.Entry) error {
	var errs []error
	for _, o := range qc.objects {
		log := e.opts.Log.With("helper", o.Name, "family", ctnl.FamilyName(o.Family), "proto", ctnl.ProtoName(o.Proto))
		if holder, ok := servedElsewhere(o, others); ok {
			log.Info("helper left enabled: another engine serves it", "pid", holder.PID, "netns", holder.NetnsText())
			continue
		}
		switch how {
		case CleanupNone:
			log.Info("helper left enabled (--cleanup none): its packets pass un-helped wherever no engine listens on its queue", "queue", qc.num)
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

func servedElsewhere(o cthelper.Helper, others []registry.Entry) (registry.Entry, bool) {
	h := registryHelper(o)
	for _, x := range others {
		if _, ok := x.Serves(h); ok {
			return x, true
		}
	}
	return registry.Entry{}, false
}

// ErrStopped is Reload's error once Run has begun to stop.
var ErrStopped = errors.New("engine stopped")

// Run serves the queues Start bound until ctx ends or a queue's worker
// stops on its own (its socket keeps failing), then stops: it applies the
// cleanup policy to every helper no other live engine serves, serves what
// is still queued until each queue is empty (at most Options.DrainTime),
// stops the workers and unbinds the queues. It returns once every worker
// has returned: nil when ctx ended, else the worker's error, joined with
// what the stop could not do. With a registry the stop happens under its
// lock, so that no engine starting meanwhile has a helper disabled under
// it. Call Run once after a successful Start; a context already done
// stops at once.
func (e *Engine) Run(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case w := <-e.failed:
		err = w.err
	}
	return errors.Join(err, e.stop())
}

func (e *Engine) stop() error {
	e.mu.Lock()
	e.stopped = true
	watch := e.watch
	e.watch = nil
	e.mu.Unlock()
	if watch != nil {
		watch.stop() // it takes mu
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	finish := func(others []registry.Entry) {
		for _, qc := range e.served {
			if err := e.cleanupQueue(qc, e.cfg.Cleanup, others); err != nil {
				errs = append(errs, err)
			}
		}
		if e.cfg.Cleanup != CleanupNone {
			e.drain()
		}
		e.dropAll()
	}
	if e.claim != nil {
		if err := e.claim.Release(finish); err != nil {
			errs = append(errs, err)
		}
		e.claim = nil
	} else {
		finish(nil)
	}
	return errors.Join(errs...)
}

// drain lets every worker serve what is queued already, each until its
// queue stays empty for drainQuiet, for at most DrainTime; dropAll
// then stops those still serving.
func (e *Engine) drain() {
	var ws []*worker
	for _, n := range e.nets {
		for _, b := range n.queues {
			b.w.drain()
			ws = append(ws, b.w)
		}
	}
	limit := time.NewTimer(e.opts.DrainTime)
	defer limit.Stop()
	for _, w := range ws {
		select {
		case <-w.done:
		case <-limit.C:
			return
		}
	}
}

// Reload switches to a new configuration without dropping the queues it
// keeps: a queue whose helper stays gets the new parser, options and
// policies between two packets; new queues are bound (in every namespace
// served) and their helpers enabled; queues no longer configured get the
// cleanup policy and are unbound; namespaces no longer named are let go,
// new ones served. The new configuration is validated (and registered)
// first; if it is refused, the old one keeps running.
func (e *Engine) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		e.opts.Metrics.ReloadErrors.Add(1)
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return ErrStopped
	}
	found, err := lookNetns(cfg.Netns)
	if err == nil && e.claim != nil {
		err = e.claim.Update(e.entry(cfg, nsNames(found)))
	}
	if err != nil {
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
		nq, ok := next[num]
		if !ok || nq.name != old.name || nq.privLen != old.privLen {
			if err := e.cleanupQueue(old, removal, nil); err != nil {
				e.opts.Log.Warn("reload: remove helper", "err", err)
			}
			for _, n := range e.nets {
				e.unbindQueue(n, num)
			}
			delete(e.served, num)
			continue
		}
		// Objects of the queue no longer listed (another family).
		for _, o := range old.objects {
			if !hasObject(nq.objects, o) {
				_ = e.cleanupQueue(queueConfig{num: num, objects: []cthelper.Helper{o}}, removal, nil)
			}
		}
	}
	e.cfg = cfg
	var errs []error
	if err := e.applyNetns(found, false); err != nil {
		errs = append(errs, err)
	}
	for _, n := range e.nets {
		if err := e.syncQueues(n); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.enable(false); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.Netns) > 0 && e.watch == nil {
		e.watch = e.startWatcher()
	} else if e.watch != nil {
		e.watch.replan() // the words may name other directories now
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
