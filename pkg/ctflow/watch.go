package ctflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
)

// ErrStop, returned by a watch callback, ends the watch without error.
var ErrStop = errors.New("stop watching")

// WatchOptions say what to watch and where events go.
type WatchOptions struct {
	// Events to subscribe to: any of EventNew, EventUpdate, EventDestroy;
	// empty means all three.
	Events []Event
	// Filter selects the flows reported (in user space: the kernel has no
	// filters for event groups).
	Filter *Filter
	// OnEvent gets each event; the Flow is reused. Returning ErrStop ends
	// the watch cleanly.
	OnEvent func(ev Event, f *Flow) error
	// OnLoss is told how many events the kernel dropped (exact, from
	// SO_MEMINFO) each time the socket overflows.
	OnLoss func(lost uint32)
	// Resync, if set, is a second client: after a loss the table is dumped
	// through it and every entry reported as EventResync, so the consumer
	// holds the whole current state again.
	Resync *Client
}

// Subscribe joins the multicast groups for the chosen events.
func Subscribe(c *ctnl.Conn, events []Event) error {
	if len(events) == 0 {
		events = []Event{EventNew, EventUpdate, EventDestroy}
	}
	var groups []netfilter.NetlinkGroup
	for _, ev := range events {
		switch ev {
		case EventNew:
			groups = append(groups, ctnetlink.GroupNew)
		case EventUpdate:
			groups = append(groups, ctnetlink.GroupUpdate)
		case EventDestroy:
			groups = append(groups, ctnetlink.GroupDestroy)
		default:
			return fmt.Errorf("cannot subscribe to %q events", ev)
		}
	}
	return c.JoinGroups(groups...)
}

// EventOf tells a conntrack event message's kind.
func EventOf(h netfilter.Header) Event {
	if h.MessageType == ctnetlink.MsgDelete {
		return EventDestroy
	}
	if h.Flags&(netlink.Create|netlink.Excl) != 0 {
		return EventNew
	}
	return EventUpdate
}

// Watch reads events from a subscribed socket (see Subscribe) until ctx
// ends (it then returns nil), the callback returns ErrStop or an error, or
// the socket fails. On overflow (ENOBUFS) it reports the loss, resyncs
// if asked, and goes on.
func Watch(ctx context.Context, c *ctnl.Conn, opts WatchOptions) error {
	filter := opts.Filter
	if filter == nil {
		filter = &Filter{}
	}
	var fl Flow
	lastDrops, _ := c.Drops()
	handle := func(m ctnl.Message) error {
		if m.Header.SubsystemID != netfilter.NFSubsysCTNetlink {
			return nil
		}
		if err := Decode(uint8(m.Header.Family), m.Attrs, &fl); err != nil {
			return fmt.Errorf("decode conntrack event: %w", err)
		}
		fl.PortID = m.PortID
		if !filter.Match(&fl) {
			return nil
		}
		return opts.OnEvent(EventOf(m.Header), &fl)
	}
	// finalLoss reports drops the kernel counted after the last ENOBUFS: a
	// socket stays "congested" (no new ENOBUFS) until its queue drains.
	finalLoss := func() {
		if drops, err := c.Drops(); err == nil && drops > lastDrops && opts.OnLoss != nil {
			opts.OnLoss(drops - lastDrops)
		}
	}
	for {
		err := c.Receive(ctx, handle)
		switch {
		case err == nil:
			continue
		case errors.Is(err, ErrStop) || ctx.Err() != nil:
			finalLoss()
			return nil
		case errors.Is(err, ctnl.ErrLostEvents):
			drops, derr := c.Drops()
			lost := drops - lastDrops
			if derr != nil {
				lost = 0
			}
			lastDrops = drops
			if opts.OnLoss != nil {
				opts.OnLoss(lost)
			}
			if opts.Resync != nil {
				err := opts.Resync.List(filter, func(f *Flow) error { return opts.OnEvent(EventResync, f) })
				if errors.Is(err, ErrStop) {
					finalLoss()
					return nil
				}
				if err != nil {
					return fmt.Errorf("resync after lost events: %w", err)
				}
			}
		default:
			return err
		}
	}
}
