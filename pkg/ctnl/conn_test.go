package ctnl_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// nfMsg is a data message answering req (ctnetlink NEW, IPv4) with one
// CTA_ID-like attribute holding id.
func nfMsg(req netlink.Message, flags netlink.HeaderFlags, id uint32) netlink.Message {
	e := ctnl.NewEncoder(nil)
	e.Uint32(12, id)
	return ctnltest.Reply(req, 0, flags, unix.AF_INET, e.Bytes())
}

func ids(t *testing.T, c *ctnl.Conn, r ctnl.Request) ([]uint32, error) {
	t.Helper()
	var got []uint32
	err := c.Query(r, func(m ctnl.Message) error {
		s := ctnl.NewScanner(m.Attrs)
		for s.Next() {
			got = append(got, s.Uint32())
		}
		return s.Err()
	})
	return got, err
}

var getReq = ctnl.Request{Op: "get conntrack", Subsys: netfilter.NFSubsysCTNetlink, Type: 1, Family: netfilter.ProtoIPv4}
var dumpReq = ctnl.Request{Op: "dump conntracks", Subsys: netfilter.NFSubsysCTNetlink, Type: 1, Flags: netlink.Dump}

// A ctnetlink GET is answered with one NLM_F_MULTI message and no DONE,
// then a separate ACK datagram: the ACK, not a DONE, ends the answer.
// (mdlayher/netlink's Conn.Receive from v1.10 on waits for the DONE; this
// package reads answers itself, so the test guards its own walk.)
func TestQueryGetWithoutDone(t *testing.T) {
	c := ctnltest.Dial(ctnltest.Serve(func(r netlink.Message) [][]netlink.Message {
		return [][]netlink.Message{{nfMsg(r, netlink.Multi, 7)}, {ctnltest.Ack(r, 0)}}
	}))
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second)) // a read that waits for a DONE fails instead of hanging
	got, err := ids(t, c, getReq)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != 7 {
		t.Fatalf("callback saw %v, want [7]", got)
	}
}

// The request goes out as the kernel expects it: request and ack flags
// (a dump without ack), a new sequence number each time, nfgenmsg with
// the resource ID big-endian, then the attributes.
func TestQueryRequestBytes(t *testing.T) {
	var sent []netlink.Message
	c := ctnltest.Dial(ctnltest.Serve(func(r netlink.Message) [][]netlink.Message {
		sent = append(sent, r)
		if r.Header.Flags&netlink.Dump == netlink.Dump {
			return [][]netlink.Message{{ctnltest.Done(r)}}
		}
		return [][]netlink.Message{{ctnltest.Ack(r, 0)}}
	}))
	req := ctnl.Request{Op: "add", Subsys: netfilter.NFSubsysCTHelper, Type: 0, Family: netfilter.ProtoIPv6, ResID: 0x0102,
		Flags: netlink.Create | netlink.Excl, Attrs: []byte{8, 0, 1, 0, 0, 0, 0, 9}}
	if err := c.Do(req); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(dumpReq); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 {
		t.Fatalf("sent %d requests, want 2", len(sent))
	}
	h := sent[0].Header
	if h.Type != netlink.HeaderType(uint16(netfilter.NFSubsysCTHelper)<<8) ||
		h.Flags != netlink.Request|netlink.Acknowledge|netlink.Create|netlink.Excl {
		t.Errorf("request header %+v", h)
	}
	if want := "\x0a\x00\x01\x02\x08\x00\x01\x00\x00\x00\x00\x09"; string(sent[0].Data) != want {
		t.Errorf("request payload %x, want %x", sent[0].Data, want)
	}
	if h1 := sent[1].Header; h1.Flags != netlink.Request|netlink.Dump || h1.Sequence == h.Sequence {
		t.Errorf("dump header %+v after %+v: want no ack and a new sequence", h1, h)
	}
}

func TestQueryErrnoAndHints(t *testing.T) {
	c := ctnltest.Dial(ctnltest.Serve(func(r netlink.Message) [][]netlink.Message {
		return [][]netlink.Message{{ctnltest.Ack(r, unix.EBUSY)}}
	}))
	err := c.Do(ctnl.Request{Op: "add helper ftp", Subsys: netfilter.NFSubsysCTHelper, Hints: ctnl.Hints{unix.EBUSY: "unload it"}})
	if !errors.Is(err, ctnl.ErrBusy) || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("error %v does not match ErrBusy and EBUSY", err)
	}
	if want := "add helper ftp: EBUSY device or resource busy: unload it"; err.Error() != want {
		t.Fatalf("error text %q, want %q", err.Error(), want)
	}
}

