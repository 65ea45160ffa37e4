//go:build hosttest

package ctnl_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

const (
	ctMsgGet  = 1 // IPCTNL_MSG_CT_GET
	ctaTuple  = 1 // CTA_TUPLE_ORIG
	ctaStatus = 3 // CTA_STATUS
)

// A real ctnetlink GET (one NLM_F_MULTI message, no DONE, then an ACK) and
// a real dump, both read through our own receive path.
func TestQueryRealKernel(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun("conntrack", "-I", "-p", "tcp", "-s", "10.1.1.1", "-d", "10.1.1.2", "--sport", "1000", "--dport", "21",
		"--state", "ESTABLISHED", "-t", "100")
	ns.MustRun("conntrack", "-I", "-p", "udp", "-s", "10.1.1.1", "-d", "10.1.1.3", "--sport", "1001", "--dport", "69", "-t", "100")
	c := ns.Dial()

	tu := ctnetlink.Tuple{Src: netip.MustParseAddr("10.1.1.1"), Dst: netip.MustParseAddr("10.1.1.2"), Proto: unix.IPPROTO_TCP, SrcPort: 1000, DstPort: 21}
	e := ctnl.NewEncoder(nil)
	tu.Encode(e, ctaTuple)
	n := 0
	err := c.Query(ctnl.Request{Op: "get conntrack", Subsys: netfilter.NFSubsysCTNetlink, Type: ctMsgGet,
		Family: netfilter.ProtoIPv4, Attrs: e.Bytes()}, func(m ctnl.Message) error {
		s := ctnl.NewScanner(m.Attrs)
		for s.Next() {
			if s.Type() == ctaTuple {
				got, err := ctnetlink.DecodeTuple(s.Data())
				if err != nil {
					return err
				}
				if got != tu {
					t.Errorf("GET answered %v, want %v", got, tu)
				}
			}
		}
		n++
		return s.Err()
	})
	if err != nil || n != 1 {
		t.Fatalf("GET: %d messages, %v", n, err)
	}

	n = 0
	err = c.Query(ctnl.Request{Op: "dump conntracks", Subsys: netfilter.NFSubsysCTNetlink, Type: ctMsgGet,
		Flags: netlink.Dump}, func(ctnl.Message) error { n++; return nil })
	if err != nil || n != 2 {
		t.Fatalf("dump: %d conntracks, %v", n, err)
	}

	tu.DstPort = 22
	e.Reset()
	tu.Encode(e, ctaTuple)
	err = c.Do(ctnl.Request{Op: "get conntrack", Subsys: netfilter.NFSubsysCTNetlink, Type: ctMsgGet, Family: netfilter.ProtoIPv4, Attrs: e.Bytes()})
	if !errors.Is(err, ctnl.ErrNotFound) {
		t.Fatalf("GET of a missing conntrack: %v, want ErrNotFound", err)
	}
}

func TestReceiveBuffer(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	got, forced, err := c.SetReceiveBuffer(8 << 20)
	if err != nil || !forced || got < 8<<20 {
		t.Fatalf("SetReceiveBuffer(8 MiB) = %d, forced %v, %v", got, forced, err)
	}
	if d, err := c.Drops(); err != nil || d != 0 {
		t.Fatalf("Drops on a fresh socket = %d, %v", d, err)
	}
}

// An event caused by a request carries the requester's port ID; one made
// by the kernel (here: a flush of nothing leaves none) would carry 0.
// Pending peeks at the queued event without taking it.
func TestReceivePortID(t *testing.T) {
	ns := nstest.New(t)
	ev := ns.Dial()
	if err := ev.JoinGroups(1); err != nil { // NFNLGRP_CONNTRACK_NEW
		t.Fatal(err)
	}
	ns.MustRun("conntrack", "-I", "-p", "udp", "-s", "10.1.1.1", "-d", "10.1.1.2", "--sport", "1", "--dport", "2", "-t", "50")
	// The event was queued before conntrack -I returned.
	if p, err := ev.Pending(); !p || err != nil {
		t.Fatalf("Pending with an event queued = %v, %v", p, err)
	}
	var got []uint32
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ev.Receive(ctx, func(m ctnl.Message) error { got = append(got, m.PortID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] == 0 {
		t.Fatalf("event port IDs %v, want one non-zero (conntrack -I's socket)", got)
	}
	if p, err := ev.Pending(); p || err != nil {
		t.Fatalf("Pending once the event is read = %v, %v", p, err)
	}
}

// Requests sent with Write are answered on the same socket; with an ack
// handler, Receive hands each answer over (here ctnetlink refusing an
// expectation without tuples, then acknowledging a flush).
func TestWriteAndAckHandler(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	var acks []ctnl.Ack
	c.SetAckHandler(func(a ctnl.Ack) { acks = append(acks, a) })
	var b []byte
	for i, typ := range []uint16{2<<8 | 0, 2<<8 | 2} { // EXP_NEW (no tuple), EXP_DELETE (flush)
		m := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | netlink.Acknowledge | netlink.Create,
			Sequence: uint32(10 + i)}, Data: []byte{unix.AF_INET, 0, 0, 0}}
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
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for len(acks) < 2 {
		if err := c.Receive(context.Background(), func(ctnl.Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if acks[0].Type != 2<<8 || acks[0].Sequence != 10 || !errors.Is(acks[0].Err, unix.EINVAL) {
		t.Fatalf("first answer %+v, want EINVAL for EXP_NEW", acks[0])
	}
	if acks[1].Type != 2<<8|2 || acks[1].Sequence != 11 || acks[1].Err != nil {
		t.Fatalf("second answer %+v, want an acknowledgement of EXP_DELETE", acks[1])
	}
	// Nothing more: the deadline passes and the read says so.
	err := c.Receive(context.Background(), func(ctnl.Message) error { return nil })
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("nothing before the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}
