package ctnl

import (
	"errors"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// A ctnetlink GET is answered with one NLM_F_MULTI message and no DONE, then
// a separate ACK datagram. mdlayher/netlink v1.10+ waits for a DONE that
// never comes; this test fails (by timeout) if the pinned version or our
// reading of the answer regresses.
func TestQueryGetWithoutDone(t *testing.T) {
	nl := nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
		if len(req) == 0 {
			return nil, nil
		}
		r := req[0]
		return []netlink.Message{
			{
				Header: netlink.Header{Type: r.Header.Type, Flags: netlink.Multi, Sequence: r.Header.Sequence, PID: r.Header.PID},
				Data:   []byte{2, 0, 0, 0, 8, 0, 1, 0, 0, 0, 0, 7},
			},
			{
				// nltest hands this out on the next read, as the kernel
				// sends it in its own datagram.
				Header: netlink.Header{Type: netlink.Error, Sequence: r.Header.Sequence, PID: r.Header.PID},
				Data:   make([]byte, 4+16),
			},
		}, nil
	})
	c := New(nl)
	defer c.Close()
	done := make(chan error, 1)
	got := 0
	go func() {
		done <- c.Query(Request{Op: "get", Subsys: netfilter.NFSubsysCTNetlink, Type: 1}, func(m Message) error {
			got++
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Query hung on a multi-part GET answer without DONE (mdlayher/netlink >= v1.10 does this; keep v1.9.0)")
	}
	if got != 1 {
		t.Fatalf("callback saw %d messages, want 1", got)
	}
}

func TestQueryErrnoAndHints(t *testing.T) {
	nl := nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
		return nltest.Error(int(unix.EBUSY), req)
	})
	c := New(nl)
	err := c.Do(Request{Op: "add helper ftp", Subsys: netfilter.NFSubsysCTHelper, Hints: Hints{unix.EBUSY: "unload it"}})
	if !errors.Is(err, ErrBusy) || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("error %v does not match ErrBusy and EBUSY", err)
	}
	if want := "add helper ftp: EBUSY device or resource busy: unload it"; err.Error() != want {
		t.Fatalf("error text %q, want %q", err.Error(), want)
	}
}

func TestPermissionHint(t *testing.T) {
	e := newError("list helpers", unix.EPERM, "", nil)
	if !errors.Is(e, ErrPermission) || e.Hint != HintPermission {
		t.Fatalf("EPERM error = %#v", e)
	}
}

// Write hands pre-encoded messages to the socket as they are.
func TestWritePreEncoded(t *testing.T) {
	var got []netlink.Message
	nl := nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
		got = append(got, req...)
		return nil, nil
	})
	c := New(nl)
	defer c.Close()
	var b []byte
	for _, typ := range []uint16{0x0301, 0x0302} {
		m := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request}, Data: []byte{2, 0, 0, 5, 1, 2, 3, 0}}
		m.Header.Length = uint32(16 + len(m.Data))
		mb, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, mb...)
	}
	if err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Header.Type != 0x0301 || got[1].Header.Type != 0x0302 || len(got[1].Data) != 8 {
		t.Fatalf("sent %+v", got)
	}
	if err := c.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}); err == nil {
		t.Fatal("Write accepted a message whose length exceeds the buffer")
	}
}
