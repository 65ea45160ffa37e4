package nfq_test

import (
	"encoding/binary"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/gonfct/gonfct/pkg/nfq"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// stagingKernel acks the queue's configuration and records every other
// datagram; with failBatches it refuses a datagram holding more than one
// verdict, as a kernel short of memory refuses a large send.
type stagingKernel struct {
	datagrams   [][]byte
	failBatches bool
	quiet       bool // records nothing (allocation tests)
}

func (k *stagingKernel) bind(t *testing.T) *nfq.Queue {
	t.Helper()
	q, err := nfq.Bind(ctnltest.Dial(func(req []byte) ([][]byte, error) {
		if k.quiet {
			return nil, nil
		}
		ms, err := ctnltest.Messages(req)
		if err != nil {
			return nil, err
		}
		if uint16(ms[0].Header.Type) == 3<<8|2 { // NFQNL_MSG_CONFIG
			return [][]byte{ctnltest.Datagram(ctnltest.Ack(ms[0], 0))}, nil
		}
		if k.failBatches && verdicts(ms) > 1 {
			return nil, unix.ENOBUFS
		}
		k.datagrams = append(k.datagrams, req)
		return nil, nil
	}), nfq.Config{Num: 5})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func verdicts(ms []netlink.Message) int {
	n := 0
	for _, m := range ms {
		if uint16(m.Header.Type) == 3<<8|1 {
			n++
		}
	}
	return n
}

// verdictIDs are the packet ids of the verdicts in a datagram, in order.
func verdictIDs(t *testing.T, b []byte) []uint32 {
	t.Helper()
	ms, err := ctnltest.Messages(b)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for _, m := range ms {
		if uint16(m.Header.Type) != 3<<8|1 {
			continue
		}
		s := ctnl.NewScanner(m.Data[4:])
		for s.Next() {
			if s.Type() == 2 {
				ids = append(ids, binary.BigEndian.Uint32(s.Data()[4:]))
			}
		}
	}
	return ids
}

func stage(t *testing.T, q *nfq.Queue, v *nfq.Verdict, id uint32, payload int) {
	t.Helper()
	v.Start(5, id, nfq.Accept)
	if payload > 0 {
		v.Payload(make([]byte, payload))
	}
	if err := q.Stage(v); err != nil {
		t.Fatal(err)
	}
}

// Staged verdicts leave in one datagram, in order, with the requests that
// ride ahead of each; a batch that would outgrow MaxStaged is split.
func TestStageFlush(t *testing.T) {
	k := &stagingKernel{}
	q := k.bind(t)
	var v nfq.Verdict
	for id := uint32(1); id <= 3; id++ {
		stage(t, q, &v, id, 0)
	}
	if len(k.datagrams) != 0 || q.Staged() != 3 {
		t.Fatalf("%d datagrams sent before Flush, %d staged", len(k.datagrams), q.Staged())
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(k.datagrams) != 1 || q.Staged() != 0 {
		t.Fatalf("flush sent %d datagrams, left %d staged; want 1 and 0", len(k.datagrams), q.Staged())
	}
	if ids := verdictIDs(t, k.datagrams[0]); len(ids) != 3 || ids[0] != 1 || ids[2] != 3 {
		t.Fatalf("verdicts %v, want [1 2 3]", ids)
	}
	if err := q.Flush(); err != nil || len(k.datagrams) != 1 {
		t.Fatalf("empty flush: %v, %d datagrams", err, len(k.datagrams))
	}

	// Three verdicts of 60 KiB each: the third does not fit in MaxStaged
	// with the first two, which leave first.
	k.datagrams = nil
	for id := uint32(4); id <= 6; id++ {
		stage(t, q, &v, id, 60<<10)
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(k.datagrams) != 2 || len(verdictIDs(t, k.datagrams[0])) != 2 || verdictIDs(t, k.datagrams[1])[0] != 6 {
		t.Fatalf("large verdicts went in %d datagrams, want 2 (4 and 5, then 6)", len(k.datagrams))
	}
	for _, d := range k.datagrams {
		if len(d) > nfq.MaxStaged {
			t.Fatalf("datagram of %d bytes, above MaxStaged", len(d))
		}
	}
}

// When the kernel refuses the batch's write, each verdict goes alone:
// no packet is left without its verdict.
func TestFlushFallsBackToSingleVerdicts(t *testing.T) {
	k := &stagingKernel{failBatches: true}
	q := k.bind(t)
	var v nfq.Verdict
	for id := uint32(1); id <= 3; id++ {
		v.Start(5, id, nfq.Accept)
		v.Request(2, 0, unix.AF_INET, unix.NLM_F_CREATE, 0, nil)
		if err := q.Stage(&v); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Flush(); err != nil {
		t.Fatalf("flush after a refused batch: %v", err)
	}
	if len(k.datagrams) != 3 {
		t.Fatalf("%d datagrams after a refused batch, want one per verdict", len(k.datagrams))
	}
	for i, d := range k.datagrams {
		ms, _ := ctnltest.Messages(d)
		if len(ms) != 2 || uint16(ms[0].Header.Type) != 2<<8 || verdictIDs(t, d)[0] != uint32(i+1) {
			t.Fatalf("datagram %d: %d messages, want the request then verdict %d", i, len(ms), i+1)
		}
	}
}

// Staging and flushing allocate nothing once the buffers have grown.
func TestStageFlushAllocationFree(t *testing.T) {
	k := &stagingKernel{}
	q := k.bind(t)
	var v nfq.Verdict
	run := func() {
		for id := uint32(1); id <= 8; id++ {
			v.Start(5, id, nfq.Accept)
			_ = q.Stage(&v)
		}
		_ = q.Flush()
	}
	k.quiet = true
	run()
	if a := testing.AllocsPerRun(100, run); a > 1 {
		// The fake kernel copies each datagram it is given (one
		// allocation); Stage and Flush add none.
		t.Fatalf("%v allocations per batch of 8", a)
	}
}
