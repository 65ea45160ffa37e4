package ctflow

import (
	"context"
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
)

// WatchOptions configure a Watcher (as pkg/expect's do for expectations).
type WatchOptions struct {
	// Events to receive: any of EventNew, EventUpdate, EventDestroy; empty
	// means all three.
	Events []ctnetlink.EventType
	// Filter selects the flows reported (in user space: the kernel has no
	// filters for event groups).
	Filter Filter
	// BufferSize is the receive buffer to ask for; 0 means
	// ctnetlink.DefaultBufferSize.
	BufferSize int
	// Resync: after lost events the table is dumped and every entry that
	// passes the filter reported as an event marked Resync (type
	// EventNew), so the consumer holds the whole current state again. The
	// table may hold millions of conntracks, so, unlike the expectation
	// watcher, this one keeps no set to tell the difference.
	Resync bool
	// OnLoss is told about every overflow of the receive buffer.
	OnLoss func(ctnetlink.Loss)
}

// Event is one conntrack event.
type Event struct {
	Type ctnetlink.EventType
	// Resync marks an entry of the dump made after lost events.
	Resync bool
	// Flow is the conntrack; for an event, PortID is the netlink port of
	// the request that caused it (0: the kernel's own doing).
	Flow Flow
}

// Watcher receives conntrack events with loss accounting.
type Watcher struct {
	sub   *ctnetlink.Subscription
	query *Client
	opts  WatchOptions
	ev    Event
}

// NewWatcher subscribes events to the chosen conntrack groups and sizes its
// buffer. query serves the resync dumps (it may be nil without Resync); it
// must be another socket, as a subscribed socket's answers mix with events.
func NewWatcher(events, query *ctnl.Conn, opts WatchOptions) (*Watcher, error) {
	if len(opts.Events) == 0 {
		opts.Events = []ctnetlink.EventType{ctnetlink.EventNew, ctnetlink.EventUpdate, ctnetlink.EventDestroy}
	}
	var groups []netfilter.NetlinkGroup
	for _, t := range opts.Events {
		switch t {
		case ctnetlink.EventNew:
			groups = append(groups, ctnetlink.GroupNew)
		case ctnetlink.EventUpdate:
			groups = append(groups, ctnetlink.GroupUpdate)
		case ctnetlink.EventDestroy:
			groups = append(groups, ctnetlink.GroupDestroy)
		default:
			return nil, fmt.Errorf("cannot subscribe to %q events", t)
		}
	}
	w := &Watcher{opts: opts}
	if opts.Resync {
		if query == nil {
			return nil, fmt.Errorf("resync needs a second socket")
		}
		w.query = NewClient(query)
	}
	var err error
	if w.sub, err = ctnetlink.Subscribe(events, netfilter.NFSubsysCTNetlink, opts.BufferSize, groups...); err != nil {
		return nil, err
	}
	return w, nil
}

// Buffer is the receive buffer the kernel granted and whether
// SO_RCVBUFFORCE worked (ctnetlink.Subscription.Buffer).
func (w *Watcher) Buffer() (granted int, forced bool) { return w.sub.Buffer() }

// Pending reports whether events wait in the socket: false when the
// reader has caught up (a good moment to flush output).
func (w *Watcher) Pending() bool { return w.sub.Pending() }

// eventType tells a conntrack event message's type.
func eventType(h netfilter.Header) ctnetlink.EventType {
	if h.MessageType == ctnetlink.MsgDelete {
		return ctnetlink.EventDestroy
	}
	if h.Flags&(netlink.Create|netlink.Excl) != 0 {
		return ctnetlink.EventNew
	}
	return ctnetlink.EventUpdate
}

// Run calls fn for every event until ctx ends or fn returns
// ctnetlink.ErrStop (then it returns nil), fn returns another error, or
// the socket fails. Lost events never end it: they are reported to
// OnLoss and, with Resync, made good from a dump. The *Event is reused
// for the next call.
func (w *Watcher) Run(ctx context.Context, fn func(*Event) error) error {
	var resync func() (int, error)
	if w.query != nil {
		resync = func() (int, error) {
			n := 0
			err := w.query.List(w.opts.Filter, func(f *Flow) error {
				w.ev.Type, w.ev.Resync, w.ev.Flow = ctnetlink.EventNew, true, *f
				n++
				return fn(&w.ev)
			})
			return n, err
		}
	}
	handle := func(m ctnl.Message) error {
		ev := &w.ev
		if err := Decode(uint8(m.Header.Family), m.Attrs, &ev.Flow); err != nil {
			return fmt.Errorf("decode conntrack event: %w", err)
		}
		ev.Flow.PortID = m.PortID
		if !w.opts.Filter.Match(&ev.Flow) {
			return nil
		}
		ev.Type, ev.Resync = eventType(m.Header), false
		return fn(ev)
	}
	return w.sub.Run(ctx, handle, resync, w.opts.OnLoss)
}
