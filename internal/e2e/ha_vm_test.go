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

// Issue 15: a firewall pair in active/backup, keepalived moving the
// addresses and conntrackd (or gonfct ct save/restore) moving the
// conntracks, one `gonfct run` serving the ftp helper in both firewalls
// (they share the VM's kernel, hence its global helper objects). One FTP
// control connection lives through failover and failback.
//
// The configuration files are in testdata/ha, as docs/failover.md shows
// them; at run time they are copied to haRun, the paths they name.

const (
	haRun            = "/run/gonfct-ha"
	haCli, haSrv     = "10.80.1.10", "10.80.2.10"
	haVIPc, haVIPs   = "10.80.1.1", "10.80.2.1"
	haPassiveTimeout = 120 // seconds pyftpdlib waits for a passive data connection
)

// haFirewall is one of the pair: its namespace and its keepalived.
type haFirewall struct {
	name  string // fw1, fw2: the names in the configuration files
	ns    *nstest.NS
	ka    *exec.Cmd
	kaLog *syncBuffer
}

// haNet is the pair with a client and an FTP server: the client side and
// the server side are each a bridge (in a namespace of its own) both
// firewalls sit on; fw1 and fw2 have a direct link for conntrackd.
type haNet struct {
	cli, srv, brc, brs *nstest.NS
	fw                 [2]*haFirewall
	size               int
	nat                bool   // source NAT to haVIPs on the server side, ftp and rpc helpers
	srvLog             string // the FTP server's log of the addresses it saw
}

func newHANet(t *testing.T) *haNet {
	n := &haNet{cli: nstest.New(t), srv: nstest.New(t), brc: nstest.New(t), brs: nstest.New(t), size: 300000}
	for i := range n.fw {
		n.fw[i] = &haFirewall{name: fmt.Sprintf("fw%d", i+1), ns: nstest.New(t)}
	}
	for _, b := range []*nstest.NS{n.brc, n.brs} {
		b.MustRun("ip", "link", "add", "br0", "type", "bridge")
		b.MustRun("ip", "link", "set", "br0", "up")
	}
	port := func(br *nstest.NS, brName string, host *nstest.NS, hostName string) {
		br.MustRun("ip", "link", "add", brName, "type", "veth", "peer", "name", hostName, "netns", host.Name)
		br.MustRun("ip", "link", "set", brName, "master", "br0", "up")
		host.MustRun("ip", "link", "set", hostName, "up")
	}
	port(n.brc, "cli", n.cli, "eth0")
	port(n.brs, "srv", n.srv, "eth0")
	n.cli.MustRun("ip", "addr", "add", haCli+"/24", "dev", "eth0")
	n.cli.MustRun("ip", "route", "add", "default", "via", haVIPc)
	n.srv.MustRun("ip", "addr", "add", haSrv+"/24", "dev", "eth0")
	n.srv.MustRun("ip", "route", "add", "default", "via", haVIPs)
	fw1, fw2 := n.fw[0].ns, n.fw[1].ns
	fw1.MustRun("ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync0", "netns", fw2.Name)
	for i, f := range n.fw {
		port(n.brc, f.name, f.ns, "c1")
		port(n.brs, f.name, f.ns, "s1")
		f.ns.MustRun("ip", "link", "set", "sync0", "up")
		f.ns.MustRun("ip", "addr", "add", fmt.Sprintf("10.80.1.%d/24", i+2), "dev", "c1")
		f.ns.MustRun("ip", "addr", "add", fmt.Sprintf("10.80.2.%d/24", i+2), "dev", "s1")
		f.ns.MustRun("ip", "addr", "add", fmt.Sprintf("10.80.3.%d/24", i+1), "dev", "sync0")
		// tcp_loose=0: a firewall does not pick an established TCP
		// connection up mid-stream by itself, so only a moved conntrack
		// lets the control connection through the new master.
		f.ns.MustRun("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.netfilter.nf_conntrack_tcp_loose=0")
	}
	return n
}

