//go:build hosttest

package nfq_test

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/nfq"
	"golang.org/x/sys/unix"
)

// A real queue on this kernel: bound without the conntrack glue (which
// this kernel lacks), a UDP packet queued by iptables arrives whole, and
// the verdict decides its fate (an accepted packet's conntrack is
// confirmed and listed, a dropped one's is not).
func TestQueueRealKernel(t *testing.T) {
	ns := nstest.New(t)
	// A conntrack match makes the namespace track connections at all.
	ns.MustRun("iptables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	ns.MustRun("iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "9999", "-j", "NFQUEUE", "--queue-num", "7")
	q, err := nfq.Bind(ns.Dial(), nfq.Config{Num: 7, MaxLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if out := ns.MustRun("cat", "/proc/net/netfilter/nfnetlink_queue"); !strings.HasPrefix(strings.TrimSpace(out), "7 ") {
		t.Fatalf("queue 7 not bound: %q", out)
	}

	for _, tc := range []struct {
		sport   string
		verdict uint32
		listed  bool
	}{{"40001", nfq.Drop, false}, {"40002", nfq.Accept, true}} {
		// Debian's python3, not a version manager's shim that may take seconds to start.
		go ns.Run("/usr/bin/python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "+
			"s.bind(('127.0.0.1', "+tc.sport+")); s.sendto(b'hello\\n', ('127.0.0.1', 9999))")
		var v nfq.Verdict
		got := false
		deadline := time.AfterFunc(5*time.Second, q.Interrupt)
		err := q.Receive(func(p *nfq.Packet) error {
			if p.Queue != 7 || p.Family != unix.AF_INET || len(p.Payload) != 20+8+6 || p.Payload[9] != unix.IPPROTO_UDP {
				t.Errorf("packet %+v", p)
			}
			if string(p.Payload[28:]) != "hello\n" {
				t.Errorf("payload %q", p.Payload[28:])
			}
			if p.CT != nil || p.HasCTInfo {
				t.Errorf("conntrack attributes without the glue: %+v", p)
			}
			v.Start(p.Queue, p.ID, tc.verdict)
			got = true
			return q.Send(&v)
		})
		deadline.Stop()
		if err != nil || !got {
			t.Fatalf("receive: %v (packet seen: %v)", err, got)
		}
		time.Sleep(100 * time.Millisecond)
		out, _ := ns.Run("conntrack", "-L", "-p", "udp", "--sport", tc.sport)
		if listed := strings.Contains(out, "dport=9999"); listed != tc.listed {
			t.Fatalf("verdict %d: conntrack listed %v, want %v:\n%s", tc.verdict, listed, tc.listed, out)
		}
	}
}

// This kernel lacks CONFIG_NETFILTER_NETLINK_GLUE_CT: binding with the
// conntrack flag must fail with ErrNotSupported and say so, and leave the
// queue unbound.
func TestQueueWithoutGlue(t *testing.T) {
	ns := nstest.New(t)
	_, err := nfq.Bind(ns.Dial(), nfq.Config{Num: 3, Conntrack: true})
	if !errors.Is(err, ctnl.ErrNotSupported) || !strings.Contains(err.Error(), "CONFIG_NETFILTER_NETLINK_GLUE_CT") {
		t.Fatalf("bind with conntrack glue: %v, want ErrNotSupported naming CONFIG_NETFILTER_NETLINK_GLUE_CT", err)
	}
	if out := ns.MustRun("cat", "/proc/net/netfilter/nfnetlink_queue"); strings.TrimSpace(out) != "" {
		t.Fatalf("queue left bound after the failed bind: %q", out)
	}
}

// A queue bound by another socket is refused with a message naming it.
func TestQueueOwnedElsewhere(t *testing.T) {
	ns := nstest.New(t)
	q, err := nfq.Bind(ns.Dial(), nfq.Config{Num: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	_, err = nfq.Bind(ns.Dial(), nfq.Config{Num: 4})
	if err == nil || !strings.Contains(err.Error(), "bound by another process") {
		t.Fatalf("second bind: %v, want 'bound by another process'", err)
	}
}

// Batched reads and writes on this kernel: three packets wait in the
// queue; one Receive takes them all (recvmmsg), and their verdicts leave
// in one write (Stage, Flush), each taking effect: two accepted packets'
// conntracks are confirmed and listed, the dropped one's is not.
func TestQueueBatchRealKernel(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun("iptables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	ns.MustRun("iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "9998", "-j", "NFQUEUE", "--queue-num", "8")
	q, err := nfq.Bind(ns.Dial(), nfq.Config{Num: 8, MaxLen: 64, BatchReads: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ports := []string{"40011", "40012", "40013"}
	for _, sport := range ports {
		go ns.Run("/usr/bin/python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "+
			"s.bind(('127.0.0.1', "+sport+")); s.sendto(b'hello\\n', ('127.0.0.1', 9998))")
	}
	// Wait until all three wait in the queue (queue_total, the third field).
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		f := strings.Fields(ns.MustRun("cat", "/proc/net/netfilter/nfnetlink_queue"))
		if len(f) > 2 && f[2] == "3" {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("three packets never waited in queue 8: %v", f)
		}
	}
	var v nfq.Verdict
	seen := map[string]uint32{}
	err = q.Receive(func(p *nfq.Packet) error {
		sport := strconv.Itoa(int(binary.BigEndian.Uint16(p.Payload[20:])))
		verdict := nfq.Accept
		if sport == ports[1] {
			verdict = nfq.Drop
		}
		seen[sport] = verdict
		v.Start(p.Queue, p.ID, verdict)
		return q.Stage(&v)
	})
	if err != nil || len(seen) != 3 || q.Staged() != 3 {
		t.Fatalf("one receive: %v, packets %v, %d verdicts staged; want all three", err, seen, q.Staged())
	}
	if err := q.Flush(); err != nil || q.Staged() != 0 {
		t.Fatalf("flush: %v, %d left staged", err, q.Staged())
	}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		f := strings.Fields(ns.MustRun("cat", "/proc/net/netfilter/nfnetlink_queue"))
		if len(f) > 2 && f[2] == "0" {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("verdicts not applied, packets still queued: %v", f)
		}
	}
	for _, sport := range ports {
		out, _ := ns.Run("conntrack", "-L", "-p", "udp", "--sport", sport)
		if listed := strings.Contains(out, "dport=9998"); listed != (seen[sport] == nfq.Accept) {
			t.Errorf("source port %s, verdict %d: conntrack listed %v:\n%s", sport, seen[sport], listed, out)
		}
	}
}
