package engine

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/nfq"
)

// This file is what the engine keeps per namespace it serves: the
// namespace held open, and a bound queue with its worker for each queue
// the configuration serves there.

// netns is one namespace served.
type netns struct {
	name string
	id   nsID
	fd   *os.File // nil for the engine's own namespace
	dial func() (*ctnl.Conn, error)
	// queues are the queues bound here.
	queues map[uint16]*boundQueue
}

// boundQueue is a queue bound in a namespace, and what it was bound for.
type boundQueue struct {
	w        *worker
	queueLen uint32
}

// applyNetns serves the namespaces found that are not served yet and
// lets go of those no longer found (deleted, or another namespace under
// the same name). With strict (at Start) a namespace named itself whose
// queues cannot be bound is an error; otherwise such a namespace is
// logged and left alone until its identity changes. The registry entry
// follows the change.
func (e *Engine) applyNetns(found []nsFile, strict bool) error {
	changed := false
	for name, n := range e.nets {
		if !containsNetns(found, name, n.id) {
			e.dropNetns(n)
			e.opts.Log.Info("namespace let go", "netns", name, "why", "deleted, or no longer configured")
			changed = true
		}
	}
	for name := range e.refused {
		if !slices.ContainsFunc(found, func(f nsFile) bool { return f.name == name }) {
			delete(e.refused, name) // gone: forget it, it may come back another
		}
	}
	for _, f := range found {
		if e.nets[f.name] != nil {
			continue
		}
		if id, ok := e.refused[f.name]; ok && id == f.id {
			continue
		}
		if err := e.addNetns(f); err != nil {
			if strict && f.named {
				return err
			}
			e.refused[f.name] = f.id
			e.opts.Log.Error("namespace not served", "netns", f.name, "err", err)
			continue
		}
		delete(e.refused, f.name)
		changed = true
		if !strict {
			e.opts.Log.Info("serving namespace", "netns", f.name, "queues", len(e.nets[f.name].queues))
		}
	}
	if changed && !strict && e.claim != nil {
		names := make([]string, 0, len(e.nets))
		for name := range e.nets {
			names = append(names, name)
		}
		slices.Sort(names)
		if err := e.claim.Update(e.entry(e.cfg, names)); err != nil {
			e.opts.Log.Warn("engine registry not updated", "err", err)
		}
	}
	return nil
}

func containsNetns(found []nsFile, name string, id nsID) bool {
	for _, f := range found {
		if f.name == name && f.id == id {
			return true
		}
	}
	return false
}

// addNetns begins serving a namespace: it is held open and its queues
// are bound.
func (e *Engine) addNetns(f nsFile) error {
	n := &netns{name: f.name, id: f.id, dial: e.opts.Dial, queues: map[uint16]*boundQueue{}}
	if f.path != "" {
		fd, err := openNetns(f)
		if err != nil {
			return err
		}
		n.fd, n.dial = fd, dialVia(fd)
	}
	e.nets[n.name] = n
	if err := e.syncQueues(n); err != nil {
		e.dropNetns(n)
		return err
	}
	return nil
}

// dropNetns unbinds a namespace's queues and lets go of it.
func (e *Engine) dropNetns(n *netns) {
	for num := range n.queues {
		e.unbindQueue(n, num)
	}
	if n.fd != nil {
		n.fd.Close()
	}
	delete(e.nets, n.name)
	e.opts.Metrics.drop(n.name)
}

// syncQueues binds in n the queues the configuration serves there that
// are not bound yet, gives the bound ones their (new) parser, and unbinds
// those no longer served there.
func (e *Engine) syncQueues(n *netns) error {
	want := map[uint16]bool{}
	var errs []error
	for _, qc := range e.cfg.queues() {
		p, ok := qc.parserFor(n.name)
		if !ok {
			continue
		}
		want[qc.num] = true
		if b := n.queues[qc.num]; b != nil {
			if qc.queueLen != b.queueLen {
				// The queue's socket belongs to its worker mid-read; a
				// config command there could swallow a packet.
				e.opts.Log.Warn("reload: a new QueueLen takes effect at the next start", "netns", n.name, "queue", qc.num,
					"running", b.queueLen, "configured", qc.queueLen)
			}
			b.w.cur.Store(e.serving(qc, p))
			continue
		}
		if err := e.bindQueue(n, qc, p); err != nil {
			errs = append(errs, err)
		}
	}
	for num := range n.queues {
		if !want[num] {
			e.unbindQueue(n, num)
		}
	}
	return errors.Join(errs...)
}

