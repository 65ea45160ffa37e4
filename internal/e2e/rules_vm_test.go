//go:build vmtest

package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// pipe runs a command inside ns with stdin.
func nsPipe(t *testing.T, ns *nstest.NS, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkTrafficHelped sends one UDP datagram to port 69 and makes one TCP
// connection to port 21 from inside ns and returns `conntrack -L` there: the
// rules under test must have attached the helpers to both conntracks.
func checkTrafficHelped(t *testing.T, ns *nstest.NS, what string) {
	t.Helper()
	ns.Run("conntrack", "-F")
	ns.MustRun("bash", "-c", `echo x > /dev/udp/127.0.0.1/69
python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 21)); s.listen()
c, _ = s.accept(); time.sleep(1)' & srv=$!
for i in $(seq 50); do exec 3<>/dev/tcp/127.0.0.1/21 2>/dev/null && break; sleep 0.1; done
wait $srv`)
	out := ns.MustRun("conntrack", "-L")
	for _, want := range []string{"dport=69", "helper=tftp", "dport=21", "helper=ftp"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s: conntrack -L lacks %q:\n%s", what, want, out)
		}
	}
}

func kernelModuleLoaded(name string) bool {
	b, _ := os.ReadFile("/proc/modules")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return true
		}
	}
	return false
}

// The rules `gonfct rules` prints load into nft and iptables on Debian's
// 6.1 kernel with gonfct's user-space helpers, reload without duplicates,
// pin the helpers (delete is refused while loaded) and attach them to real
// connections.
func TestRulesLoadVM(t *testing.T) {
	ownHelpers(t)
	mustGonfct(t, "helper", "flush")
	t.Cleanup(func() { gonfct(t, "helper", "flush") })
	ns := nstest.New(t)

	// Without the helpers in the kernel the nft objects cannot be made.
	if out, err := nsPipe(t, ns, mustGonfct(t, "rules", "rpc"), "nft", "-f", "-"); err == nil {
		t.Fatalf("nft loaded ct helper rpc with no rpc helper in the kernel:\n%s", out)
	}

	for _, h := range [][]string{
		{"ftp", "inet", "tcp"}, {"ftp", "inet6", "tcp"},
		{"rpc", "inet", "tcp"}, {"rpc", "inet6", "tcp"}, {"rpc", "inet", "udp"}, {"rpc", "inet6", "udp"},
		{"tftp", "inet", "udp"}, {"tftp", "inet6", "udp"}, {"dhcpv6", "inet6", "udp"},
	} {
		mustGonfct(t, append([]string{"helper", "add"}, h...)...)
	}

	for _, args := range [][]string{
		{"rules", "ftp", "rpc", "tftp", "dhcpv6"},
		{"rules", "ftp:21,2121", "rpc/udp", "tftp", "dhcpv6", "--nat"},
		{"rules", "ftp", "tftp", "--family", "inet", "--table", "fw"},
	} {
		script := mustGonfct(t, args...)
		table := "inet gonfct"
		if strings.Contains(script, "table ip fw") {
			table = "ip fw"
		}
		for i := 0; i < 2; i++ { // the second load replaces the first
			if out, err := nsPipe(t, ns, script, "nft", "-f", "-"); err != nil {
				t.Fatalf("%q | nft -f -: %v\n%s\nscript:\n%s", args, err, out, script)
			}
		}
		listing := ns.MustRun("nft", "list", "table", strings.Fields(table)[0], strings.Fields(table)[1])
		if n := strings.Count(listing, `ct helper set "ftp-tcp"`); n != 2 {
			t.Errorf("%q: %d ftp rules after two loads, want 2 (prerouting, output):\n%s", args, n, listing)
		}
		if strings.Contains(strings.Join(args, " "), "--nat") && !strings.Contains(listing, "priority mangle") {
			t.Errorf("%q: chains not at priority mangle (-150):\n%s", args, listing)
		}
		checkTrafficHelped(t, ns, strings.Join(args, " "))

		// The ruleset holds gonfct's helpers, not the kernel's own.
		if _, errw, code := gonfct(t, "helper", "delete", "ftp", "inet", "tcp"); code != 1 || !strings.Contains(errw, "in use by a ruleset") {
			t.Errorf("%q: delete of ftp while the rules are loaded: exit %d, %q", args, code, errw)
		}
		ns.MustRun("nft", "delete", "table", strings.Fields(table)[0], strings.Fields(table)[1])
	}
	if kernelModuleLoaded("nf_conntrack_ftp") || kernelModuleLoaded("nf_conntrack_tftp") {
		t.Error("loading the rules loaded the kernel's ftp/tftp helper instead of using gonfct's")
	}

	// iptables: the plain lines, then the re-runnable chain form twice.
	script := mustGonfct(t, "rules", "ftp", "tftp", "--iptables")
	if out, err := nsPipe(t, ns, script, "sh", "-e"); err != nil {
		t.Fatalf("rules --iptables | sh: %v\n%s\nscript:\n%s", err, out, script)
	}
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		if out := ns.MustRun(cmd, "-t", "raw"); strings.Count(out, "-j CT --helper ftp") != 2 || strings.Count(out, "-j CT --helper tftp") != 2 {
			t.Errorf("%s after rules --iptables:\n%s", cmd, out)
		}
	}
	checkTrafficHelped(t, ns, "iptables")
	ns.MustRun("iptables", "-t", "raw", "-F")
	ns.MustRun("ip6tables", "-t", "raw", "-F")

	script = mustGonfct(t, "rules", "ftp", "tftp", "--iptables", "--chain", "HELPERS", "--nat")
	for i := 0; i < 2; i++ {
		if out, err := nsPipe(t, ns, script, "sh", "-e"); err != nil {
			t.Fatalf("rules --iptables --chain | sh: %v\n%s\nscript:\n%s", err, out, script)
		}
	}
	out := ns.MustRun("iptables-save", "-t", "raw")
	if strings.Count(out, "-j CT --helper ftp") != 1 || strings.Count(out, "-j HELPERS") != 2 {
		t.Errorf("iptables-save after running the --chain lines twice:\n%s", out)
	}
	checkTrafficHelped(t, ns, "iptables --chain")
	if _, errw, code := gonfct(t, "helper", "delete", "tftp", "inet", "udp"); code != 1 || !strings.Contains(errw, "in use by a ruleset") {
		t.Errorf("delete of tftp while iptables rules are loaded: exit %d, %q", code, errw)
	}
	ns.MustRun("iptables", "-t", "raw", "-F")
	ns.MustRun("iptables", "-t", "raw", "-X")
	ns.MustRun("ip6tables", "-t", "raw", "-F")
	ns.MustRun("ip6tables", "-t", "raw", "-X")
}

