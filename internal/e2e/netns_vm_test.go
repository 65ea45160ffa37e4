//go:build vmtest

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The multi-namespace scenarios of issue 14: one `gonfct run` serving the
// firewalls of several tenants, each a network namespace with its own FTP
// client and server behind a drop-by-default ruleset (the same addresses
// in every tenant: only the namespaces keep them apart), and engines that
// do not undo each other's helpers.

const netnsMetrics = "127.0.0.1:19472"

// The FTP transfers each tenant tries: passive and active over IPv4.
var tenantModes = []ftpMode{ftpModes[0], ftpModes[2]}

// tenantFTP downloads in every mode and reports what went wrong; with
// want false, a transfer that succeeds is what is wrong.
func tenantFTP(n *ftpNet, want bool, modes []ftpMode) []string {
	var bad []string
	for _, m := range modes {
		maxTime := 30
		if !want {
			maxTime = 6
		}
		size, out, err := n.download(m, maxTime)
		if ok := err == nil && size == n.size; ok != want {
			bad = append(bad, fmt.Sprintf("%s in %s: %d of %d bytes, %v: %s", m.name, n.rtr.Name, size, n.size, err, out))
		}
	}
	return bad
}

// helperLine is gonfct's listing line of one helper object.
func helperLine(t *testing.T, family string) string {
	out, _, _ := gonfct(t, "helper", "get", "ftp", family, "tcp")
	return strings.TrimSpace(out)
}

func TestNetnsOneEngineThreeTenants(t *testing.T) {
	ownHelpers(t)
	var tenants []*ftpNet
	var args, names []string
	for range 3 {
		n := newFTPNet(t)
		tenants = append(tenants, n)
		args = append(args, "--netns", n.rtr.Name)
		names = append(names, n.rtr.Name)
	}
	eng := startEngine(t, append(args, "run", "--helper", "ftp:inet:tcp:queue=5", "--helper", "ftp:inet6:tcp:queue=6",
		"--metrics", netnsMetrics, "--log-level", "debug")...)
	// One kernel object per family, whatever the number of namespaces,
	// and the listing says which engine serves it, where.
	want := fmt.Sprintf("ftp inet tcp queue=5 enabled priv-len=24 policy=ftp:1:300 engine=pid:%d netns=%s",
		eng.cmd.Process.Pid, strings.Join(names, ","))
	if got := helperLine(t, "inet"); got != want {
		t.Fatalf("helper get ftp inet tcp:\n got %s\nwant %s", got, want)
	}
	for _, n := range tenants {
		n.loadRuleset(t)
	}
	for i, n := range tenants {
		modes := tenantModes
		if i == 0 {
			modes = append(modes, ftpModes[4], ftpModes[5]) // and IPv6 in one of them
		}
		for _, b := range tenantFTP(n, true, modes) {
			t.Error(b)
		}
	}
	body := metricsText(netnsMetrics)
	for _, name := range names {
		line := metricLine(body, `gonfct_helper_packets_total{netns="`+name+`",helper="ftp",queue="5",verdict="accept"}`)
		if line == "" || strings.HasSuffix(line, " 0") {
			t.Errorf("no packets counted in %s: %q\n%s", name, line, body)
		}
	}
	for _, name := range names {
		if !strings.Contains(eng.stderr.String(), `msg="queue bound" netns=`+name+" helper=ftp queue=5") {
			t.Errorf("the log does not name namespace %s:\n%s", name, eng.stderr.String())
		}
	}

	eng.stop(t)
	if got := helperLine(t, "inet"); !strings.Contains(got, "queue=5 disabled") || strings.Contains(got, "engine=") {
		t.Errorf("after the engine stopped: %s", got)
	}
	for _, n := range tenants {
		for _, b := range tenantFTP(n, false, tenantModes) {
			t.Error("without the engine: " + b)
		}
	}
}

