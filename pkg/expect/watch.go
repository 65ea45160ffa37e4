package expect

import (
	"context"
	"errors"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/ti-mo/netfilter"
)

// WatchOptions configure a Watcher (as pkg/ctflow's do for conntracks).
type WatchOptions struct {
	// Events to receive: EventNew, EventDestroy (the kernel sends no update
	// events for expectations); empty means both.
	Events []ctnetlink.EventType
	Filter Filter
	// BufferSize is the receive buffer to ask for; 0 means
	// ctnetlink.DefaultBufferSize.
	BufferSize int
	// Resync keeps the set of current expectations so that after lost
	// events it can dump the table and report the difference as events
	// (marked Resync). It costs a dump at the start and memory for the
	// selected expectations.
	Resync bool
	// OnLoss is told about every overflow of the receive buffer.
	OnLoss func(ctnetlink.Loss)
}

// Event is one expectation event.
type Event struct {
	Type ctnetlink.EventType
	// Resync marks an event made up from a dump after lost events: the
	// expectation appeared (or went) while events were being dropped.
	Resync      bool
	Expectation Expectation
}

// Watcher receives expectation events with loss accounting.
type Watcher struct {
	sub   *ctnetlink.Subscription
	query *Client
	opts  WatchOptions

	newEv, destroy bool
	known          map[uint32]known // by CTA_EXPECT_ID, when Resync
	zoneIDs        map[uint32]struct{}

	dec Decoder
	ev  Event
}

type known struct {
	e         Expectation
	synthetic bool // reported by a resync, not yet by the kernel
}

// NewWatcher subscribes events to the expectation groups and sizes its
// buffer. query serves dumps and master lookups; it must be another
// socket, as a subscribed socket's answers mix with events.
func NewWatcher(events, query *ctnl.Conn, opts WatchOptions) (*Watcher, error) {
	w := &Watcher{query: NewClient(query), opts: opts}
	var groups []netfilter.NetlinkGroup
	for _, t := range opts.Events {
		switch t {
		case ctnetlink.EventNew:
			w.newEv = true
			groups = append(groups, ctnetlink.GroupExpNew)
		case ctnetlink.EventDestroy:
			w.destroy = true
			groups = append(groups, ctnetlink.GroupExpDestroy)
		default:
			return nil, errors.New("expectations have new and destroy events only")
		}
	}
	if len(groups) == 0 {
		w.newEv, w.destroy = true, true
		groups = []netfilter.NetlinkGroup{ctnetlink.GroupExpNew, ctnetlink.GroupExpDestroy}
	}
	var err error
	if w.sub, err = ctnetlink.Subscribe(events, netfilter.NFSubsysCTNetlinkExp, opts.BufferSize, groups...); err != nil {
		return nil, err
	}
	if opts.Filter.HasZone {
		w.zoneIDs = map[uint32]struct{}{}
	}
	if opts.Resync {
		// Subscribed first, then dumped: nothing falls between the two.
		w.known = map[uint32]known{}
		if err := w.query.List(opts.Filter, func(e *Expectation) error {
			w.known[e.ID] = known{e: *e}
			if w.zoneIDs != nil {
				w.zoneIDs[e.ID] = struct{}{}
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Buffer is the receive buffer the kernel granted and whether
// SO_RCVBUFFORCE worked (ctnetlink.Subscription.Buffer).
func (w *Watcher) Buffer() (granted int, forced bool) { return w.sub.Buffer() }

// Pending reports whether events wait in the socket: false when the
// reader has caught up (a good moment to flush output).
func (w *Watcher) Pending() bool { return w.sub.Pending() }

// Run calls fn for every event until ctx ends or fn returns
// ctnetlink.ErrStop (then it returns nil), fn returns another error, or
// the socket fails. Lost events never end it: they are reported to
// OnLoss and, with Resync, made good from a dump. The *Event is reused
// for the next call.
func (w *Watcher) Run(ctx context.Context, fn func(*Event) error) error {
	var resync func() (int, error)
	if w.known != nil {
		resync = func() (int, error) { return w.resync(fn) }
	}
	return w.sub.Run(ctx, func(m ctnl.Message) error { return w.handle(m, fn) }, resync, w.opts.OnLoss)
}

func (w *Watcher) handle(m ctnl.Message, fn func(*Event) error) error {
	ev := &w.ev
	switch m.Header.MessageType {
	case ctnetlink.MsgExpNew:
		ev.Type = ctnetlink.EventNew
	case ctnetlink.MsgExpDelete:
		ev.Type = ctnetlink.EventDestroy
	default:
		return nil
	}
	ev.Resync = false
	if err := w.dec.Decode(m.Attrs, &ev.Expectation); err != nil {
		return err
	}
	e := &ev.Expectation
	e.Family = uint8(m.Header.Family)
	if !w.opts.Filter.Match(e) {
		return nil
	}
	if w.zoneIDs != nil {
		ok, err := w.inZone(e, ev.Type)
		if err != nil || !ok {
			return err
		}
	}
	if w.known != nil {
		k, seen := w.known[e.ID]
		if ev.Type == ctnetlink.EventNew {
			w.known[e.ID] = known{e: *e}
			if seen && k.synthetic {
				return nil // a resync reported it already
			}
		} else {
			delete(w.known, e.ID)
		}
	}
	return fn(ev)
}

func (w *Watcher) inZone(e *Expectation, t ctnetlink.EventType) (bool, error) {
	if _, ok := w.zoneIDs[e.ID]; ok {
		if t == ctnetlink.EventDestroy {
			delete(w.zoneIDs, e.ID)
		}
		return true, nil
	}
	if t == ctnetlink.EventDestroy {
		// Gone from the table: only an ID seen before tells its zone.
		return false, nil
	}
	ok, err := w.query.inZone(e, w.opts.Filter.Zone)
	if ok {
		w.zoneIDs[e.ID] = struct{}{}
	}
	return ok, err
}

// resync reports the difference between what the watcher knew and the
// table as it is now, and returns how many events that made.
func (w *Watcher) resync(fn func(*Event) error) (int, error) {
	now := make(map[uint32]known, len(w.known))
	if w.zoneIDs != nil {
		clear(w.zoneIDs)
	}
	if err := w.query.List(w.opts.Filter, func(e *Expectation) error {
		now[e.ID] = known{e: *e}
		if w.zoneIDs != nil {
			w.zoneIDs[e.ID] = struct{}{}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	n := 0
	ev := &w.ev
	ev.Resync = true
	if w.destroy {
		ev.Type = ctnetlink.EventDestroy
		for id, k := range w.known {
			if _, ok := now[id]; !ok {
				ev.Expectation = k.e
				n++
				if err := fn(ev); err != nil {
					return n, err
				}
			}
		}
	}
	for id, k := range now {
		if _, ok := w.known[id]; !ok {
			k.synthetic = true
			now[id] = k
			if w.newEv {
				ev.Type = ctnetlink.EventNew
				ev.Expectation = k.e
				n++
				if err := fn(ev); err != nil {
					w.known = now
					return n, err
				}
			}
		}
	}
	w.known = now
	return n, nil
}
