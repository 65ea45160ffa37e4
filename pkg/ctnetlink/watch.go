package ctnetlink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/ti-mo/netfilter"
)

// EventType is what happened to a conntrack or an expectation.
type EventType uint8

// Event types. The kernel sends no update events for expectations.
const (
	EventNew EventType = 1 + iota
	EventUpdate
	EventDestroy
)

var eventNames = [...]string{"", "new", "update", "destroy"}

func (t EventType) String() string {
	if int(t) < len(eventNames) && t != 0 {
		return eventNames[t]
	}
	return "unknown"
}

// ParseEventTypes reads a comma-separated list of event types (new,
// update, destroy; all for every one in allowed), keeping only those in
// allowed: the event types the table has. Empty means all of allowed.
func ParseEventTypes(s string, allowed ...EventType) ([]EventType, error) {
	var out []EventType
	add := func(t EventType) {
		for _, o := range out {
			if o == t {
				return
			}
		}
		out = append(out, t)
	}
	for _, w := range strings.Split(strings.ToLower(s), ",") {
		switch w = strings.TrimSpace(w); w {
		case "", "all":
			for _, t := range allowed {
				add(t)
			}
			continue
		case "updates":
			w = "update"
		}
		found := false
		for _, t := range allowed {
			if t.String() == w {
				add(t)
				found = true
			}
		}
		if !found {
			names := make([]string, len(allowed))
			for i, t := range allowed {
				names[i] = t.String()
			}
			for _, t := range eventNames[1:] {
				if t == w {
					return nil, fmt.Errorf("the kernel sends no %s events here: want %s or all (comma-separated)", w, strings.Join(names, ", "))
				}
			}
			return nil, fmt.Errorf("unknown event type %q: want %s or all (comma-separated)", w, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// DefaultBufferSize is the receive buffer an event socket asks for: a
// limit, not memory taken up front. 8 MiB overflowed under a burst of
// 50,000 conntrack events on a busy machine (docs/performance.md).
const DefaultBufferSize = 32 << 20

// ErrStop, returned by an event callback, ends the watch without error.
var ErrStop = errors.New("stop watching")

// Loss reports events the kernel dropped because the receive buffer was
// full, and what was done about it.
type Loss struct {
	// Dropped is the exact number of event messages the kernel could not
	// queue since the last report (SO_MEMINFO's drop counter).
	Dropped uint32
	// Resynced: the table was read again and the events a resync made up
	// (Reported of them) went to the callback, marked as such.
	Resynced bool
	Reported int
}

// Subscription is an event socket with loss accounting: joined to the
// groups of one ctnetlink subsystem, its buffer sized, its drops counted.
// pkg/ctflow and pkg/expect build their watchers on it.
type Subscription struct {
	c             *ctnl.Conn
	subsys        netfilter.SubsystemID
	granted       int
	forced        bool
	drops         uint32 // the drop counter at the last report
	pendingResync bool
}

// Subscribe sizes c's receive buffer (0: DefaultBufferSize; SO_RCVBUFFORCE,
// which needs CAP_NET_ADMIN, else SO_RCVBUF capped by net.core.rmem_max)
// and joins the groups. Only messages of subsys reach the callback.
func Subscribe(c *ctnl.Conn, subsys netfilter.SubsystemID, bufferSize int, groups ...netfilter.NetlinkGroup) (*Subscription, error) {
	if bufferSize == 0 {
		bufferSize = DefaultBufferSize
	}
	s := &Subscription{c: c, subsys: subsys}
	var err error
	if s.granted, s.forced, err = c.SetReceiveBuffer(bufferSize); err != nil {
		return nil, &ctnl.Error{Op: "set event socket receive buffer", Err: err}
	}
	if err := c.JoinGroups(groups...); err != nil {
		return nil, err
	}
	s.drops, _ = c.Drops()
	return s, nil
}

// Buffer is the receive buffer the kernel granted (it reports twice the
// size asked, for its bookkeeping) and whether SO_RCVBUFFORCE worked; when
// not, net.core.rmem_max capped the size.
func (s *Subscription) Buffer() (granted int, forced bool) { return s.granted, s.forced }

// Pending reports whether events wait in the socket: false when the
// reader has caught up (a good moment to flush output, or to read the
// table again after a loss). A new overflow met on the way is noted for a
// resync.
func (s *Subscription) Pending() bool {
	pending, err := s.c.Pending()
	if errors.Is(err, ctnl.ErrLostEvents) {
		s.pendingResync = true
	}
	return pending
}

// Run reads events until ctx ends or handle returns ErrStop (then it
// returns nil), handle returns another error, or the socket fails. handle
// gets every message of the subsystem. Lost events never end it: once the
// backlog after an overflow is read, resync (if not nil) reads the table
// again and says how many events it made up, and onLoss (if not nil) gets
// the report. Drops counted after the last overflow are reported when Run
// ends (the kernel reports no new overflow until the queue drains).
func (s *Subscription) Run(ctx context.Context, handle func(ctnl.Message) error, resync func() (int, error), onLoss func(Loss)) error {
	h := func(m ctnl.Message) error {
		if m.Header.SubsystemID != s.subsys {
			return nil
		}
		return handle(m)
	}
	for {
		err := s.c.Receive(ctx, h)
		switch {
		case errors.Is(err, ctnl.ErrLostEvents):
			s.pendingResync = true
		case errors.Is(err, ErrStop) || ctx.Err() != nil:
			s.report(onLoss, Loss{}, false)
			return nil
		case err != nil:
			return err
		}
		if s.pendingResync && !s.Pending() {
			// Read the table once the backlog is read: the queue holds
			// events older than any dump made now.
			s.pendingResync = false
			loss := Loss{}
			var err error
			if resync != nil {
				loss.Reported, err = resync()
				loss.Resynced = err == nil || errors.Is(err, ErrStop)
			}
			s.report(onLoss, loss, true)
			if errors.Is(err, ErrStop) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("resync after lost events: %w", err)
			}
		}
	}
}

// report tells onLoss of the drops since the last report: always after an
// overflow (even if the drop counter cannot say how many), else only if
// there were any.
func (s *Subscription) report(onLoss func(Loss), l Loss, overflow bool) {
	d, err := s.c.Drops()
	if err == nil {
		l.Dropped, s.drops = d-s.drops, d
	}
	if onLoss != nil && (overflow || l.Dropped > 0) {
		onLoss(l)
	}
}