// --netns-all serves a namespace made after the engine started within a
// second, and lets go of a deleted one while the others keep working.
func TestNetnsAllFollowsNamespaces(t *testing.T) {
	ownHelpers(t)
	a := newFTPNet(t)
	eng := startEngine(t, "run", "--netns-all", "--helper", "ftp:inet:tcp:queue=5", "--log-level", "debug")
	a.loadRuleset(t)
	for _, b := range tenantFTP(a, true, tenantModes) {
		t.Error(b)
	}

	// A bare namespace made now: served within a second.
	late := "gonfct-t-late"
	if out, err := exec.Command("ip", "netns", "add", late).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	made := time.Now()
	t.Cleanup(func() { exec.Command("ip", "netns", "del", late).Run() })
	served := `msg="serving namespace" netns=` + late
	for !strings.Contains(eng.stderr.String(), served) && time.Since(made) < 5*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(made); took > time.Second {
		t.Errorf("namespace %s served after %v (want within a second)", late, took.Round(time.Millisecond))
	}

	// A tenant made after the start: its FTP works through the engine.
	b := newFTPNet(t)
	b.loadRuleset(t)
	for _, bad := range tenantFTP(b, true, tenantModes) {
		t.Error(bad)
	}

	// Deleting a's firewall namespace: the engine lets go of it (it holds
	// no file of it any more, so the kernel can free it), b still works.
	var st syscall.Stat_t
	if err := syscall.Stat(a.rtr.Path(), &st); err != nil {
		t.Fatal(err)
	}
	a.rtr.Delete()
	letGo := `msg="namespace let go" netns=` + a.rtr.Name
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(eng.stderr.String(), letGo) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(eng.stderr.String(), letGo) {
		t.Errorf("no %q in the log", letGo)
	}
	if fds := nsFds(t, eng.cmd.Process.Pid, st.Ino); fds != "" {
		t.Errorf("the engine still holds the deleted namespace: %s", fds)
	}
	for _, bad := range tenantFTP(b, true, tenantModes) {
		t.Error("after deleting another tenant: " + bad)
	}
	eng.stop(t)
}

// nsFds lists the process's open files that are the network namespace
// of that inode.
func nsFds(t *testing.T, pid int, ino uint64) string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if l, err := os.Readlink(filepath.Join(dir, de.Name())); err == nil && l == "net:["+strconv.FormatUint(ino, 10)+"]" {
			out = append(out, de.Name()+" -> "+l)
		}
	}
	return strings.Join(out, ", ")
}

// A second engine that would take a helper the first serves is refused
// before it touches anything; one with other helpers may run, and leaves
// the first's helpers alone when it exits; after a kill -9 of the first,
// a new engine starts.
func TestNetnsSecondEngineRefused(t *testing.T) {
	ownHelpers(t)
	a, b := nstest.New(t), nstest.New(t)
	first := startEngine(t, "--netns", a.Name, "run", "--helper", "ftp:inet:tcp:queue=5")
	pid := first.cmd.Process.Pid
	before := nfctHelpers(t)["ftp/2/6"]

	second := []string{"--netns", b.Name, "run", "--helper", "ftp:inet:tcp:queue=7"}
	out, err := exec.Command(gonfctBin(t), second...).CombinedOutput()
	want := fmt.Sprintf("gonfct: helper ftp inet tcp is served by another engine, pid %d in namespace %s: "+
		"serve every namespace from one process: stop pid %d and run one gonfct run --netns %s --netns %s with the helpers of both",
		pid, a.Name, pid, a.Name, b.Name)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasPrefix(string(out), want) || strings.Count(string(out), "\n") != 1 {
		t.Fatalf("second engine: %v\n got %s\nwant %s...", err, out, want)
	}
	if after := nfctHelpers(t)["ftp/2/6"]; after["queuenum"] != "5" || after["status"] != before["status"] || before["status"] != "enabled" {
		t.Fatalf("the refused engine touched the first's helper: %v, then %v", before, after)
	}
	// --check says the same, as a problem.
	out, err = exec.Command(gonfctBin(t), append(second, "--check")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("MISSING helper ftp inet tcp: helper ftp inet tcp is served by another engine, pid %d", pid)) {
		t.Errorf("--check of the second engine: %v\n%s", err, out)
	}

	// Other helpers are fine; on exit that engine disables only its own.
	other := startEngine(t, "--netns", b.Name, "run", "--helper", "tftp:inet:udp:queue=8")
	other.stop(t)
	if got := helperLine(t, "inet"); !strings.Contains(got, "queue=5 enabled") || !strings.Contains(got, fmt.Sprintf("engine=pid:%d", pid)) {
		t.Errorf("after another engine's exit: %s", got)
	}
	if out, _, _ := gonfct(t, "helper", "get", "tftp", "inet", "udp"); !strings.Contains(out, "disabled") {
		t.Errorf("the other engine's own helper after its exit: %s", out)
	}

	// kill -9: its registry entry is left behind, and blocks nothing.
	first.cmd.Process.Kill()
	<-first.done
	third := startEngine(t, second...)
	if got := helperLine(t, "inet"); !strings.Contains(got, "queue=7 enabled") ||
		!strings.Contains(got, fmt.Sprintf("engine=pid:%d netns=%s", third.cmd.Process.Pid, b.Name)) {
		t.Errorf("after kill -9 of the first engine: %s", got)
	}
	third.stop(t)
}