// EPERM carries the permission hint unless the request names another;
// the kernel's extended-ack text is kept.
func TestQueryPermissionAndKernelText(t *testing.T) {
	c := ctnltest.Dial(ctnltest.Serve(func(r netlink.Message) [][]netlink.Message {
		return [][]netlink.Message{{ctnltest.ExtAck(r, unix.EPERM, "no way")}}
	}))
	err := c.Do(ctnl.Request{Op: "list helpers", Subsys: netfilter.NFSubsysCTHelper})
	var e *ctnl.Error
	if !errors.As(err, &e) || !errors.Is(err, ctnl.ErrPermission) || e.Hint != ctnl.HintPermission || e.Msg != "no way" {
		t.Fatalf("EPERM error = %#v", err)
	}
	if !strings.Contains(err.Error(), "(kernel: no way)") {
		t.Fatalf("error text %q lacks the kernel's text", err.Error())
	}
}

// A dump spread over datagrams ends at DONE; a stale answer to an
// earlier request is skipped; the callback's error comes back once the
// dump is drained, and the next request is not confused by its tail.
func TestQueryDump(t *testing.T) {
	s := ctnltest.NewSocket(ctnltest.Serve(func(r netlink.Message) [][]netlink.Message {
		return [][]netlink.Message{
			{nfMsg(r, netlink.Multi, 1), nfMsg(r, netlink.Multi, 2)},
			{nfMsg(r, netlink.Multi, 3), ctnltest.Done(r)},
		}
	}))
	c := ctnl.New(s)
	var stale netlink.Message
	stale.Header.Sequence = 999
	s.Inject(ctnltest.Datagram(nfMsg(stale, netlink.Multi, 99)))
	got, err := ids(t, c, dumpReq)
	if err != nil || len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("dump saw %v, %v; want [1 2 3]", got, err)
	}

	stop := errors.New("stop")
	n := 0
	err = c.Query(dumpReq, func(ctnl.Message) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("callback error: %v after %d calls, want stop after 1", err, n)
	}
	if got, err := ids(t, c, dumpReq); err != nil || len(got) != 3 {
		t.Fatalf("dump after an abandoned one saw %v, %v", got, err)
	}
}

// A dump that fails midway says so in DONE's errno.
func TestQueryDumpDoneErrno(t *testing.T) {
	c := ctnltest.Dial(ctnltest.Serve(func(r netlink.Message) [][]netlink.Message {
		done := ctnltest.Done(r)
		errno := -int32(unix.ENOMEM)
		binary.NativeEndian.PutUint32(done.Data, uint32(errno))
		return [][]netlink.Message{{nfMsg(r, netlink.Multi, 1), done}}
	}))
	if _, err := ids(t, c, dumpReq); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("dump ending in an error: %v, want ENOMEM", err)
	}
}

// A dump marked NLM_F_DUMP_INTR is read to its end, then refused.
func TestQueryDumpInterrupted(t *testing.T) {
	const dumpIntr = 0x10
	c := ctnltest.Dial(ctnltest.Serve(func(r netlink.Message) [][]netlink.Message {
		return [][]netlink.Message{{nfMsg(r, netlink.Multi, 1), nfMsg(r, netlink.Multi|dumpIntr, 2), ctnltest.Done(r)}}
	}))
	got, err := ids(t, c, dumpReq)
	if !errors.Is(err, ctnl.ErrDumpInterrupted) || len(got) != 2 {
		t.Fatalf("interrupted dump: %v, %v; want 2 messages and ErrDumpInterrupted", got, err)
	}
	if !strings.HasPrefix(err.Error(), "dump conntracks: dump interrupted") {
		t.Fatalf("error text %q", err.Error())
	}
}

