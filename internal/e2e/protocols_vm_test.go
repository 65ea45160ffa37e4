//go:build vmtest

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The rpc, tftp and rsh scenarios of issue 6, end to end with Debian's
// peers (rpcbind and rpcinfo, tftpd-hpa and tftp-hpa, the rsh-redone
// client) on both sides of a router that is a firewall: it lets in new
// connections to the protocol's own port only, so the connections the
// protocol announces cross it only as RELATED, through `gonfct run`.

// routedNet is a client and a server with a router between them.
type routedNet struct {
	cli, rtr, srv *nstest.NS
}

const (
	pcli4, prtr4c, prtr4s, psrv4 = "10.79.1.2", "10.79.1.1", "10.79.2.1", "10.79.2.2"
	pcli6, prtr6c, prtr6s, psrv6 = "fd00:79:1::2", "fd00:79:1::1", "fd00:79:2::1", "fd00:79:2::2"
)

func newRoutedNet(t *testing.T) *routedNet {
	return newRoutedNetAt(t, routedAddrs{pcli4, prtr4c, prtr4s, psrv4, pcli6, prtr6c, prtr6s, psrv6})
}

// routedAddrs are a routed network's addresses, IPv4 then IPv6: the
// client, the router's client side, the router's server side, the server.
type routedAddrs struct {
	cli4, rtr4c, rtr4s, srv4 string
	cli6, rtr6c, rtr6s, srv6 string
}

// newRoutedNetAt builds client — router — server on veth pairs (rc/cr,
// rs/sr), with forwarding on and default routes through the router.
func newRoutedNetAt(t *testing.T, a routedAddrs) *routedNet {
	n := &routedNet{cli: nstest.New(t), rtr: nstest.New(t), srv: nstest.New(t)}
	link := func(x, y *nstest.NS, xn, yn string) {
		x.MustRun("ip", "link", "add", xn, "type", "veth", "peer", "name", yn, "netns", y.Name)
		x.MustRun("ip", "link", "set", xn, "up")
		y.MustRun("ip", "link", "set", yn, "up")
	}
	link(n.rtr, n.cli, "rc", "cr")
	link(n.rtr, n.srv, "rs", "sr")
	for _, c := range [][]string{
		{"rtr", "addr", "add", a.rtr4c + "/24", "dev", "rc"}, {"rtr", "addr", "add", a.rtr4s + "/24", "dev", "rs"},
		{"rtr", "-6", "addr", "add", a.rtr6c + "/64", "dev", "rc", "nodad"}, {"rtr", "-6", "addr", "add", a.rtr6s + "/64", "dev", "rs", "nodad"},
		{"cli", "addr", "add", a.cli4 + "/24", "dev", "cr"}, {"cli", "-6", "addr", "add", a.cli6 + "/64", "dev", "cr", "nodad"},
		{"cli", "route", "add", "default", "via", a.rtr4c}, {"cli", "-6", "route", "add", "default", "via", a.rtr6c},
		{"srv", "addr", "add", a.srv4 + "/24", "dev", "sr"}, {"srv", "-6", "addr", "add", a.srv6 + "/64", "dev", "sr", "nodad"},
		{"srv", "route", "add", "default", "via", a.rtr4s}, {"srv", "-6", "route", "add", "default", "via", a.rtr6s},
	} {
		ns := map[string]*nstest.NS{"rtr": n.rtr, "cli": n.cli, "srv": n.srv}[c[0]]
		ns.MustRun("ip", c[1:]...)
	}
	n.rtr.MustRun("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	return n
}

// firewall loads a ruleset on the router: helper objects, the rules that
// assign them, and a forward chain that drops new connections other than
// those the rules name. The user-space helpers must exist first (gonfct
// run makes them): nft looks the helper objects' types up.
func (n *routedNet) firewall(t *testing.T, objects, assign, allow string) {
	n.firewallNAT(t, objects, assign, allow, "")
}

// firewallNAT is firewall with extra chains (NAT) in the same table.
func (n *routedNet) firewallNAT(t *testing.T, objects, assign, allow, nat string) {
	rs := "table inet gonfct_fw {\n" + objects + nat +
		"\tchain pre {\n\t\ttype filter hook prerouting priority 0;\n" + assign + "\t}\n" +
		"\tchain forward_chain {\n\t\ttype filter hook forward priority 0; policy drop;\n\t\tct state established,related accept\n" + allow + "\t}\n}\n"
	f := filepath.Join(t.TempDir(), "fw.nft")
	if err := os.WriteFile(f, []byte(rs), 0o644); err != nil {
		t.Fatal(err)
	}
	n.rtr.MustRun("nft", "-f", f)
}

// daemon starts a long-running program in a namespace, stopped at the end
// of the test; its output is logged if the test fails.
func daemon(t *testing.T, ns *nstest.NS, name string, args ...string) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Children it forked (saned serves each client in one) may outlive it
	// and hold its output open: do not wait for them.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out.String())
		}
	})
}

