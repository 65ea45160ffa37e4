package engine

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

const typHelperGet = 9<<8 | 1 // NFNL_SUBSYS_CTHELPER, NFNL_MSG_CTHELPER_GET

// startFake starts an engine serving two queues on fake kernels that
// acknowledge every request and find no helper object (the disabling at
// stop then has nothing to do).
func startFake(t *testing.T) (*Engine, *fakeKernel) {
	t.Helper()
	k := &fakeKernel{}
	dial := func() (*ctnl.Conn, error) {
		return ctnltest.Dial(ctnltest.Serve(func(req netlink.Message) [][]netlink.Message {
			k.mu.Lock()
			defer k.mu.Unlock()
			k.sent = append(k.sent, req)
			if req.Header.Flags&netlink.Dump == netlink.Dump {
				return [][]netlink.Message{{ctnltest.Done(req)}}
			}
			if req.Header.Flags&netlink.Acknowledge != 0 {
				return [][]netlink.Message{{ctnltest.Ack(req, 0)}}
			}
			return nil
		})), nil
	}
	e := New(Options{Dial: dial, DrainTime: 5 * time.Second})
	cfg := Config{Helpers: []Helper{ftpHelper(unix.AF_INET, 5, "a"), ftpHelper(unix.AF_INET6, 6, "b")}, Cleanup: CleanupDisable}
	cfg.Helpers[1].Object.Name = "ftp6"
	if err := e.Start(cfg); err != nil {
		t.Fatal(err)
	}
	return e, k
}

// settle waits until no more goroutines run than before, or fails.
func settle(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Run serves until its context ends, then disables the helpers, drains
// the queues (each returns once its queue is empty, well before the
// drain's limit), stops every worker and returns: nothing it started
// keeps running.
func TestRunStopsAndLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	e, k := startFake(t)
	var ws []*worker
	for _, b := range e.nets[""].queues {
		ws = append(ws, b.w)
	}
	if len(ws) != 2 {
		t.Fatalf("%d queues bound, want 2", len(ws))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	cancel()
	start := time.Now()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(start); d >= e.opts.DrainTime {
		t.Errorf("Run took %v: the drain waited for its limit, not for empty queues", d)
	}
	for _, w := range ws {
		select {
		case <-w.done:
		default:
			t.Error("a worker still runs after Run returned")
		}
	}
	if n := len(k.messages(typHelperGet)); n != 2 {
		t.Errorf("%d helper lookups, want one to disable each helper", n)
	}
	if err := e.Reload(Config{Helpers: []Helper{ftpHelper(unix.AF_INET, 5, "a")}}); err != ErrStopped {
		t.Errorf("Reload after Run: %v, want ErrStopped", err)
	}
	settle(t, before)
}

// A worker whose socket keeps failing stops Run, which returns the
// worker's error after stopping the others.
func TestRunReturnsWorkerFailure(t *testing.T) {
	before := runtime.NumGoroutine()
	e, _ := startFake(t)
	ran := make(chan error, 1)
	go func() { ran <- e.Run(context.Background()) }()
	e.nets[""].queues[5].w.q.Conn().Close() // every read fails from now on
	select {
	case err := <-ran:
		if err == nil || !strings.Contains(err.Error(), "queue 5: giving up") {
			t.Fatalf("Run: %v, want queue 5's failure", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after a worker failed")
	}
	settle(t, before)
}

// At stop, a helper another live engine serves is left enabled, and
// --cleanup none touches nothing and says what the kernel then does
// with the helper's packets: they pass un-helped, they are not dropped.
func TestCleanupLeavesWhatOthersServe(t *testing.T) {
	e, k := startFake(t)
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e.Run(ctx)
	}()
	var log bytes.Buffer
	e.opts.Log = slog.New(slog.NewTextHandler(&log, nil))
	other := registry.Entry{PID: 42, Netns: []string{"tenant-b"},
		Helpers: []registry.Helper{{Name: "ftp6", Family: "inet6", Proto: "tcp", Queue: 6}}}

	before := len(k.messages(typHelperGet))
	for _, num := range []uint16{5, 6} {
		if err := e.cleanupQueue(e.served[num], CleanupDisable, []registry.Entry{other}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(k.messages(typHelperGet)) - before; n != 1 {
		t.Errorf("%d helper lookups, want one: ftp6 is another engine's", n)
	}
	if !strings.Contains(log.String(), `msg="helper left enabled: another engine serves it" helper=ftp6 family=inet6 proto=tcp pid=42 netns="namespace tenant-b"`) {
		t.Errorf("log:\n%s", &log)
	}

	log.Reset()
	before = len(k.messages(typHelperGet))
	if err := e.cleanupQueue(e.served[5], CleanupNone, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(k.messages(typHelperGet)) - before; n != 0 {
		t.Errorf("--cleanup none: %d helper lookups", n)
	}
	if !strings.Contains(log.String(), "its packets pass un-helped wherever no engine listens on its queue") || strings.Contains(log.String(), "drop") {
		t.Errorf("--cleanup none: log:\n%s", &log)
	}
}

// With FitProcs the runtime has a P per bound queue (at most the CPUs,
// at least one), following queues bound and unbound.
func TestFitProcsFollowsTheQueues(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	e, _ := startFake(t)
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e.Run(ctx)
	}()
	e.opts.FitProcs = true
	runtime.GOMAXPROCS(8)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fitProcs()
	if got, want := runtime.GOMAXPROCS(0), min(2, runtime.NumCPU()); got != want {
		t.Errorf("two queues: GOMAXPROCS %d, want %d", got, want)
	}
	e.unbindQueue(e.nets[""], 5)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("one queue: GOMAXPROCS %d, want 1", got)
	}
	e.unbindQueue(e.nets[""], 6)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("no queue: GOMAXPROCS %d, want 1", got)
	}
}
