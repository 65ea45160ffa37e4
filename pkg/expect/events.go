package expect

import (
	"context"
	"errors"
	"iter"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/ti-mo/netfilter"
)

// DefaultBufferSize is the receive buffer a Watcher asks for: room for
// tens of thousands of events while the reader is busy.
const DefaultBufferSize = 8 << 20

// WatchOptions configure a Watcher.
type WatchOptions struct {
	New, Destroy bool // event types to receive; neither means both
	Filter       Filter
	// BufferSize is the receive buffer to ask for (SO_RCVBUFFORCE, which
	// needs CAP_NET_ADMIN, else SO_RCVBUF capped by net.core.rmem_max);
	// 0 means DefaultBufferSize.
	BufferSize int
	// Resync keeps the set of current expectations so that after lost
	// events it can dump the table and report the difference as events
	// (marked Resync). It costs a dump at the start and memory for the
	// selected expectations.
	Resync bool
	// OnLoss is told about every overflow of the receive buffer.
	OnLoss func(Loss)
}

// Loss reports an overflow of the event socket's receive buffer.
type Loss struct {
	// Dropped is the exact number of event messages the kernel could not
	// queue since the last report (SO_MEMINFO sk_drops).
	Dropped uint32
	// Resynced: the table was dumped and the difference reported as
	// New and Destroyed resync events.
	Resynced       bool
	New, Destroyed int
}

// Event is one expectation event.
type Event struct {
	Type        EventType
	Expectation Expectation
	// Resync marks an event made up from a dump after lost events: the
	// expectation appeared (or went) while events were being dropped.
	Resync bool
}

// Watcher receives expectation events with loss accounting.
type Watcher struct {
	events, query *ctnl.Conn
	opts          WatchOptions

	granted int
	forced  bool
	drops   uint32

	pendingResync bool
	known         map[uint32]known // by CTA_EXPECT_ID, when Resync
	zoneIDs       map[uint32]struct{}

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
	if !opts.New && !opts.Destroy {
		opts.New, opts.Destroy = true, true
	}
	if opts.BufferSize == 0 {
		opts.BufferSize = DefaultBufferSize
	}
	w := &Watcher{events: events, query: query, opts: opts}
	var err error
	if w.granted, w.forced, err = events.SetReceiveBuffer(opts.BufferSize); err != nil {
		return nil, &ctnl.Error{Op: "set event socket receive buffer", Err: err}
	}
	var groups []netfilter.NetlinkGroup
	if opts.New {
		groups = append(groups, groupNew)
	}
	if opts.Destroy {
		groups = append(groups, groupDestroy)
	}
	if err := events.JoinGroups(groups...); err != nil {
		return nil, err
	}
	if opts.Filter.HasZone {
		w.zoneIDs = map[uint32]struct{}{}
	}
	if opts.Resync {
		// Subscribed first, then dumped: nothing falls between the two.
		w.known = map[uint32]known{}
		if err := List(query, opts.Filter, func(e *Expectation) error {
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

// Buffer is the receive buffer the kernel granted (it reports twice the
// size asked, for its bookkeeping) and whether SO_RCVBUFFORCE worked; when
// not, net.core.rmem_max capped the size.
func (w *Watcher) Buffer() (granted int, forced bool) { return w.granted, w.forced }

// Run calls fn for every event until ctx ends (then it returns ctx.Err()),
// fn returns an error, or the socket fails. Lost events never end it: they
// are reported to OnLoss and, with Resync, made good from a dump. The
// *Event is reused for the next call.
func (w *Watcher) Run(ctx context.Context, fn func(*Event) error) error {
	for {
		err := w.events.Receive(ctx, func(m ctnl.Message) error { return w.handle(m, fn) })
		switch {
		case errors.Is(err, ctnl.ErrLostEvents):
			w.pendingResync = true
		case err != nil:
			return err
		}
		if w.pendingResync && !w.Pending() {
			// Resynchronise once the backlog is read: the queue holds
			// events older than any dump made now.
			if err := w.recover(fn); err != nil {
				return err
			}
		}
	}
}

// All is Run as an iterator; it ends at the first error (ctx's included),
// which it yields.
func (w *Watcher) All(ctx context.Context) iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		stop := errors.New("stop")
		err := w.Run(ctx, func(e *Event) error {
			if !yield(e, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(nil, err)
		}
	}
}

// Pending reports whether events wait in the socket: false when the
// reader has caught up (a good moment to flush output, or to dump the
// table after a loss). A new overflow met on the way is noted for a
// resync.
func (w *Watcher) Pending() bool {
	pending, err := w.events.Pending()
	if errors.Is(err, ctnl.ErrLostEvents) {
		w.pendingResync = true
	}
	return pending
}

func (w *Watcher) handle(m ctnl.Message, fn func(*Event) error) error {
	if m.Header.SubsystemID != netfilter.NFSubsysCTNetlinkExp {
		return nil
	}
	ev := &w.ev
	switch m.Header.MessageType {
	case msgNew:
		ev.Type = EventNew
	case msgDelete:
		ev.Type = EventDestroy
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
		if ev.Type == EventNew {
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

func (w *Watcher) inZone(e *Expectation, t EventType) (bool, error) {
	if _, ok := w.zoneIDs[e.ID]; ok {
		if t == EventDestroy {
			delete(w.zoneIDs, e.ID)
		}
		return true, nil
	}
	if t == EventDestroy {
		// Gone from the table: only an ID seen before tells its zone.
		return false, nil
	}
	ok, err := inZone(w.query, e, w.opts.Filter.Zone)
	if ok && t == EventNew {
		w.zoneIDs[e.ID] = struct{}{}
	}
	return ok, err
}

// recover accounts for lost events and, with Resync, reports the
// difference between what it knew and the table as it is now.
func (w *Watcher) recover(fn func(*Event) error) error {
	w.pendingResync = false
	loss := Loss{}
	if d, err := w.events.Drops(); err == nil {
		loss.Dropped = d - w.drops
		w.drops = d
	}
	if w.known == nil {
		if w.opts.OnLoss != nil {
			w.opts.OnLoss(loss)
		}
		return nil
	}
	now := make(map[uint32]known, len(w.known))
	if w.zoneIDs != nil {
		clear(w.zoneIDs)
	}
	if err := List(w.query, w.opts.Filter, func(e *Expectation) error {
		now[e.ID] = known{e: *e}
		if w.zoneIDs != nil {
			w.zoneIDs[e.ID] = struct{}{}
		}
		return nil
	}); err != nil {
		return err
	}
	loss.Resynced = true
	ev := &w.ev
	ev.Resync = true
	if w.opts.Destroy {
		ev.Type = EventDestroy
		for id, k := range w.known {
			if _, ok := now[id]; !ok {
				ev.Expectation = k.e
				loss.Destroyed++
				if err := fn(ev); err != nil {
					return err
				}
			}
		}
	}
	for id, k := range now {
		if _, ok := w.known[id]; !ok {
			k.synthetic = true
			now[id] = k
			if w.opts.New {
				ev.Type = EventNew
				ev.Expectation = k.e
				loss.New++
				if err := fn(ev); err != nil {
					return err
				}
			}
		}
	}
	w.known = now
	if w.opts.OnLoss != nil {
		w.opts.OnLoss(loss)
	}
	return nil
}