// waitListen waits until something listens on proto/port in ns.
func waitListen(t *testing.T, ns *nstest.NS, flag, port string, count int) {
	waitListenFor(t, ns, flag, port, count, 30*time.Second)
}

// waitListenFor is waitListen for up to d (Python starts slowly under TCG
// when the host is busy).
func waitListenFor(t *testing.T, ns *nstest.NS, flag, port string, count int, d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		out, _ := ns.Run("ss", "-Hn"+flag+"l", "sport", "= :"+port)
		lines := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if lines >= count {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s port %s:\n%s", flag, port, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rpcRegister registers program 100099 version 1 with the server's
// rpcbind (PMAPPROC_SET for tcp and udp, RPCBPROC_SET for tcp6 and
// udp6), and
// rpcNull answers every call on those ports with an accepted, successful
// empty reply: enough for rpcinfo's NULL call.
const rpcRegisterPy = `
import socket, struct
def xstr(s):
    b = s.encode(); return struct.pack(">I", len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 800)); s.settimeout(5)
hdr = lambda xid, vers: struct.pack(">IIIIIIIIII", xid, 0, 2, 100000, vers, 1, 0, 0, 0, 0)
for i, (prot, port) in enumerate([(6, 40001), (17, 40002)]):
    s.sendto(hdr(i + 1, 2) + struct.pack(">IIII", 100099, 1, prot, port), ("127.0.0.1", 111)); assert s.recv(64)[-4:] == b"\0\0\0\1"
for i, (netid, ua) in enumerate([("tcp6", "::.156.65"), ("udp6", "::.156.66")]):
    s.sendto(hdr(i + 3, 3) + struct.pack(">II", 100099, 1) + xstr(netid) + xstr(ua) + xstr("superuser"), ("127.0.0.1", 111))
    assert s.recv(64)[-4:] == b"\0\0\0\1"
`

const rpcNullPy = `
import socket, struct, threading
def reply(call):
    return call[:4] + struct.pack(">IIIII", 1, 0, 0, 0, 0)
def tcp():
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", 40001)); ls.listen(8)
    while True:
        c, _ = ls.accept()
        try:
            while True:
                mark = c.recv(4)
                if len(mark) < 4: break
                n = struct.unpack(">I", mark)[0] & 0x7fffffff
                call = b""
                while len(call) < n: call += c.recv(n - len(call))
                r = reply(call)
                c.sendall(struct.pack(">I", 0x80000000 | len(r)) + r)
        except OSError: pass
        c.close()
threading.Thread(target=tcp, daemon=True).start()
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
u.bind(("::", 40002))
while True:
    call, peer = u.recvfrom(2048)
    u.sendto(reply(call), peer)
`

// startRPCServer starts rpcbind on the server and registers program
// 100099 with it, served by rpcNullPy.
func startRPCServer(t *testing.T, n *routedNet) { startRPCServerIn(t, n.srv) }

// startRPCServerIn is startRPCServer in the namespace srv.
func startRPCServerIn(t *testing.T, srv *nstest.NS) {
	daemon(t, srv, "rpcbind", "-f", "-w")
	waitListenFor(t, srv, "t", "111", 1, 120*time.Second)
	srv.MustRun("/usr/bin/python3", "-c", rpcRegisterPy)
	daemon(t, srv, "/usr/bin/python3", "-c", rpcNullPy)
	waitListenFor(t, srv, "u", "40002", 1, 120*time.Second)
}

// rpcGetportPy asks the portmapper with a v2 GETPORT (over UDP) for
// program 100099's port on the given protocol, then makes a NULL call to
// that port over that protocol.
const rpcGetportPy = `
import socket, struct, sys
host, prot = sys.argv[1], int(sys.argv[2])
call = lambda xid, prog, vers, proc, args: struct.pack(">IIIIIIIIII", xid, 0, 2, prog, vers, proc, 0, 0, 0, 0) + args
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
u.sendto(call(0x600d0001, 100000, 2, 3, struct.pack(">IIII", 100099, 1, prot, 0)), (host, 111))
port = struct.unpack(">I", u.recv(512)[24:28])[0]
null = call(0x600d0002, 100099, 1, 0, b"")
if prot == 6:
    c = socket.create_connection((host, port), timeout=5)
    c.sendall(struct.pack(">I", 0x80000000 | len(null)) + null)
    r = c.recv(512)[4:]
else:
    u.sendto(null, (host, port)); r = u.recv(512)
print("port %d reply %s" % (port, "ok" if r[:4] == null[:4] and r[4:8] == b"\0\0\0\1" else "bad"))
`

func TestRunRPCEndToEnd(t *testing.T) {
	ownHelpers(t)
	start := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(start).Round(time.Millisecond), what) }
	n := newRoutedNet(t)
	phase("network")
	startRPCServer(t, n)
	phase("rpcbind listens, program registered")

	type probe struct {
		name string
		args []string
		ok   string
	}
	probes := []probe{
		{"rpcinfo -t (rpcbind v4 GETADDR over TCP, NULL over TCP)", []string{"timeout", "-s", "KILL", "20", "rpcinfo", "-t", psrv4, "100099", "1"}, "ready and waiting"},
		{"rpcinfo -u (GETADDR over UDP, NULL over UDP)", []string{"timeout", "-s", "KILL", "20", "rpcinfo", "-u", psrv4, "100099", "1"}, "ready and waiting"},
		{"rpcinfo -T tcp6 (GETADDR for tcp6 over IPv6)", []string{"timeout", "-s", "KILL", "20", "rpcinfo", "-T", "tcp6", psrv6, "100099", "1"}, "ready and waiting"},
		{"GETPORT v2 for tcp, NULL over TCP", []string{"timeout", "-s", "KILL", "20", "/usr/bin/python3", "-c", rpcGetportPy, psrv4, "6"}, "port 40001 reply ok"},
		{"GETPORT v2 for udp, NULL over UDP", []string{"timeout", "-s", "KILL", "20", "/usr/bin/python3", "-c", rpcGetportPy, psrv4, "17"}, "port 40002 reply ok"},
	}
	helpers := []string{"--helper", "rpc:inet:tcp:queue=21", "--helper", "rpc:inet:udp:queue=22", "--helper", "rpc:inet6:tcp:queue=23", "--helper", "rpc:inet6:udp:queue=24"}
	eng := startRun(t, n.rtr, helpers...)
	phase("gonfct run ready")
	n.firewall(t,
		"\tct helper rpc-tcp { type \"rpc\" protocol tcp; l3proto inet; }\n\tct helper rpc-udp { type \"rpc\" protocol udp; l3proto inet; }\n",
		"\t\ttcp dport 111 ct helper set \"rpc-tcp\"\n\t\tudp dport 111 ct helper set \"rpc-udp\"\n",
		"\t\tmeta l4proto { tcp, udp } th dport 111 ct state new accept\n")
	for _, p := range probes {
		start := time.Now()
		out, err := n.cli.Run(p.args[0], p.args[1:]...)
		if err != nil || !strings.Contains(out, p.ok) {
			t.Errorf("%s with gonfct run: %v\n%s\nexpectations:\n%s", p.name, err, out, expectations(n.rtr))
		} else {
			t.Logf("%s with gonfct run: ok in %v", p.name, time.Since(start).Round(time.Millisecond))
		}
	}
	// The expectations are PERMANENT: still there after their connections.
	if e := expectations(n.rtr); !strings.Contains(e, "dport=40001") || !strings.Contains(e, "PERMANENT") {
		t.Errorf("no permanent expectation for port 40001:\n%s", e)
	}
	eng.stop(t)
	phase("gonfct run stopped")
	n.rtr.MustRun("conntrack", "-F", "expect")
	n.rtr.MustRun("conntrack", "-F")
	defer phase("probes without gonfct run done")
	for _, p := range probes {
		p.args[3] = "8"
		if out, err := n.cli.Run(p.args[0], p.args[1:]...); err == nil && strings.Contains(out, p.ok) {
			t.Errorf("%s succeeded without gonfct run:\n%s", p.name, out)
		}
	}
}