// An engine serving the namespace it runs in is named by a name the
// other engine can use (/proc/1/ns/net here, the VM's first namespace),
// in the refusal, its advice and the listing: the one engine the advice
// proposes must serve both engines' namespaces.
func TestNetnsSecondEngineAdviceNamesOwnNamespaces(t *testing.T) {
	ownHelpers(t)
	b := nstest.New(t)
	refused := func(second ...string) string {
		t.Helper()
		out, err := exec.Command(gonfctBin(t), second...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || strings.Count(string(out), "\n") != 1 {
			t.Fatalf("second engine %q: %v\n%s", second, err, out)
		}
		return string(out)
	}

	first := startEngine(t, "run", "--helper", "ftp:inet:tcp:queue=5")
	pid := first.cmd.Process.Pid
	want := fmt.Sprintf("gonfct: helper ftp inet tcp is served by another engine, pid %d in its own network namespace (/proc/1/ns/net): "+
		"serve every namespace from one process: stop pid %d and run one gonfct run --netns /proc/1/ns/net --netns %s with the helpers of both",
		pid, pid, b.Name)
	if out := refused("--netns", b.Name, "run", "--helper", "ftp:inet:tcp:queue=5"); !strings.HasPrefix(out, want) {
		t.Errorf("got  %s\nwant %s...", out, want)
	}
	if got := helperLine(t, "inet"); !strings.Contains(got, fmt.Sprintf("engine=pid:%d netns=/proc/1/ns/net", pid)) {
		t.Errorf("listing: %s", got)
	}
	first.stop(t)

	first = startEngine(t, "--netns", b.Name, "run", "--helper", "ftp:inet:tcp:queue=5")
	pid = first.cmd.Process.Pid
	want = fmt.Sprintf("gonfct: helper ftp inet tcp is served by another engine, pid %d in namespace %s: "+
		"serve every namespace from one process: stop pid %d and run one gonfct run --netns %s --netns /proc/1/ns/net with the helpers of both",
		pid, b.Name, pid, b.Name)
	if out := refused("run", "--helper", "ftp:inet:tcp:queue=5"); !strings.HasPrefix(out, want) {
		t.Errorf("got  %s\nwant %s...", out, want)
	}
	first.stop(t)
}

// The helper commands that would break a running engine's helper refuse
// it, naming the engine, and change nothing; --force does it.
func TestNetnsHelperCommandsRefuseAServedHelper(t *testing.T) {
	ownHelpers(t)
	a := nstest.New(t)
	eng := startEngine(t, "--netns", a.Name, "run", "--helper", "ftp:inet:tcp:queue=5")
	refusal := fmt.Sprintf("gonfct: helper ftp inet tcp is served by gonfct run, pid %d in namespace %s: its traffic would pass un-helped: "+
		"stop that engine first (it disables its helpers when it exits), or give --force\n", eng.cmd.Process.Pid, a.Name)
	for _, args := range [][]string{
		{"helper", "disable", "ftp", "inet", "tcp"},
		{"helper", "delete", "ftp"},
		{"helper", "flush"},
		{"helper", "update", "ftp", "inet", "tcp", "--queue", "9"},
		{"helper", "add", "ftp", "inet", "tcp", "--replace"},
	} {
		if _, errw, code := gonfct(t, args...); code != 1 || errw != refusal {
			t.Errorf("gonfct %s: exit %d\n got %s\nwant %s", strings.Join(args, " "), code, errw, refusal)
		}
	}
	if h := nfctHelpers(t)["ftp/2/6"]; h["queuenum"] != "5" || h["status"] != "enabled" {
		t.Fatalf("a refused command changed the engine's helper: %v", h)
	}
	mustGonfct(t, "helper", "update", "ftp", "inet", "tcp", "--status", "enabled")
	mustGonfct(t, "helper", "disable", "ftp", "inet", "tcp", "--force")
	if h := nfctHelpers(t)["ftp/2/6"]; h["status"] != "disabled" {
		t.Errorf("--force: %v", h)
	}
	eng.stop(t)
}

// One helper object has one queue: two namespaces' Type blocks that give
// a helper two queues are refused before anything reaches the kernel.
func TestNetnsQueueDiffersRefused(t *testing.T) {
	ownHelpers(t)
	a, b := nstest.New(t), nstest.New(t)
	conf := filepath.Join(t.TempDir(), "helpers.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`Helper {
	Netns %s
	Netns %s
	Type ftp inet tcp {
		QueueNum 5
		Netns %s
	}
	Type ftp inet tcp {
		QueueNum 6
		Netns %s
	}
}
`, a.Name, b.Name, a.Name, b.Name)), 0o644)
	out, err := exec.Command(gonfctBin(t), "run", "--config", conf).CombinedOutput()
	want := "gonfct: " + conf + ":8:2: helper ftp inet tcp has QueueNum 6 here and 5 at " + conf + ":4:2: " +
		"the kernel keeps one queue number per helper, for every namespace: give both the same QueueNum\n"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || string(out) != want {
		t.Errorf("%v\n got %s\nwant %s", err, out, want)
	}
	if hs := nfctHelpers(t); len(hs) != 0 {
		t.Errorf("a refused configuration left helpers: %v", hs)
	}
}
