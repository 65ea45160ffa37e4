//go:build vmtest

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// ftpNet is a client and an FTP server on both sides of a router that is
// a firewall: it forwards new connections to port 21 only, and
// established or related ones; it assigns the user-space ftp helper to
// port 21. Without a helper engine, no FTP data connection can cross it.
type ftpNet struct {
	*routedNet
	dir  string
	size int
}

const (
	cli4, rtr4c, rtr4s, srv4 = "10.78.1.2", "10.78.1.1", "10.78.2.1", "10.78.2.2"
	cli6, rtr6c, rtr6s, srv6 = "fd00:78:1::2", "fd00:78:1::1", "fd00:78:2::1", "fd00:78:2::2"
)

// The FTP firewall's parts, for routedNet.firewallNAT.
const (
	ftpObjects = "\tct helper ftp-std { type \"ftp\" protocol tcp; l3proto inet; }\n"
	ftpAssign  = "\t\ttcp dport 21 ct helper set \"ftp-std\"\n"
	ftpAllow   = "\t\ttcp dport 21 ct state new accept\n"
)

func newFTPNet(t *testing.T) *ftpNet {
	return newFTPNetAt(t, routedAddrs{cli4, rtr4c, rtr4s, srv4, cli6, rtr6c, rtr6s, srv6})
}

// newFTPNetAt is newFTPNet on other addresses.
func newFTPNetAt(t *testing.T, a routedAddrs) *ftpNet {
	r := newRoutedNetAt(t, a)
	n := &ftpNet{routedNet: r, dir: t.TempDir(), size: 200000}
	data := make([]byte, n.size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(n.dir, "file.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{a.srv4, a.srv6} {
		cmd := exec.Command("ip", "netns", "exec", n.srv.Name, "/usr/bin/python3", "-m", "pyftpdlib", "-i", addr, "-p", "21", "-d", n.dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("pyftpdlib on %s:\n%s", addr, out.String())
			}
		})
	}
	// Python starts slowly under TCG over 9p when the host is busy.
	deadline := time.Now().Add(120 * time.Second)
	for {
		out, _ := n.srv.Run("ss", "-Hltn", "sport", "= :21")
		if strings.Count(out, "LISTEN") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pyftpdlib does not listen on port 21:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return n
}

func (n *ftpNet) loadRuleset(t *testing.T) { n.firewall(t, ftpObjects, ftpAssign, ftpAllow) }

// loadNATRuleset is the same firewall with the client side masqueraded
// behind the router's server-side address.
func (n *ftpNet) loadNATRuleset(t *testing.T) {
	n.firewallNAT(t, ftpObjects, ftpAssign, ftpAllow, masquerade)
}

// ftpMode is one way to download.
type ftpMode struct {
	name string
	args []string
}

var ftpModes = []ftpMode{
	{"ipv4 PASV", []string{"--ftp-pasv", "--disable-epsv", "ftp://" + srv4 + "/file.bin"}},
	{"ipv4 EPSV", []string{"--ftp-pasv", "ftp://" + srv4 + "/file.bin"}},
	{"ipv4 PORT", []string{"-P", "-", "--disable-eprt", "ftp://" + srv4 + "/file.bin"}},
	{"ipv4 EPRT", []string{"-P", "-", "ftp://" + srv4 + "/file.bin"}},
	{"ipv6 EPSV", []string{"-g", "--ftp-pasv", "ftp://[" + srv6 + "]/file.bin"}},
	{"ipv6 EPRT", []string{"-g", "-P", "-", "ftp://[" + srv6 + "]/file.bin"}},
}

// download runs curl in the client namespace; it reports the bytes
// received and curl's error.
func (n *ftpNet) download(m ftpMode, maxTime int) (int, string, error) {
	args := append([]string{"-sS", "--max-time", fmt.Sprint(maxTime), "-o", "/dev/null", "-w", "%{size_download}"}, m.args...)
	out, err := n.cli.Run("curl", args...)
	var size int
	fmt.Sscan(strings.TrimSpace(strings.Split(out, "\n")[0]), &size)
	return size, out, err
}

func gonfctBin(t *testing.T) string {
	if b := os.Getenv("GONFCT_BIN"); b != "" {
		return b
	}
	b, _ := filepath.Abs("../../bin/gonfct")
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("%s: build gonfct first (make build; make vmtest does)", b)
	}
	return b
}

// engineProc is a running `gonfct run`.
type engineProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer // read while the engine writes
	notify *net.UnixConn
	done   chan error
}

// startRun starts `gonfct --netns NS run ARGS...` under a fake systemd
// notification socket and waits for READY=1.
func startRun(t *testing.T, ns *nstest.NS, args ...string) *engineProc {
	return startEngine(t, append([]string{"--netns", ns.Name, "run"}, args...)...)
}

// startEngine starts gonfct with these arguments (a `run` command line)
// under a fake systemd notification socket and waits for READY=1.
func startEngine(t *testing.T, args ...string) *engineProc {
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	p := &engineProc{stderr: &syncBuffer{}, notify: l, done: make(chan error, 1)}
	p.cmd = exec.Command(gonfctBin(t), args...)
	p.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		l.Close()
		if t.Failed() {
			t.Logf("gonfct %s:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	if got := p.waitNotify(t, 60*time.Second); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1; stderr:\n%s", got, p.stderr.String())
	}
	return p
}