func TestRunTFTPEndToEnd(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	root, work := t.TempDir(), t.TempDir()
	os.Chmod(root, 0o777)
	want := strings.Repeat("gonfct tftp through a firewall\n", 2000)
	if err := os.WriteFile(filepath.Join(root, "file.txt"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon(t, n.srv, "in.tftpd", "-L", "-c", "-s", root, "-a", ":69")
	waitListen(t, n.srv, "u", "69", 2)
	get := func(family, host string, secs string) (string, error) {
		os.Remove(filepath.Join(work, "file.txt"))
		out, err := n.cli.Run("sh", "-c", "cd "+work+" && timeout "+secs+" tftp "+family+" "+host+" 69 -m octet -c get file.txt")
		got, _ := os.ReadFile(filepath.Join(work, "file.txt"))
		if err == nil && string(got) != want {
			return out, os.ErrInvalid
		}
		return out, err
	}
	put := func(host string) (string, error) {
		os.WriteFile(filepath.Join(work, "up.txt"), []byte(want), 0o644)
		out, err := n.cli.Run("sh", "-c", "cd "+work+" && timeout 20 tftp -4 "+host+" 69 -m octet -c put up.txt")
		got, _ := os.ReadFile(filepath.Join(root, "up.txt"))
		if err == nil && string(got) != want {
			return out, os.ErrInvalid
		}
		return out, err
	}
	eng := startRun(t, n.rtr, "--helper", "tftp:inet:udp:queue=31", "--helper", "tftp:inet6:udp:queue=32")
	n.firewall(t,
		"\tct helper tftp-std { type \"tftp\" protocol udp; l3proto inet; }\n",
		"\t\tudp dport 69 ct helper set \"tftp-std\"\n",
		"\t\tudp dport 69 ct state new accept\n")
	if out, err := get("-4", psrv4, "20"); err != nil {
		t.Errorf("tftp get over IPv4 with gonfct run: %v\n%s", err, out)
	}
	if out, err := get("-6", psrv6, "20"); err != nil {
		t.Errorf("tftp get over IPv6 with gonfct run: %v\n%s", err, out)
	}
	if out, err := put(psrv4); err != nil {
		t.Errorf("tftp put over IPv4 with gonfct run: %v\n%s", err, out)
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	if out, err := get("-4", psrv4, "8"); err == nil {
		t.Errorf("tftp get succeeded without gonfct run:\n%s", out)
	}
}

func TestRunRSHEndToEnd(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	rshd, err := filepath.Abs("../../pkg/cthelper/rsh/testdata/rshd.py")
	if err != nil {
		t.Fatal(err)
	}
	// rsh runs "echo hello" on rshd.py, which answers on stdout and on the
	// stderr connection it opens back to the client.
	rsh := func(family, addr string) (string, error) {
		daemon(t, n.srv, "/usr/bin/python3", rshd, family)
		waitListen(t, n.srv, "t", "514", 1)
		return n.cli.Run("timeout", "30", "rsh", "-l", "gonfct", addr, "echo", "hello")
	}
	eng := startRun(t, n.rtr, "--helper", "rsh:inet:tcp:queue=41", "--helper", "rsh:inet6:tcp:queue=42")
	n.firewall(t,
		"\tct helper rsh-std { type \"rsh\" protocol tcp; l3proto inet; }\n",
		"\t\ttcp dport 514 ct helper set \"rsh-std\"\n",
		"\t\ttcp dport 514 ct state new accept\n")
	for _, c := range [][2]string{{"4", psrv4}, {"6", psrv6}} {
		out, err := rsh(c[0], c[1])
		if err != nil || !strings.Contains(out, "stderr connection: up") {
			t.Errorf("rsh over IPv%s with gonfct run: %v\n%s\nexpectations:\n%s", c[0], err, out, expectations(n.rtr))
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	if out, _ := rsh("4", psrv4); strings.Contains(out, "stderr connection: up") {
		t.Errorf("the stderr connection crossed the firewall without gonfct run:\n%s", out)
	}
}

// masquerade translates the client's connections to the server's side to
// the router's address there (source NAT).
const masquerade = "\tchain post {\n\t\ttype nat hook postrouting priority srcnat;\n\t\toifname \"rs\" masquerade\n\t}\n"

// A NATed master: the client is masqueraded behind the router. The
// server's transfer connection goes to the router's address and must be
// translated back to the client, which only the expectation's NAT tuple
// (nat-follow-master) does.
func TestRunTFTPThroughSNAT(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	root, work := t.TempDir(), t.TempDir()
	want := strings.Repeat("gonfct tftp through NAT\n", 2000)
	if err := os.WriteFile(filepath.Join(root, "file.txt"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon(t, n.srv, "in.tftpd", "-L", "-s", root, "-a", ":69")
	waitListen(t, n.srv, "u", "69", 2)
	eng := startRun(t, n.rtr, "--helper", "tftp:inet:udp:queue=33", "--helper", "tftp:inet6:udp:queue=34")
	n.firewallNAT(t,
		"\tct helper tftp-std { type \"tftp\" protocol udp; l3proto inet; }\n",
		"\t\tudp dport 69 ct helper set \"tftp-std\"\n",
		"\t\tudp dport 69 ct state new accept\n", masquerade)
	for _, c := range [][2]string{{"-4", psrv4}, {"-6", psrv6}} {
		os.Remove(filepath.Join(work, "file.txt"))
		out, err := n.cli.Run("sh", "-c", "cd "+work+" && timeout -s KILL 20 tftp "+c[0]+" "+c[1]+" 69 -m octet -c get file.txt")
		got, _ := os.ReadFile(filepath.Join(work, "file.txt"))
		if err != nil || string(got) != want {
			t.Errorf("tftp %s get through SNAT with gonfct run: %v (%d of %d bytes)\n%s\nconntracks:\n%s", c[0], err, len(got), len(want), out, n.rtr.MustRun("conntrack", "-L"))
		}
	}
	// The server saw the router's address, not the client's.
	for _, re := range []string{ctTuple(pcli4, psrv4, "69") + ctTuple(psrv4, prtr4s, ""), ctTuple(pcli6, psrv6, "69") + ctTuple(psrv6, prtr6s, "")} {
		if ok, ct := conntrackMatch(n.rtr, re); !ok {
			t.Errorf("no conntrack matching %s: the tftp master was not masqueraded\n%s", re, ct)
		}
	}
	eng.stop(t)
}

// rsh through the same masquerade: the server's stderr connection goes to
// the router and is translated back to the client's port.
func TestRunRSHThroughSNAT(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	rshd, err := filepath.Abs("../../pkg/cthelper/rsh/testdata/rshd.py")
	if err != nil {
		t.Fatal(err)
	}
	eng := startRun(t, n.rtr, "--helper", "rsh:inet:tcp:queue=43", "--helper", "rsh:inet6:tcp:queue=44")
	n.firewallNAT(t,
		"\tct helper rsh-std { type \"rsh\" protocol tcp; l3proto inet; }\n",
		"\t\ttcp dport 514 ct helper set \"rsh-std\"\n",
		"\t\ttcp dport 514 ct state new accept\n", masquerade)
	for _, c := range [][3]string{{"4", psrv4, prtr4s}, {"6", psrv6, prtr6s}} {
		daemon(t, n.srv, "/usr/bin/python3", rshd, c[0])
		waitListen(t, n.srv, "t", "514", 1)
		out, err := n.cli.Run("timeout", "-s", "KILL", "30", "rsh", "-l", "gonfct", c[1], "echo", "hello")
		if err != nil || !strings.Contains(out, "stderr connection: up") {
			t.Errorf("rsh over IPv%s through SNAT with gonfct run: %v\n%s", c[0], err, out)
		}
		// rshd saw the router's address, and connected back to it.
		if !strings.Contains(out, "peer: "+c[2]+"\n") {
			t.Errorf("rsh over IPv%s: rshd did not see the router's address %s: not masqueraded\n%s", c[0], c[2], out)
		}
	}
	eng.stop(t)
}

// rpc with the portmapper behind destination NAT: the client asks the
// router's address, GETPORT answers the server's port, and the connection
// to the router's address on that port is translated to the server by the
// expectation's NAT tuple. rpcbind's GETADDR answer (rpcinfo -t/-u) names
// the server's own address, which the helper rewrites to the router's.
func TestRunRPCThroughDNAT(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	startRPCServer(t, n)
	eng := startRun(t, n.rtr, "--helper", "rpc:inet:tcp:queue=25", "--helper", "rpc:inet:udp:queue=26")
	dnat := "\tchain prenat {\n\t\ttype nat hook prerouting priority dstnat;\n\t\tip daddr " + prtr4c + " meta l4proto { tcp, udp } th dport 111 dnat ip to " + psrv4 + "\n\t}\n"
	n.firewallNAT(t,
		"\tct helper rpc-tcp { type \"rpc\" protocol tcp; l3proto inet; }\n\tct helper rpc-udp { type \"rpc\" protocol udp; l3proto inet; }\n",
		"\t\ttcp dport 111 ct helper set \"rpc-tcp\"\n\t\tudp dport 111 ct helper set \"rpc-udp\"\n",
		"\t\tmeta l4proto { tcp, udp } th dport 111 ct state new accept\n", dnat)
	for _, prot := range []string{"6", "17"} {
		out, err := n.cli.Run("timeout", "-s", "KILL", "20", "/usr/bin/python3", "-c", rpcGetportPy, prtr4c, prot)
		if err != nil || !strings.Contains(out, "reply ok") {
			t.Errorf("GETPORT (protocol %s) through DNAT with gonfct run: %v\n%s\nexpectations:\n%s", prot, err, out, expectations(n.rtr))
		}
	}
	for _, flag := range []string{"-t", "-u"} {
		out, err := n.cli.Run("timeout", "-s", "KILL", "20", "rpcinfo", flag, prtr4c, "100099", "1")
		if err != nil || !strings.Contains(out, "ready and waiting") {
			t.Errorf("rpcinfo %s (GETADDR) through DNAT with gonfct run: %v\n%s\nexpectations:\n%s", flag, err, out, expectations(n.rtr))
		}
	}
	// The calls to the router's address reached the server: the
	// portmapper's and the program's connections were translated.
	for _, port := range []string{"111", "40001", "40002"} {
		if ok, ct := conntrackMatch(n.rtr, ctTuple(pcli4, prtr4c, port)+ctTuple(psrv4, pcli4, "")); !ok {
			t.Errorf("no conntrack to %s port %s translated to %s:\n%s", prtr4c, port, psrv4, ct)
		}
	}
	eng.stop(t)
}

// SANE with Debian's saned (test backend) and scanimage (net backend):
// the image comes over the data connection saned announces.
func TestRunSANEEndToEnd(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	scan := startSaned(t, n, "10.79.1.0/24", "[fd00:79:1::]/64")
	eng := startRun(t, n.rtr, "--helper", "sane:inet:tcp:queue=51", "--helper", "sane:inet6:tcp:queue=52")
	n.firewall(t, saneObjects, saneAssign, saneAllow)
	for _, dev := range []string{"net:" + psrv4 + ":test:0", "net:[" + psrv6 + "]:test:0"} {
		if out, size, err := scan(dev, 60*time.Second); err != nil || size < 20 {
			t.Errorf("scan of %s with gonfct run: %v, %d bytes\n%s\nexpectations:\n%s", dev, err, size, out, expectations(n.rtr))
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	if out, size, err := scan("net:"+psrv4+":test:0", 20*time.Second); err == nil && size >= 20 {
		t.Errorf("scan succeeded without gonfct run:\n%s", out)
	}
}

// The SANE firewall's parts, for routedNet.firewallNAT.
const (
	saneObjects = "\tct helper sane-std { type \"sane\" protocol tcp; l3proto inet; }\n"
	saneAssign  = "\t\ttcp dport 6566 ct helper set \"sane-std\"\n"
	saneAllow   = "\t\ttcp dport 6566 ct state new accept\n"
)

// saneScan scans from the client with scanimage (net backend) from
// device ("net:HOST:test:0") within limit; it reports scanimage's output,
// the image's size and its error.
type saneScan func(device string, limit time.Duration) (string, int, error)

// startSaned starts saned with its test backend on the server, serving
// the networks given (saned.conf lines), and returns the client's scan.
func startSaned(t *testing.T, n *routedNet, nets ...string) saneScan {
	srvConf, cliConf, work := t.TempDir(), t.TempDir(), t.TempDir()
	for f, text := range map[string]string{
		filepath.Join(srvConf, "dll.conf"): "test\n", filepath.Join(srvConf, "saned.conf"): strings.Join(nets, "\n") + "\n",
		filepath.Join(srvConf, "test.conf"): "number_of_devices 1\n",
		filepath.Join(cliConf, "dll.conf"):  "net\n", filepath.Join(cliConf, "net.conf"): "connect_timeout = 5\n",
	} {
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// saned refuses every client when the local host name does not
	// resolve: give it one that does, in a UTS namespace of its own.
	daemon(t, n.srv, "unshare", "--uts", "sh", "-c", "hostname localhost && exec env SANE_CONFIG_DIR="+srvConf+" saned -l -p 6566 -u root")
	waitListen(t, n.srv, "t", "6566", 1)
	// scanimage waits long for a data connection that never comes; the
	// context and WaitDelay bound it whatever holds its output open.
	return func(device string, limit time.Duration) (string, int, error) {
		img := filepath.Join(work, "scan.pnm")
		os.Remove(img)
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.cli.Name, "env", "SANE_CONFIG_DIR="+cliConf, "scanimage", "-d", device,
			"--mode", "Gray", "--resolution", "25", "-x", "8", "-y", "8", "--format=pnm", "-o", img)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		b, _ := os.ReadFile(img)
		return string(out), len(b), err
	}
}