// Datagrams that do not fit the receive buffer, or whose messages
// overrun them, fail the read instead of being half-read.
func TestReceiveTruncatedAndMalformed(t *testing.T) {
	s := ctnltest.NewSocket(nil)
	c := ctnl.New(s)
	big := ctnltest.Datagram(netlink.Message{Header: netlink.Header{Type: 0x0300}, Data: make([]byte, 100<<10)})
	s.Inject(big, []byte{200, 0, 0, 0, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	calls := 0
	fn := func(ctnl.Message) error { calls++; return nil }
	if err := c.Receive(context.Background(), fn); err == nil || !strings.Contains(err.Error(), "larger than the") {
		t.Fatalf("oversized datagram: %v", err)
	}
	if err := c.Receive(context.Background(), fn); err == nil || !strings.Contains(err.Error(), "malformed netlink message") {
		t.Fatalf("message longer than its datagram: %v", err)
	}
	if calls != 0 {
		t.Fatalf("callback called %d times for broken datagrams", calls)
	}
}

// Write hands pre-encoded messages to the socket as they are, and
// refuses a buffer the kernel would drop silently.
func TestWritePreEncoded(t *testing.T) {
	var got [][]byte
	c := ctnltest.Dial(func(req []byte) ([][]byte, error) {
		got = append(got, req)
		return nil, nil
	})
	defer c.Close()
	var b []byte
	for _, typ := range []uint16{0x0301, 0x0302} {
		b = ctnl.AppendMessage(b, netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request}, []byte{2, 0, 0, 5, 1, 2, 3, 0})
	}
	if err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0]) != string(b) {
		t.Fatalf("sent %x, want one datagram %x", got, b)
	}
	msgs, err := ctnltest.Messages(got[0])
	if err != nil || len(msgs) != 2 || msgs[0].Header.Type != 0x0301 || msgs[1].Header.Type != 0x0302 || len(msgs[1].Data) != 8 {
		t.Fatalf("sent %+v, %v", msgs, err)
	}
	if err := c.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}); err == nil {
		t.Fatal("Write accepted a message whose length exceeds the buffer")
	}
	if len(got) != 1 {
		t.Fatal("a refused buffer reached the socket")
	}
}