// haFiles copies testdata/ha to haRun: the notify script (testdata/ha/NOTIFY
// as notify.sh, with gonfct beside it), and each firewall's conntrackd.conf
// and keepalived.conf in a directory of its own.
func haFiles(t *testing.T, notify string) {
	os.RemoveAll(haRun)
	t.Cleanup(func() {
		if t.Failed() {
			for _, fw := range []string{"fw1", "fw2"} {
				for _, f := range []string{"notify.log", "conntrackd.log"} {
					b, _ := os.ReadFile(filepath.Join(haRun, fw, f))
					t.Logf("%s %s:\n%s", fw, f, b)
				}
			}
		}
		os.RemoveAll(haRun)
	})
	copyTo := func(src, dst string, mode os.FileMode) {
		b, err := os.ReadFile(filepath.Join("testdata/ha", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	copyTo(notify, filepath.Join(haRun, "notify.sh"), 0o755)
	// The notify scripts find gonfct beside them.
	if err := os.Symlink(gonfctBin(t), filepath.Join(haRun, "gonfct")); err != nil {
		t.Fatal(err)
	}
	for _, fw := range []string{"fw1", "fw2"} {
		copyTo("conntrackd-"+fw+".conf", filepath.Join(haRun, fw, "conntrackd.conf"), 0o644)
		copyTo("keepalived-"+fw+".conf", filepath.Join(haRun, fw, "keepalived.conf"), 0o644)
	}
}

// loadFirewall loads the drop-forward policy and the rules `gonfct rules`
// prints into both firewalls: ftp, or with NAT ftp and rpc over TCP
// assigned before NAT and the policy with source NAT.
func (n *haNet) loadFirewall(t *testing.T) {
	args, policy := []string{"rules", "ftp"}, "testdata/ha/firewall.nft"
	if n.nat {
		args, policy = []string{"rules", "ftp", "rpc/tcp", "--nat"}, "testdata/ha/firewall-nat.nft"
	}
	rules := mustGonfct(t, args...)
	for _, f := range n.fw {
		if out, err := nsPipe(t, f.ns, rules, "nft", "-f", "-"); err != nil {
			t.Fatalf("%s: gonfct %s | nft -f -: %v\n%s", f.name, strings.Join(args, " "), err, out)
		}
		f.ns.MustRun("nft", "-f", policy)
	}
}

func (f *haFirewall) conntrackdConf() string { return filepath.Join(haRun, f.name, "conntrackd.conf") }

// startConntrackd runs conntrackd in sync mode in each firewall.
func (n *haNet) startConntrackd(t *testing.T) {
	for _, f := range n.fw {
		daemon(t, f.ns, "conntrackd", "-C", f.conntrackdConf())
	}
	for _, f := range n.fw {
		waitFile(t, filepath.Join(haRun, f.name, "conntrackd.ctl"))
	}
}

func waitFile(t *testing.T, path string) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startKeepalived runs keepalived (VRRP only, foreground, logging to its
// console) in the firewall, with pid files of its own.
func (f *haFirewall) startKeepalived(t *testing.T) {
	dir := filepath.Join(haRun, f.name)
	f.kaLog = &syncBuffer{}
	f.ka = exec.Command("ip", "netns", "exec", f.ns.Name, "keepalived", "-P", "-n", "-l", "-D",
		"-f", filepath.Join(dir, "keepalived.conf"), "-p", filepath.Join(dir, "keepalived.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"))
	f.ka.Stdout, f.ka.Stderr = f.kaLog, f.kaLog
	if err := f.ka.Start(); err != nil {
		t.Fatal(err)
	}
	log := f.kaLog
	t.Cleanup(func() {
		f.killKeepalived()
		if t.Failed() {
			t.Logf("keepalived in %s:\n%s", f.name, log.String())
		}
	})
}

// killKeepalived kills keepalived and its VRRP process at once, as a crash
// would: no notify script runs.
func (f *haFirewall) killKeepalived() {
	if f.ka == nil {
		return
	}
	if b, err := os.ReadFile(filepath.Join(haRun, f.name, "vrrp.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	f.ka.Process.Kill()
	f.ka.Wait()
	f.ka = nil
}

// notified counts the notify script's completed runs for a state.
func (f *haFirewall) notified(state string) int {
	b, _ := os.ReadFile(filepath.Join(haRun, f.name, "notify.log"))
	return strings.Count(string(b), state+" done\n")
}

// holdsVIPs reports whether the firewall has both virtual addresses.
func (f *haFirewall) holdsVIPs() bool {
	c, _ := f.ns.Run("ip", "-4", "-o", "addr", "show", "dev", "c1")
	s, _ := f.ns.Run("ip", "-4", "-o", "addr", "show", "dev", "s1")
	return strings.Contains(c, " "+haVIPc+"/") && strings.Contains(s, " "+haVIPs+"/")
}

// waitMaster waits until f holds the addresses and its notify script has
// finished its primary run number want.
func (f *haFirewall) waitMaster(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !(f.holdsVIPs() && f.notified("primary") >= want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is not master with its primary notify run %d done (vips %v, runs %d)", f.name, want, f.holdsVIPs(), f.notified("primary"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fail takes the firewall off both sides and kills its keepalived: the
// sync link stays up, as a firewall that lost its outside links would.
// The virtual addresses it held go too, as after a reboot.
func (f *haFirewall) fail(t *testing.T) {
	f.ns.MustRun("ip", "link", "set", "c1", "down")
	f.ns.MustRun("ip", "link", "set", "s1", "down")
	f.killKeepalived()
	f.ns.Run("ip", "addr", "del", haVIPc+"/24", "dev", "c1")
	f.ns.Run("ip", "addr", "del", haVIPs+"/24", "dev", "s1")
}

// recover brings the firewall's links back and starts its keepalived.
func (f *haFirewall) recover(t *testing.T) {
	f.ns.MustRun("ip", "link", "set", "c1", "up")
	f.ns.MustRun("ip", "link", "set", "s1", "up")
	f.startKeepalived(t)
}

// haSync is what the peer must hold before the active firewall fails,
// beside the FTP control connection: conntracks to the ports ct and
// expectations for the ports exp.
type haSync struct{ ct, exp []int }

// waitSynced waits until the peer's conntrackd holds the FTP control
// connection and what want names in its external cache.
func waitSynced(t *testing.T, peer *haFirewall, want haSync) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	has := func(list string, ports []int) bool {
		for _, p := range ports {
			if !strings.Contains(list, fmt.Sprintf("dport=%d ", p)) {
				return false
			}
		}
		return true
	}
	for {
		ct, _ := peer.ns.Run("conntrackd", "-C", peer.conntrackdConf(), "-e")
		exp, _ := peer.ns.Run("conntrackd", "-C", peer.conntrackdConf(), "-e", "expect")
		if has(ct, append([]int{21}, want.ct...)) && has(exp, want.exp) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's conntrackd did not receive the session (conntracks to 21 %v, expectations %v):\n%s\n%s", peer.name, want.ct, want.exp, ct, exp)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// heldPort reads the data port the last "hold" got from the server's
// expectation in the firewall: the expectation whose master goes to port
// 21 (the rpc helper's have masters to port 111).
func heldPort(t *testing.T, f *haFirewall) int {
	t.Helper()
	out, _ := f.ns.Run("conntrack", "-L", "expect")
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, " dport=21 ") {
			continue
		}
		for _, w := range strings.Fields(line) {
			if strings.HasPrefix(w, "dport=") && w != "dport=21" {
				if p, err := strconv.Atoi(strings.TrimPrefix(w, "dport=")); err == nil {
					return p
				}
			}
		}
	}
	t.Fatalf("no FTP data expectation in %s:\n%s", f.name, out)
	return 0
}

// haMove is how a pair moves the session from one firewall to the other
// before the first one fails: it returns once the peer has what it needs
// (want: the data expectation and what the haSide adds).
type haMove func(t *testing.T, from, to *haFirewall, want haSync)

// haSide is what a variant does beside the FTP session: before each
// takeover, through the firewall about to fail, returning what the peer
// must then hold; after it, through the new master.
type haSide struct {
	before func(t *testing.T, from *haFirewall, failback bool) haSync
	after  func(t *testing.T, to *haFirewall, via string, failback bool)
}

// haFailoverAndBack runs the scenario: transfers through fw1, fw1 fails,
// transfers through fw2 on the same control connection, fw1 comes back and
// takes over, transfers through it. After the failover, the first transfer
// uses a data connection announced through fw1 before it failed; after the
// failback, the first is a PASV with no command before it, so that the 227
// reply is the first segment in its direction fw1's fresh conntrack sees.
func haFailoverAndBack(t *testing.T, n *haNet, c *sessionClient, side *haSide, move haMove) {
	fw1, fw2 := n.fw[0], n.fw[1]
	n.transfer(t, c, "fw1", "pasv")
	n.transfer(t, c, "fw1", "port")
	for _, p := range []struct {
		from, to *haFirewall
		via      string
		takeOver func()
		primary  int  // the new master's primary notify runs, this one included
		hold     bool // announce a data connection before the takeover, use it after
	}{
		{fw1, fw2, "fw2", func() { fw1.fail(t) }, 1, true},
		// fw1 comes back with the higher priority and takes over again.
		{fw2, fw1, "fw1 after failback", func() { fw1.recover(t) }, 2, false},
	} {
		var want haSync
		if side != nil {
			want = side.before(t, p.from, !p.hold)
		}
		if p.hold {
			if got := c.do(t, "hold"); got != "ok 0" {
				t.Fatalf("hold through %s: %s", p.from.name, got)
			}
			want.exp = append(want.exp, heldPort(t, p.from))
		}
		move(t, p.from, p.to, want)
		p.takeOver()
		p.to.waitMaster(t, p.primary)
		if p.hold {
			t.Logf("expectations on %s after the takeover:\n%s", p.to.name, expectations(p.to.ns))
			n.transferHeld(t, c, p.to, p.via+" (expectation made on "+p.from.name+")")
		}
		for _, m := range []string{"pasv-bare", "pasv", "port"} {
			n.transfer(t, c, p.via, m)
		}
		if ct, _ := p.to.ns.Run("conntrack", "-L", "-p", "tcp", "--dport", "21"); !strings.Contains(ct, "helper=ftp") {
			t.Errorf("the control connection on %s has no ftp helper:\n%s", p.to.name, ct)
		}
		if side != nil {
			side.after(t, p.to, p.via, !p.hold)
		}
	}
}

// helpers are the helpers gonfct run serves: ftp, and with NAT rpc over
// TCP as well.
func (n *haNet) helpers() []string {
	h := []string{"--helper", "ftp:inet:tcp:queue=5", "--helper", "ftp:inet6:tcp:queue=6"}
	if n.nat {
		h = append(h, "--helper", "rpc:inet:tcp:queue=7")
	}
	return h
}

// startHA builds the pair with keepalived driven by the notify script
// testdata/ha/NOTIFY, one engine serving both firewalls, the FTP server (and
// with NAT rpcbind) and the FTP client with its control connection open
// through fw1 (with NAT from haCliSameLen).
func startHA(t *testing.T, notify string, conntrackd, nat bool) (*haNet, *engineProc, *sessionClient) {
	ownHelpers(t)
	n := newHANet(t)
	n.nat = nat
	haFiles(t, notify)
	fw1, fw2 := n.fw[0], n.fw[1]
	eng := startEngine(t, append([]string{"--netns", fw1.ns.Name, "--netns", fw2.ns.Name, "run", "--log-level", "debug"}, n.helpers()...)...)
	n.loadFirewall(t)
	if conntrackd {
		n.startConntrackd(t)
	}
	fw1.startKeepalived(t)
	fw2.startKeepalived(t)
	fw1.waitMaster(t, 1)
	n.startServer(t)
	if nat {
		startRPCServerIn(t, n.srv)
		n.cli.MustRun("ip", "addr", "add", haCliSameLen+"/24", "dev", "eth0")
		return n, eng, n.startClientFrom(t, haCliSameLen)
	}
	return n, eng, n.startClient(t)
}

// failToUnservedPeer proves the session needs gonfct run on the new
// master: the engine is restarted serving fw1 only, fw1 fails, and a
// passive transfer through fw2 must fail.
func failToUnservedPeer(t *testing.T, n *haNet, eng *engineProc, c *sessionClient) {
	fw1, fw2 := n.fw[0], n.fw[1]
	eng.stop(t)
	startEngine(t, append([]string{"--netns", fw1.ns.Name, "run"}, n.helpers()...)...)
	n.transfer(t, c, "fw1 with the engine serving fw1 only", "pasv")
	fw1.fail(t)
	fw2.waitMaster(t, 2)
	c.do(t, "timeout 8")
	if got := c.do(t, "pasv"); !strings.HasPrefix(got, "err ") {
		t.Errorf("pasv through fw2 without gonfct run serving it: %s, want an error", got)
	}
}

// conntrackd in sync mode moves the conntracks and expectations; keepalived's
// notify script commits them on the new master.
func TestHAConntrackdFailover(t *testing.T) {
	n, eng, c := startHA(t, "notify-conntrackd.sh", true, false)
	haFailoverAndBack(t, n, c, nil, func(t *testing.T, _, to *haFirewall, want haSync) { waitSynced(t, to, want) })
	failToUnservedPeer(t, n, eng, c)
}

// Without conntrackd: the master's table is saved (here after the last
// step, as a timer would) into the peer's peer-state.json, and keepalived's
// notify script restores it on the new master.
func TestHACtSaveRestoreFailover(t *testing.T) {
	n, _, c := startHA(t, "notify-ctsave.sh", false, false)
	haFailoverAndBack(t, n, c, nil, func(t *testing.T, from, to *haFirewall, _ haSync) {
		mustGonfct(t, "--netns", from.ns.Name, "ct", "save", "-q", "--file", filepath.Join(haRun, to.name, "peer-state.json"))
	})
}