// ftpPair is an FTP client and server (Debian's curl and pyftpdlib) in two
// namespaces joined by a veth pair.
type ftpPair struct {
	cli, srv *nstest.NS
	srvAddr  string
}

func newFTPPair(t *testing.T) *ftpPair {
	t.Helper()
	p := &ftpPair{cli: nstest.New(t), srv: nstest.New(t), srvAddr: "10.98.0.1"}
	veth := "rv" + p.srv.Name[len(p.srv.Name)-6:]
	p.srv.MustRun("ip", "link", "add", veth+"s", "type", "veth", "peer", "name", veth+"c", "netns", p.cli.Name)
	p.srv.MustRun("ip", "addr", "add", p.srvAddr+"/24", "dev", veth+"s")
	p.srv.MustRun("ip", "link", "set", veth+"s", "up")
	p.cli.MustRun("ip", "addr", "add", "10.98.0.2/24", "dev", veth+"c")
	p.cli.MustRun("ip", "link", "set", veth+"c", "up")
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/hello.txt", []byte("hello via gonfct rules\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command("ip", "netns", "exec", p.srv.Name, "python3", "-m", "pyftpdlib", "-i", p.srvAddr, "-p", "21", "-d", dir)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	// Python starts slowly under an emulated CPU on a busy host.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		if out, _ := p.srv.Run("ss", "-Hltn", "sport = :21"); strings.TrimSpace(out) != "" {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("pyftpdlib did not start within 2 minutes")
	return nil
}

// fetch runs curl in the client namespace; active makes it use PORT.
func (p *ftpPair) fetch(active bool) (string, error) {
	args := []string{"-sS", "--max-time", "5", "--connect-timeout", "5"}
	if active {
		args = append(args, "-P", "10.98.0.2", "--disable-eprt")
	}
	return p.cli.Run("curl", append(args, "ftp://"+p.srvAddr+"/hello.txt")...)
}

// dropByDefault is a host firewall: only established or related packets,
// loopback and new connections to port 21 come in.
const dropByDefault = `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif lo accept
		tcp dport 21 accept
	}
}
`