// Requests sent with Write are answered later on the same socket; with an
// ack handler Receive hands each answer over, without one the first
// failure is Receive's error. Events around them go to the callback.
func TestWriteAnswers(t *testing.T) {
	batch := func(c *ctnl.Conn) {
		var b []byte
		for i, typ := range []uint16{2<<8 | 0, 2<<8 | 2} {
			b = ctnl.AppendMessage(b, netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | netlink.Acknowledge,
				Sequence: uint32(10 + i)}, []byte{unix.AF_INET, 0, 0, 0})
		}
		if err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	serve := ctnltest.Serve(func(r netlink.Message) [][]netlink.Message {
		if r.Header.Type == 2<<8 {
			return [][]netlink.Message{{ctnltest.ExtAck(r, unix.EINVAL, "missing tuple")}}
		}
		return [][]netlink.Message{{ctnltest.Ack(r, 0)}}
	})

	s := ctnltest.NewSocket(serve)
	c := ctnl.New(s)
	var acks []ctnl.Ack
	c.SetAckHandler(func(a ctnl.Ack) { acks = append(acks, a) })
	batch(c)
	s.Inject(ctnltest.Datagram(netlink.Message{Header: netlink.Header{Type: 1<<8 | 0, PID: 4242}, Data: []byte{2, 0, 0, 0}},
		netlink.Message{Header: netlink.Header{Type: netlink.Noop}, Data: []byte{2, 0, 0, 0}}))
	var ports []uint32
	for len(ports) == 0 || len(acks) < 2 {
		if err := c.Receive(context.Background(), func(m ctnl.Message) error { ports = append(ports, m.PortID); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if len(acks) != 2 || acks[0].Type != 2<<8 || acks[0].Sequence != 10 || !errors.Is(acks[0].Err, unix.EINVAL) ||
		!strings.Contains(acks[0].Err.Error(), "missing tuple") {
		t.Fatalf("answers %+v, want EINVAL (with the kernel's text) for EXP_NEW first", acks)
	}
	if acks[1].Type != 2<<8|2 || acks[1].Sequence != 11 || acks[1].Err != nil {
		t.Fatalf("second answer %+v, want an acknowledgement of EXP_DELETE", acks[1])
	}
	if len(ports) != 1 || ports[0] != 4242 {
		t.Fatalf("event port IDs %v, want [4242] (NOOP is not an event)", ports)
	}

	c = ctnltest.Dial(serve)
	batch(c)
	err := c.Receive(context.Background(), func(ctnl.Message) error { return nil })
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("failed request without an ack handler: %v, want EINVAL", err)
	}
}

// An overflow is ErrLostEvents, counted by Drops, seen by Pending, and
// leaves the socket usable.
func TestReceiveOverflow(t *testing.T) {
	s := ctnltest.NewSocket(nil)
	c := ctnl.New(s)
	if p, err := c.Pending(); p || err != nil {
		t.Fatalf("Pending on an empty socket = %v, %v", p, err)
	}
	s.Overflow(3)
	if p, err := c.Pending(); !p || !errors.Is(err, ctnl.ErrLostEvents) {
		t.Fatalf("Pending after an overflow = %v, %v; want true, ErrLostEvents", p, err)
	}
	s.Overflow(2)
	err := c.Receive(context.Background(), func(ctnl.Message) error { return nil })
	if !errors.Is(err, ctnl.ErrLostEvents) {
		t.Fatalf("Receive after an overflow: %v, want ErrLostEvents", err)
	}
	if d, err := c.Drops(); d != 5 || err != nil {
		t.Fatalf("Drops = %d, %v; want 5", d, err)
	}
	s.Inject(ctnltest.Datagram(netlink.Message{Header: netlink.Header{Type: 1 << 8}, Data: []byte{2, 0, 0, 0}}))
	if p, _ := c.Pending(); !p {
		t.Fatal("Pending misses a queued event")
	}
	n := 0
	if err := c.Receive(context.Background(), func(ctnl.Message) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("Receive after the overflow: %d events, %v", n, err)
	}
}

// Receive returns when its context ends and when the read deadline
// passes (Interrupt from another goroutine, or a deadline ahead with
// nothing to read); the socket then reads on.
func TestReceiveStops(t *testing.T) {
	s := ctnltest.NewSocket(nil)
	c := ctnl.New(s)
	nop := func(ctnl.Message) error { return nil }

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Receive(ctx, nop); err != context.DeadlineExceeded {
		t.Fatalf("Receive with an ending context: %v", err)
	}

	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}()
	if err := c.Receive(context.Background(), nop); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Receive past its deadline: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if err := c.Receive(context.Background(), nop); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("nothing before a deadline ahead: %v, want os.ErrDeadlineExceeded", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	s.Inject(ctnltest.Datagram(netlink.Message{Header: netlink.Header{Type: 1 << 8}, Data: []byte{2, 0, 0, 0}}))
	n := 0
	if err := c.Receive(context.Background(), func(ctnl.Message) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("Receive after stops: %d events, %v", n, err)
	}
	if err := c.JoinGroups(1, 3); err != nil || len(s.Groups()) != 2 || s.Groups()[1] != 3 {
		t.Fatalf("JoinGroups: %v, joined %v", err, s.Groups())
	}
}

// The engine's per-packet path, Receive and Write, allocates nothing of
// its own (the fake queues without allocating once filled).
func TestReceiveAndWriteAllocationFree(t *testing.T) {
	s := ctnltest.NewSocket(nil)
	c := ctnl.New(s)
	ev := ctnltest.Datagram(netlink.Message{Header: netlink.Header{Type: 3<<8 | 0}, Data: []byte{2, 0, 0, 7, 8, 0, 1, 0, 0, 0, 0, 1}},
		netlink.Message{Header: netlink.Header{Type: 3<<8 | 0}, Data: []byte{2, 0, 0, 7}})
	for range 101 {
		s.Inject(ev)
	}
	n := 0
	fn := func(m ctnl.Message) error { n += len(m.Attrs); return nil }
	if a := testing.AllocsPerRun(100, func() {
		if err := c.Receive(context.Background(), fn); err != nil {
			t.Fatal(err)
		}
	}); a != 0 || n != 101*8 {
		t.Fatalf("Receive: %v allocations per datagram, %d attribute bytes seen", a, n)
	}
	if a := testing.AllocsPerRun(100, func() {
		if err := c.Write(ev); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("Write: %v allocations per batch", a)
	}
}
