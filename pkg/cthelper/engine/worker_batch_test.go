package engine

import (
	"encoding/binary"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/gonfct/gonfct/pkg/nfq"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// queuedPacket is the datagram the kernel sends for a queued 227 reply
// of packet id on queue 5, with its conntrack.
func queuedPacket(t *testing.T, id uint32) []byte {
	e := ctnl.NewEncoder(nil)
	var hdr [7]byte
	binary.BigEndian.PutUint32(hdr[:], id)
	binary.BigEndian.PutUint16(hdr[4:], unix.ETH_P_IP)
	e.Put(1, hdr[:])                                // NFQA_PACKET_HDR
	e.Put(10, mustHex(t, v4Reply227))               // NFQA_PAYLOAD
	e.Put(11|0x8000, conntrackAttrs(true, nil))     // NFQA_CT
	e.Uint32(12, uint32(cthelper.EstablishedReply)) // NFQA_CT_INFO
	return ctnltest.Datagram(netlink.Message{Header: netlink.Header{Type: 3<<8 | 0},
		Data: append([]byte{unix.AF_INET, 0, 0, 5}, e.Bytes()...)})
}

// Packets that wait together are served together: one read takes them
// all, and their verdicts, each behind its expectation request, leave
// in one datagram, in the order the packets came.
func TestRunBatchesVerdicts(t *testing.T) {
	var mu sync.Mutex
	var datagrams [][]netlink.Message
	sock := ctnltest.NewSocket(func(req []byte) ([][]byte, error) {
		ms, err := ctnltest.Messages(req)
		if err != nil {
			return nil, err
		}
		if uint16(ms[0].Header.Type) == 3<<8|2 { // queue configuration
			return [][]byte{ctnltest.Datagram(ctnltest.Ack(ms[0], 0))}, nil
		}
		mu.Lock()
		datagrams = append(datagrams, ms)
		mu.Unlock()
		return nil, nil
	})
	q, err := nfq.Bind(ctnl.New(sock), nfq.Config{Num: 5, Conntrack: true, BatchReads: batchReads})
	if err != nil {
		t.Fatal(err)
	}
	for id := uint32(1); id <= 3; id++ {
		sock.Inject(queuedPacket(t, id))
	}
	stats := &Stats{Helper: "ftp", Queue: 5}
	w := newWorker(q, &Serving{Name: "ftp", Parser: parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		pasvExpect(res)
		return nil
	}), PrivLen: 24, ExpectVia: ExpectAuto}, slog.New(slog.DiscardHandler), stats, nil)
	go w.run()
	for start := time.Now(); stats.Accepted.Load() < 3; time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d of 3 packets served", stats.Accepted.Load())
		}
	}
	w.stop()
	mu.Lock()
	defer mu.Unlock()
	if len(datagrams) != 1 || len(datagrams[0]) != 6 {
		t.Fatalf("%d datagrams written (first of %d messages), want one of 3 x (expectation, verdict)", len(datagrams), len(datagrams[0]))
	}
	for i, m := range datagrams[0] {
		want := uint16(typExpNew)
		if i%2 == 1 {
			want = typVerdict
			if id := binary.BigEndian.Uint32(m.Data[4+4+4:]); id != uint32(i/2+1) {
				t.Fatalf("verdict %d is for packet %d, want %d", i/2, id, i/2+1)
			}
		}
		if uint16(m.Header.Type) != want {
			t.Fatalf("message %d of type %#x, want %#x", i, m.Header.Type, want)
		}
	}
	if stats.ExpectCtnetlink.Load() != 3 {
		t.Fatalf("%d expectations counted, want 3", stats.ExpectCtnetlink.Load())
	}
	for _, m := range datagrams[0] {
		if m.Header.Flags&netlink.Acknowledge != 0 {
			t.Fatalf("message of type %#x asks for an acknowledgement", m.Header.Type)
		}
	}
}

// Serving a packet and staging its verdict allocates nothing once the
// buffers have grown: the per-packet path of a batch.
func TestHandleStagedAllocationFree(t *testing.T) {
	quiet := false
	sock := ctnltest.NewSocket(func(req []byte) ([][]byte, error) {
		if quiet {
			return nil, nil
		}
		ms, err := ctnltest.Messages(req)
		if err != nil {
			return nil, err
		}
		return [][]byte{ctnltest.Datagram(ctnltest.Ack(ms[0], 0))}, nil
	})
	q, err := nfq.Bind(ctnl.New(sock), nfq.Config{Num: 5, Conntrack: true, BatchReads: batchReads})
	if err != nil {
		t.Fatal(err)
	}
	quiet = true
	w := newWorker(q, &Serving{Name: "ftp", Parser: parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		pasvExpect(res)
		return nil
	}), PrivLen: 24, ExpectVia: ExpectAuto}, slog.New(slog.DiscardHandler), &Stats{}, nil)
	p := &nfq.Packet{Queue: 5, Family: unix.AF_INET, ID: 77, Payload: mustHex(t, v4Reply227),
		CT: conntrackAttrs(true, nil), CTInfo: uint32(cthelper.EstablishedReply), HasCTInfo: true}
	for range batchReads {
		_ = w.handle(p)
	}
	w.flush()
	n := 0
	if a := testing.AllocsPerRun(200, func() {
		_ = w.handle(p)
		if n++; n%batchReads == 0 {
			w.flush()
		}
	}); a != 0 {
		t.Fatalf("%v allocations per packet", a)
	}
}