func (p *engineProc) waitNotify(t *testing.T, d time.Duration) string {
	p.notify.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 512)
	n, err := p.notify.Read(buf)
	if err != nil {
		t.Fatalf("no systemd notification: %v; stderr:\n%s", err, p.stderr.String())
	}
	return string(buf[:n])
}

// stop sends SIGTERM and waits for a clean exit, with STOPPING=1 first.
func (p *engineProc) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	if got := p.waitNotify(t, 30*time.Second); got != "STOPPING=1" {
		t.Errorf("notification at SIGTERM %q, want STOPPING=1", got)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("gonfct run exited with %v:\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gonfct run did not exit within 30s of SIGTERM")
	}
}

// helperStates is `nfct list helper` reduced to "name family status"
// lines, from Debian's nfct (a real peer, not our own client).
// ownHelpers starts a test with no user-space helper objects and removes the
// ones it leaves: helper objects are global to the kernel, not per network
// namespace, so one test's helpers would show in the next one's listings.
// Call it first, so that its cleanup runs last, after the test's namespaces
// (whose rulesets pin helpers) are gone.
func ownHelpers(t *testing.T) {
	t.Helper()
	flush := func() {
		// A deleted namespace's ruleset lets go of its helpers only when the
		// kernel's namespace cleanup work has run: give it a few seconds.
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, errw, code := gonfct(t, "helper", "flush")
			if code == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("helper flush: %s", errw)
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	flush()
	t.Cleanup(flush)
}

func helperStates(t *testing.T) string {
	out, err := exec.Command("nfct", "list", "helper").CombinedOutput()
	if err != nil {
		t.Fatalf("nfct list helper: %v\n%s", err, out)
	}
	return string(out)
}

func expectations(ns *nstest.NS) string {
	// conntrack lists one family at a time, IPv4 unless told.
	v4, _ := ns.Run("conntrack", "-L", "expect")
	v6, _ := ns.Run("conntrack", "-L", "expect", "-f", "ipv6")
	return v4 + v6
}

// ftpSession logs in over a raw control connection from the client and
// sends one command, then waits for the reply.
const ftpSessionPy = `
import socket, sys
c = socket.create_connection((sys.argv[1], 21), timeout=10)
f = c.makefile("rb")
def reply():
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    return line
reply()
for cmd in ("USER anonymous", "PASS x@y", sys.argv[2]):
    c.sendall(cmd.encode() + b"\r\n")
    r = reply()
print(r.decode().strip())
c.sendall(b"QUIT\r\n")
`

// The FTP scenario of issue 5, end to end through a firewall, with
// Debian's tools around gonfct: pyftpdlib serves, curl downloads, nft
// assigns the helper, nfct and conntrack look at the result.
func TestRunFTPEndToEnd(t *testing.T) {
	ownHelpers(t)
	n := newFTPNet(t)
	// IPv4 from a conntrackd.conf-style file, IPv6 from a flag.
	conf := filepath.Join(t.TempDir(), "helpers.conf")
	goodConf := "General {\n\tLogFile on\n}\nHelper {\n\tType ftp inet tcp {\n\t\tQueueNum 5\n\t\tQueueLen 500\n\t}\n}\n"
	os.WriteFile(conf, []byte(goodConf), 0o644)
	helpers := []string{"--config", conf, "--helper", "ftp:inet6:tcp:queue=6"}

	// --check: this kernel has everything; nothing is left behind.
	var out, errw bytes.Buffer
	if code := run(append([]string{"--netns", n.rtr.Name, "run", "--check"}, helpers...), nil, &out, &errw); code != 0 {
		t.Fatalf("--check exit %d:\n%s%s", code, out.String(), errw.String())
	}
	if strings.Contains(out.String(), "MISSING") || strings.Contains(helperStates(t), "ftp") {
		t.Fatalf("--check found problems or left a helper behind:\n%s\n%s", out.String(), helperStates(t))
	}

	eng := startRun(t, n.rtr, append(helpers, "--metrics", "127.0.0.1:19469", "--log-level", "debug")...)
	if hs := helperStates(t); strings.Count(hs, "name = ftp") != 2 && strings.Count(hs, "ftp") < 2 {
		t.Fatalf("helpers after start:\n%s", hs)
	}
	n.loadRuleset(t)

	for _, m := range ftpModes {
		size, curlOut, err := n.download(m, 30)
		if err != nil || size != n.size {
			t.Errorf("%s with gonfct run: %d of %d bytes, %v\n%s", m.name, size, n.size, err, curlOut)
		} else {
			t.Logf("%s with gonfct run: %d bytes", m.name, size)
		}
	}

	// A PORT naming a third party creates no expectation; the same PORT
	// naming the client does (pyftpdlib connects at once and so uses it
	// up: conntrack's event stream shows it).
	events := exec.Command("ip", "netns", "exec", n.rtr.Name, "conntrack", "-E", "expect")
	var evOut bytes.Buffer
	events.Stdout, events.Stderr = &evOut, &evOut
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	forged, _ := n.cli.Run("/usr/bin/python3", "-c", ftpSessionPy, srv4, "PORT 10,9,9,9,200,1")
	time.Sleep(500 * time.Millisecond)
	if e := expectations(n.rtr); strings.Count(e, " 0 expectations have been shown") != 2 { // IPv4 and IPv6
		t.Errorf("forged PORT to 10.9.9.9 (server said %q) left expectations:\n%s", forged, e)
	}
	legit, _ := n.cli.Run("/usr/bin/python3", "-c", ftpSessionPy, srv4, "PORT 10,78,1,2,200,1")
	time.Sleep(time.Second)
	events.Process.Signal(syscall.SIGTERM)
	events.Wait()
	ev := evOut.String()
	if strings.Contains(ev, "10.9.9.9") {
		t.Errorf("forged PORT to 10.9.9.9 made an expectation:\n%s", ev)
	}
	if !strings.Contains(ev, "[NEW]") || !strings.Contains(ev, "dport=51201") {
		t.Errorf("PORT to the client (server said %q) made no expectation; events:\n%s", legit, ev)
	}

	body := fetchMetrics(t)
	for _, want := range []string{`gonfct_helper_packets_total{netns="` + n.rtr.Name + `",helper="ftp",queue="5",verdict="accept"}`,
		`gonfct_helper_expectations_created_total{netns="` + n.rtr.Name + `",helper="ftp",queue="6",path="ctnetlink"}`} {
		line := metricLine(body, want)
		if line == "" || strings.HasSuffix(line, " 0") {
			t.Errorf("metric %s: %q\n%s", want, line, body)
		}
	}
	if line := metricLine(body, `gonfct_helper_parse_errors_total{netns="`+n.rtr.Name+`",helper="ftp",queue="5"}`); strings.HasSuffix(line, " 0") {
		t.Errorf("the refused bounce PORT was not counted: %q", line)
	}

	// SIGHUP: a broken file is refused and the running configuration
	// kept; a good one is applied; systemd hears RELOADING then READY each
	// time, and the queues keep working.
	os.WriteFile(conf, []byte("Helper {\n\tType ftp inet tcp {\n\t\tQueueNum x\n"), 0o644)
	eng.reload(t)
	os.WriteFile(conf, []byte(strings.Replace(goodConf, "QueueLen 500", "QueueLen 500\n\t\tPolicy ftp {\n\t\t\tExpectMax 2\n\t\t}", 1)), 0o644)
	eng.reload(t)
	body = fetchMetrics(t)
	if !strings.Contains(body, `gonfct_reloads_total{result="error"} 1`) || !strings.Contains(body, `gonfct_reloads_total{result="ok"} 1`) {
		t.Errorf("reload counters:\n%s", body)
	}
	if c, err := ctnl.Dial(ctnl.DialOptions{}); err == nil {
		hs, err := cthelper.NewClient(c).Get("ftp", unix.AF_INET, unix.IPPROTO_TCP)
		if err != nil || hs[0].Policies[0].ExpectMax != 2 || hs[0].Status != cthelper.Enabled {
			t.Errorf("after the reload the kernel has %+v, %v; want ExpectMax 2, enabled", hs, err)
		}
		c.Close()
	}
	if size, curlOut, err := n.download(ftpModes[0], 30); err != nil || size != n.size {
		t.Errorf("%s after reload: %d bytes, %v\n%s", ftpModes[0].name, size, err, curlOut)
	}

	eng.stop(t)
	if hs := helperStates(t); !strings.Contains(hs, "disabled") || strings.Contains(hs, "enabled") {
		t.Fatalf("helpers after SIGTERM (--cleanup disable):\n%s", hs)
	}
	for _, m := range ftpModes {
		if size, curlOut, err := n.download(m, 6); err == nil || size == n.size {
			t.Errorf("%s succeeded without gonfct run (%d bytes):\n%s", m.name, size, curlOut)
		}
	}

	// --cleanup delete: with the ruleset gone, the helpers are deleted.
	n.rtr.MustRun("nft", "flush", "ruleset")
	eng = startRun(t, n.rtr, append(helpers, "--cleanup", "delete")...)
	eng.stop(t)
	if hs := helperStates(t); strings.Contains(hs, "ftp") {
		t.Fatalf("helpers after SIGTERM with --cleanup delete:\n%s", hs)
	}
}

func fetchMetrics(t *testing.T) string {
	resp, err := http.Get("http://127.0.0.1:19469/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// reload sends SIGHUP and waits for RELOADING=1 then READY=1.
func (p *engineProc) reload(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGHUP)
	if got := p.waitNotify(t, 30*time.Second); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("notification at SIGHUP %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got := p.waitNotify(t, 30*time.Second); got != "READY=1" {
		t.Errorf("notification after reload %q, want READY=1", got)
	}
}

func metricLine(body, prefix string) string {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return sc.Text()
		}
	}
	return ""
}