// bindQueue binds one queue in n and starts its worker.
func (e *Engine) bindQueue(n *netns, qc queueConfig, p cthelper.Parser) error {
	conn, err := n.dial()
	if err != nil {
		return err
	}
	q, err := nfq.Bind(conn, nfq.Config{Num: qc.num, MaxLen: qc.queueLen, Conntrack: true, FailOpen: e.cfg.FailOpen,
		ReceiveBuffer: e.cfg.ReceiveBuffer, BatchReads: batchReads})
	if err != nil {
		conn.Close()
		if n.name != "" {
			return &NetnsError{Netns: n.name, Err: err}
		}
		return err
	}
	log := e.opts.Log
	if n.name != "" {
		log = log.With("netns", n.name)
	}
	log = log.With("helper", qc.name, "queue", qc.num)
	if size, err := q.ReceiveBuffer(); err != nil {
		log.Warn("socket receive buffer not enlarged: the queue overflows sooner under bursts", "err", err)
	} else {
		log.Debug("queue bound", "receive_buffer", size, "queue_len", qc.queueLen, "fail_open", e.cfg.FailOpen)
	}
	w := newWorker(q, e.serving(qc, p), log, e.opts.Metrics.For(n.name, qc.num, qc.name), n.dial)
	n.queues[qc.num] = &boundQueue{w: w, queueLen: qc.queueLen}
	e.fitProcs()
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
	return nil
}

// unbindQueue stops a queue's worker and unbinds it.
func (e *Engine) unbindQueue(n *netns, num uint16) {
	b := n.queues[num]
	if b == nil {
		return
	}
	b.w.stop()
	if err := b.w.q.Close(); err != nil {
		e.opts.Log.Warn("unbind queue", "netns", n.name, "queue", num, "err", err)
	}
	delete(n.queues, num)
	e.fitProcs()
}

// fitProcs gives the Go runtime as many Ps as there are workers
// (Options.FitProcs). A worker that the netpoller wakes while another P
// is idle makes the runtime wake a second thread to spin on that P for
// more work, find none and sleep again: a futex wake and two context
// switches for every wake-up, which at low load is every packet. The
// engine's other goroutines (namespace watcher, metrics, signals) are
// idle, so a P per worker is enough.
func (e *Engine) fitProcs() {
	if !e.opts.FitProcs {
		return
	}
	n := 0
	for _, ns := range e.nets {
		n += len(ns.queues)
	}
	n = min(max(n, 1), runtime.NumCPU())
	if runtime.GOMAXPROCS(0) != n {
		runtime.GOMAXPROCS(n)
	}
}

// watcher looks at the configured namespaces again whenever the
// directories that hold them change (dirWatch), and by the clock only for
// what inotify cannot see (dirWatch.plan).
type watcher struct {
	quit, done chan struct{}
	again      chan struct{} // look, and watch, again now
}

// replan makes the watcher look again at once (after a reload).
func (w *watcher) replan() {
	select {
	case w.again <- struct{}{}:
	default:
	}
}

func (e *Engine) startWatcher() *watcher {
	w := &watcher{quit: make(chan struct{}), done: make(chan struct{}), again: make(chan struct{}, 1)}
	dirs := newDirWatch()
	var changed chan struct{}
	if dirs != nil {
		changed = dirs.changed
	}
	wait := dirs.plan(e.cfg.Netns, false, e.opts.NetnsPoll)
	go func() {
		defer close(w.done)
		if dirs != nil {
			defer dirs.close()
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-changed:
			case <-w.again:
			case <-t.C:
			}
			e.mu.Lock()
			// A named namespace that is missing now is let go; it is
			// served again when it comes back.
			found, _, unsettled := nsSources(e.cfg.Netns).scan()
			_ = e.applyNetns(found, false)
			wait = dirs.plan(e.cfg.Netns, unsettled, e.opts.NetnsPoll)
			e.mu.Unlock()
			t.Reset(wait)
		}
	}()
	return w
}

func (w *watcher) stop() {
	close(w.quit)
	<-w.done
}
