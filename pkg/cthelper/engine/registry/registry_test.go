package registry

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	ftp4  = Helper{Name: "ftp", Family: "inet", Proto: "tcp", Queue: 5}
	ftp6  = Helper{Name: "ftp", Family: "inet6", Proto: "tcp", Queue: 6}
	tftp4 = Helper{Name: "tftp", Family: "inet", Proto: "udp", Queue: 7}
)

func TestRegisterRefusesAHelperALiveEngineServes(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "reg"))
	a, err := d.Register(Entry{PID: 100, Netns: []string{"a", "b"}, Helpers: []Helper{ftp4, ftp6}})
	if err != nil {
		t.Fatal(err)
	}
	// Another queue number does not make it another helper object.
	other := ftp4
	other.Queue = 9
	_, err = d.Register(Entry{PID: 200, Netns: []string{"c"}, Helpers: []Helper{tftp4, other}})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Holder.PID != 100 || ce.Helper != other {
		t.Fatalf("second engine: %v, want a conflict with pid 100 over ftp inet tcp", err)
	}
	if want := "helper ftp inet tcp is served by another engine, pid 100 in namespaces a, b"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	// Disjoint helpers are fine.
	b, err := d.Register(Entry{PID: 200, Netns: []string{"c"}, Helpers: []Helper{tftp4}})
	if err != nil {
		t.Fatal(err)
	}
	live, err := d.Live()
	if err != nil || len(live) != 2 || live[0].PID != 100 || live[1].PID != 200 {
		t.Fatalf("live %+v, %v", live, err)
	}
	// b may not take a's helper in a reload either, and keeps its entry.
	if err := b.Update(Entry{PID: 200, Helpers: []Helper{tftp4, ftp6}}); !errors.As(err, &ce) || ce.Holder.PID != 100 {
		t.Fatalf("update onto a's helper: %v", err)
	}
	if err := b.Update(Entry{PID: 200, Netns: []string{"c", "d"}, Helpers: []Helper{tftp4}}); err != nil {
		t.Fatal(err)
	}
	live, _ = d.Live()
	if got := live[1].NetnsText(); got != "namespaces c, d" {
		t.Errorf("after update: %q", got)
	}

	// Releasing a hands it the other live engines, under the lock.
	var seen []Entry
	if err := a.Release(func(others []Entry) { seen = others }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].PID != 200 {
		t.Errorf("a's release saw %+v, want b only", seen)
	}
	if live, _ := d.Live(); len(live) != 1 || live[0].PID != 200 {
		t.Errorf("after a's release: %+v", live)
	}
	if _, err := d.Register(Entry{PID: 300, Helpers: []Helper{ftp4}}); err != nil {
		t.Errorf("ftp after a's release: %v", err)
	}
}

// A file left by an engine that died is ignored and removed, whatever the
// pid in it (here one that does not exist).
func TestStaleEntriesAreIgnored(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	os.MkdirAll(dir, 0o755)
	b, _ := json.Marshal(Entry{PID: 1 << 30, Netns: []string{"a"}, Helpers: []Helper{ftp4}})
	stale := filepath.Join(dir, "1073741824-deadbeef.json")
	os.WriteFile(stale, b, 0o644)
	d := Open(dir)
	if live, err := d.Live(); err != nil || len(live) != 0 {
		t.Fatalf("live %+v, %v; want none", live, err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("a listing removed the stale entry: %v", err)
	}
	c, err := d.Register(Entry{PID: os.Getpid(), Helpers: []Helper{ftp4}})
	if err != nil {
		t.Fatalf("register over a stale entry: %v", err)
	}
	defer c.Release(nil)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale entry not removed at register: %v", err)
	}
}

func TestLiveWithoutRegistry(t *testing.T) {
	live, err := Open(filepath.Join(t.TempDir(), "none")).Live()
	if err != nil || live != nil {
		t.Fatalf("%+v, %v", live, err)
	}
}

// An engine killed with SIGKILL leaves its file; the next engine starts.
func TestKilledEngineDoesNotBlock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperEngineProcess$")
	cmd.Env = append(os.Environ(), "REGISTRY_TEST_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "registered") {
		t.Fatalf("child: %q, %v", line, err)
	}
	d := Open(dir)
	_, err = d.Register(Entry{PID: os.Getpid(), Helpers: []Helper{ftp4}})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Holder.PID != cmd.Process.Pid {
		t.Fatalf("while the child lives: %v, want a conflict with pid %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	c, err := d.Register(Entry{PID: os.Getpid(), Helpers: []Helper{ftp4}})
	if err != nil {
		t.Fatalf("after SIGKILL of the child: %v", err)
	}
	c.Release(nil)
}

// TestHelperEngineProcess is the child of TestKilledEngineDoesNotBlock.
func TestHelperEngineProcess(t *testing.T) {
	dir := os.Getenv("REGISTRY_TEST_DIR")
	if dir == "" {
		return
	}
	if _, err := Open(dir).Register(Entry{PID: os.Getpid(), Netns: []string{"a"}, Helpers: []Helper{ftp4}}); err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("registered\n")
	time.Sleep(time.Minute)
	os.Exit(0)
}

func TestNetnsText(t *testing.T) {
	for _, c := range []struct {
		e    Entry
		want string
	}{
		{Entry{PID: 7, Netns: []string{""}}, "its own network namespace (/proc/7/ns/net)"},
		{Entry{Netns: []string{"a"}}, "namespace a"},
		{Entry{Netns: []string{"", "a", "b"}, Own: "/proc/1/ns/net"}, "its own network namespace (/proc/1/ns/net) and namespaces a, b"},
		{Entry{Follows: []string{"/run/netns"}, Netns: []string{"a"}}, "every namespace in /run/netns (now a)"},
		{Entry{Follows: []string{"/run/netns"}}, "every namespace in /run/netns (none now)"},
	} {
		if got := c.e.NetnsText(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}
