package ctnl_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/mdlayher/netlink"
)

// packetMsg is an NFQUEUE-like message (subsystem 3) whose nfgenmsg
// resource id is id.
func packetMsg(id byte) []byte {
	return ctnltest.Datagram(netlink.Message{Header: netlink.Header{Type: 3<<8 | 0}, Data: []byte{2, 0, 0, id}})
}

// With batch reads, one Receive hands over every datagram that is ready,
// at most the batch size, in order; one that cannot be read (cut short)
// does not cost those behind it, and its error comes back after them.
func TestReceiveBatch(t *testing.T) {
	s := ctnltest.NewSocket(nil)
	c := ctnl.New(s)
	c.SetBatchReads(4)
	big := ctnltest.Datagram(netlink.Message{Header: netlink.Header{Type: 0x0300}, Data: make([]byte, 100<<10)})
	s.Inject(packetMsg(1), packetMsg(2), big, packetMsg(3), packetMsg(4), packetMsg(5))
	var got []byte
	fn := func(m ctnl.Message) error { got = append(got, byte(m.Header.ResourceID)); return nil }
	err := c.Receive(context.Background(), fn)
	if err == nil || !strings.Contains(err.Error(), "larger than the") {
		t.Fatalf("batch with an oversized datagram: %v", err)
	}
	if string(got) != "\x01\x02\x03" {
		t.Fatalf("first batch of 4 datagrams delivered %v, want [1 2 3]", got)
	}
	got = nil
	if err := c.Receive(context.Background(), fn); err != nil || string(got) != "\x04\x05" {
		t.Fatalf("second batch: %v, delivered %v, want [4 5]", err, got)
	}
}

// Batch reads allocate nothing of their own either.
func TestReceiveBatchAllocationFree(t *testing.T) {
	s := ctnltest.NewSocket(nil)
	c := ctnl.New(s)
	c.SetBatchReads(8)
	for range 8 * 101 {
		s.Inject(packetMsg(7))
	}
	n := 0
	fn := func(ctnl.Message) error { n++; return nil }
	if a := testing.AllocsPerRun(100, func() {
		if err := c.Receive(context.Background(), fn); err != nil {
			t.Fatal(err)
		}
	}); a != 0 || n != 8*101 {
		t.Fatalf("Receive: %v allocations per batch, %d messages seen (want %d)", a, n, 8*101)
	}
}
