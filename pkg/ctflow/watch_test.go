package ctflow

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/mdlayher/netlink"
)

// event is a conntrack event datagram as the kernel multicasts it.
func event(f *Flow, typ uint8, flags netlink.HeaderFlags) []byte {
	m := answer(netlink.Message{}, f, flags)
	m.Header.Type = netlink.HeaderType(1<<8 | uint16(typ))
	return ctnltest.Datagram(m)
}

// The watch engine: events in order; after an overflow it reads the
// backlog first, then dumps the table as resync events and reports the
// exact loss; the end of ctx ends it without error.
func TestWatcherLossAndResync(t *testing.T) {
	k := newFakeKernel()
	table := k.dial()
	for _, port := range []uint16{2, 3} {
		f := ftpFlow(port)
		if err := table.Create(&f); err != nil {
			t.Fatal(err)
		}
	}
	sock := ctnltest.NewSocket(nil)
	var losses []ctnetlink.Loss
	w, err := NewWatcher(ctnl.New(sock), table.Conn(), WatchOptions{Events: []ctnetlink.EventType{ctnetlink.EventNew, ctnetlink.EventDestroy},
		Resync: true, BufferSize: 4096, OnLoss: func(l ctnetlink.Loss) { losses = append(losses, l) }})
	if err != nil {
		t.Fatal(err)
	}
	if g := sock.Groups(); !slices.Equal(g, []uint32{ctnetlink.GroupNew, ctnetlink.GroupDestroy}) {
		t.Errorf("joined %v", g)
	}
	gone := ftpFlow(1)
	sock.Inject(event(&gone, ctnetlink.MsgNew, netlink.Create|netlink.Excl))
	sock.Overflow(5)
	sock.Inject(event(&gone, ctnetlink.MsgDelete, 0))

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var got []string
	err = w.Run(ctx, func(ev *Event) error {
		s := ev.Type.String()
		if ev.Resync {
			s = "resync"
		}
		got = append(got, s+" "+ev.Flow.Orig.String())
		return nil
	})
	if err != nil {
		t.Fatalf("Run at the end of ctx: %v", err)
	}
	want := []string{"new " + gone.Orig.String(), "destroy " + gone.Orig.String()}
	if len(got) != 4 || !slices.Equal(got[:2], want) {
		t.Fatalf("events %q, want %q then two resync entries", got, want)
	}
	slices.Sort(got[2:])
	f2, f3 := ftpFlow(2), ftpFlow(3)
	if !slices.Equal(got[2:], []string{"resync " + f2.Orig.String(), "resync " + f3.Orig.String()}) {
		t.Errorf("resync events %q", got[2:])
	}
	if len(losses) != 1 || losses[0] != (ctnetlink.Loss{Dropped: 5, Resynced: true, Reported: 2}) {
		t.Errorf("losses %+v", losses)
	}
}

// A callback that returns ErrStop ends the watch cleanly; without Resync a
// loss is only reported.
func TestWatcherStopAndNoResync(t *testing.T) {
	sock := ctnltest.NewSocket(nil)
	var losses []ctnetlink.Loss
	w, err := NewWatcher(ctnl.New(sock), nil, WatchOptions{OnLoss: func(l ctnetlink.Loss) { losses = append(losses, l) }})
	if err != nil {
		t.Fatal(err)
	}
	f := ftpFlow(9)
	sock.Overflow(3)
	sock.Inject(event(&f, ctnetlink.MsgNew, 0), event(&f, ctnetlink.MsgNew, 0))
	n := 0
	err = w.Run(context.Background(), func(ev *Event) error {
		n++
		if ev.Type != ctnetlink.EventUpdate || ev.Resync {
			t.Errorf("event %v resync %v, want an update", ev.Type, ev.Resync)
		}
		return ctnetlink.ErrStop
	})
	if err != nil || n != 1 {
		t.Fatalf("Run: %v after %d events", err, n)
	}
	if len(losses) != 1 || losses[0] != (ctnetlink.Loss{Dropped: 3}) {
		t.Errorf("losses %+v", losses)
	}
}