// startRunIn starts bin/gonfct run in ns and waits until its helper is
// enabled; the returned stop (also run at the end of the test) sends
// SIGTERM and waits for the engine's exit. One engine on the host serves a
// helper: a second one, in another namespace, refuses to start.
func startRunIn(t *testing.T, ns *nstest.NS, helper string) (stop func()) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "../../bin/gonfct", "run", "--helper", helper, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		})
	}
	t.Cleanup(stop)
	for i := 0; i < 600; i++ { // up to a minute on a busy host
		select {
		case <-exited:
			t.Fatalf("gonfct run in %s exited: %v", ns.Name, cmd.ProcessState)
		default:
		}
		if out, _, _ := gonfct(t, "helper", "get", "ftp", "inet", "tcp"); strings.Contains(out, "engine=pid:"+strconv.Itoa(cmd.Process.Pid)) {
			return stop
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("gonfct run did not enable its helper")
	return stop
}

// The printed rules make FTP work through drop-by-default firewalls with
// gonfct run: passive mode through the server's firewall (the rule in
// prerouting), active mode through the client's (the rule in output), for
// nft, nft --nat and iptables.
func TestRulesFTPVM(t *testing.T) {
	ownHelpers(t)
	for _, variant := range []struct {
		name string
		args []string
		load func(t *testing.T, ns *nstest.NS, script string)
	}{
		{"nft", []string{"rules", "ftp", "--family", "inet"}, loadNFT},
		{"nft --nat", []string{"rules", "ftp", "--family", "inet", "--nat"}, loadNFT},
		{"iptables", []string{"rules", "ftp", "--family", "inet", "--iptables"}, loadSh},
	} {
		t.Run(variant.name, func(t *testing.T) {
			flushWhenFree(t)
			t.Cleanup(func() { gonfct(t, "helper", "flush") })
			mustGonfct(t, "helper", "add", "ftp", "inet", "tcp", "--queue", "9")
			p := newFTPPair(t)
			script := mustGonfct(t, variant.args...)
			// Drop the rulesets (and their references to the helper) before
			// the namespaces go, so the next test can flush the helper.
			for _, ns := range []*nstest.NS{p.cli, p.srv} {
				t.Cleanup(func() { ns.Run("nft", "flush", "ruleset") })
			}

			// Passive: the server's firewall must let the data connection in.
			loadNFT(t, p.srv, dropByDefault)
			variant.load(t, p.srv, script)
			if out, err := p.fetch(false); err == nil {
				t.Fatalf("passive transfer passed the server's firewall without gonfct run: %s", out)
			}
			stopSrv := startRunIn(t, p.srv, "ftp:inet:tcp:queue=9")
			if out, err := p.fetch(false); err != nil || !strings.Contains(out, "hello via gonfct rules") {
				t.Fatalf("passive transfer with gonfct run: %v: %s", err, out)
			}

			// Active: the client's firewall must let the server's data
			// connection in; its helper rule is the output one.
			loadNFT(t, p.cli, dropByDefault)
			variant.load(t, p.cli, script)
			p.srv.MustRun("nft", "delete", "table", "inet", "filter")
			stopSrv()
			if out, err := p.fetch(true); err == nil {
				t.Fatalf("active transfer passed the client's firewall without gonfct run there: %s", out)
			}
			startRunIn(t, p.cli, "ftp:inet:tcp:queue=9")
			if out, err := p.fetch(true); err != nil || !strings.Contains(out, "hello via gonfct rules") {
				t.Fatalf("active transfer with gonfct run: %v: %s", err, out)
			}
		})
	}
}

// flushWhenFree flushes the helpers once the rulesets of namespaces
// deleted by earlier tests are gone (the kernel frees a namespace's
// ruleset, and its references to helpers, asynchronously).
func flushWhenFree(t *testing.T) {
	t.Helper()
	for i := 0; ; i++ {
		_, errw, code := gonfct(t, "helper", "flush")
		if code == 0 {
			return
		}
		if i == 100 {
			t.Fatalf("gonfct helper flush: %s", errw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func loadNFT(t *testing.T, ns *nstest.NS, script string) {
	t.Helper()
	if out, err := nsPipe(t, ns, script, "nft", "-f", "-"); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, script)
	}
}

func loadSh(t *testing.T, ns *nstest.NS, script string) {
	t.Helper()
	if out, err := nsPipe(t, ns, script, "sh", "-e"); err != nil {
		t.Fatalf("sh: %v\n%s\n%s", err, out, script)
	}
}
