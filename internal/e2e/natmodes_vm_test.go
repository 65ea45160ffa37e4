//go:build vmtest

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The NAT modes the other tests leave out, each with the master
// translated the other way (rsh and tftp behind destination NAT; tns and
// rpc with the client masqueraded) or, for nsrexec and sane, both ways, on the
// routed network of lenAddrs. Each asserts what the peers saw (the
// router's address in place of the other side's) and fails without
// gonfct run.

// nsrexec through NAT, both halves: its rsh half with the client
// masqueraded (rshd sees the router's address and connects back to it)
// and behind destination NAT (the client dials the router, and the stderr
// connection comes to it from the router's address); its rpc half behind
// destination NAT to an address of another length, where rpcbind's
// universal addresses are rewritten to the dialled address on a TCP
// connection (record marking) and a UDP socket that go on with more
// lookups, and the NULL calls to that address reach the server.
func TestRunNsrexecThroughNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	startRPCServer(t, n)
	n.srv.MustRun("nft", "add table inet nsr; add chain inet nsr pre { type nat hook prerouting priority dstnat; }; "+
		"add rule inet nsr pre meta l4proto { tcp, udp } th dport 7938 redirect to :111")
	const objects = "\tct helper nsr-tcp { type \"nsrexec\" protocol tcp; l3proto inet; }\n\tct helper nsr-udp { type \"nsrexec\" protocol udp; l3proto inet; }\n"
	const assign = "\t\ttcp dport { 7937, 7938 } ct helper set \"nsr-tcp\"\n\t\tudp dport 7938 ct helper set \"nsr-udp\"\n"
	const allow = "\t\ttcp dport { 7937, 7938 } ct state new accept\n\t\tudp dport 7938 ct state new accept\n"
	eng := startRun(t, n.rtr, "--helper", "nsrexec:inet:tcp:queue=101", "--helper", "nsrexec:inet:udp:queue=102",
		"--helper", "nsrexec:inet6:tcp:queue=103", "--helper", "nsrexec:inet6:udp:queue=104")
	type fam struct{ family, cli, rtrc, rtrs, srv string }
	families := []fam{{"4", a.cli4, a.rtr4c, a.rtr4s, a.srv4}, {"6", a.cli6, a.rtr6c, a.rtr6s, a.srv6}}
	load := func(nat string) {
		n.rtr.Run("nft", "delete", "table", "inet", "gonfct_fw")
		n.rtr.MustRun("conntrack", "-F")
		n.firewallNAT(t, objects, assign, allow, nat)
	}

	load(masquerade)
	for _, f := range families {
		out := rshVia(t, n, f.family, f.srv, "7937", "45000")
		requireLines(t, "nsrexec over IPv"+f.family+" through the masquerade", out, "stderr connection: up", "peer: "+f.rtrs+"\n")
	}

	dnat := dnatChain(a, "meta l4proto { tcp, udp } th dport { 7937, 7938 }")
	load(dnat)
	for _, f := range families {
		out := rshVia(t, n, f.family, f.rtrc, "7937", "45000")
		requireLines(t, "nsrexec over IPv"+f.family+" through DNAT", out, "stderr connection: up", "stderr from: "+f.rtrc+"\n", "peer: "+f.cli+"\n")
		for _, s := range rpcSessions(f.family) {
			out := rpcSession(t, n, f.rtrc, "7938", s.transport, s.lookups...)
			for _, lk := range s.lookups {
				if !strings.Contains(out, rpcWant(lk, f.rtrc)) {
					t.Errorf("nsrexec's portmapper over %s through DNAT, IPv%s: %s did not work:\n%s\nexpectations:\n%s", s.transport, f.family, lk, out, expectations(n.rtr))
					break
				}
			}
		}
		// The server saw the calls at its own address.
		for _, port := range []string{"7938", "40001", "40002"} {
			if ok, ct := conntrackMatch(n.rtr, ctTuple(f.cli, f.rtrc, port)+ctTuple(f.srv, f.cli, "")); !ok {
				t.Errorf("IPv%s: no conntrack to %s port %s translated to %s:\n%s", f.family, f.rtrc, port, f.srv, ct)
			}
		}
	}

	eng.stop(t)
	load(dnat)
	if out := rshVia(t, n, "4", a.rtr4c, "7937", "45000"); strings.Contains(out, "stderr connection: up") {
		t.Errorf("nsrexec's stderr connection got through DNAT without gonfct run:\n%s", out)
	}
	if out := rpcSession(t, n, a.rtr4c, "7938", "tcp", "getaddr4:tcp"); strings.Contains(out, ": ok") || strings.Contains(out, a.rtr4c+".156") {
		t.Errorf("nsrexec's portmapper answer rewritten or its NULL call through DNAT without gonfct run:\n%s", out)
	}
	load(masquerade)
	if out := rshVia(t, n, "4", a.srv4, "7937", "45000"); strings.Contains(out, "stderr connection: up") {
		t.Errorf("nsrexec's stderr connection got through the masquerade without gonfct run:\n%s", out)
	}
}

// tns with the client masqueraded: the listener names its own address,
// which is not translated; the dispatcher connections come from the
// router's address.
func TestRunTNSThroughSNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	daemon(t, n.srv, "/usr/bin/python3", tnsPeer(t), "server")
	waitListen(t, n.srv, "t", "1521", 1)
	eng := startRun(t, n.rtr, "--helper", "tns:inet:tcp:queue=105", "--helper", "tns:inet6:tcp:queue=106")
	n.firewallNAT(t, tnsObjects, tnsAssign, tnsAllow, masquerade)
	for _, c := range [][3]string{{a.srv4, a.cli4, a.rtr4s}, {a.srv6, a.cli6, a.rtr6s}} {
		out := tnsClient(t, n, c[0])
		if !requireLines(t, "tns to "+c[0]+" through the masquerade with gonfct run", out, tnsOK(c[0])...) {
			t.Logf("expectations:\n%s", expectations(n.rtr))
			continue
		}
		for _, port := range []string{"1521", "40521", "40522"} {
			if ok, ct := conntrackMatch(n.rtr, ctTuple(c[1], c[0], port)+ctTuple(c[0], c[2], "")+".*ASSURED"); !ok {
				t.Errorf("no connection to %s port %s masqueraded to %s:\n%s", c[0], port, c[2], ct)
			}
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	if out := tnsClient(t, n, a.srv4); !strings.Contains(out, "dispatcher 1: failed") || !strings.Contains(out, "dispatcher 2: failed") {
		t.Errorf("tns reached a dispatcher through the masquerade without gonfct run:\n%s", out)
	}
}

// rpc with the client masqueraded: the portmapper's lookups over TCP and
// UDP, IPv4 and IPv6, and the NULL calls to the addresses they name,
// which the server sees from the router's address.
func TestRunRPCThroughSNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	startRPCServer(t, n)
	eng := startRun(t, n.rtr, "--helper", "rpc:inet:tcp:queue=107", "--helper", "rpc:inet:udp:queue=108",
		"--helper", "rpc:inet6:tcp:queue=109", "--helper", "rpc:inet6:udp:queue=110")
	const objects = "\tct helper rpc-tcp { type \"rpc\" protocol tcp; l3proto inet; }\n\tct helper rpc-udp { type \"rpc\" protocol udp; l3proto inet; }\n"
	n.firewallNAT(t, objects, "\t\ttcp dport 111 ct helper set \"rpc-tcp\"\n\t\tudp dport 111 ct helper set \"rpc-udp\"\n",
		"\t\tmeta l4proto { tcp, udp } th dport 111 ct state new accept\n", masquerade)
	for _, f := range []struct{ family, cli, rtrs, srv string }{{"4", a.cli4, a.rtr4s, a.srv4}, {"6", a.cli6, a.rtr6s, a.srv6}} {
		for _, s := range rpcSessions(f.family) {
			out := rpcSession(t, n, f.srv, "111", s.transport, s.lookups...)
			for _, lk := range s.lookups {
				if !strings.Contains(out, rpcWant(lk, f.srv)) {
					t.Errorf("lookups over %s through the masquerade, IPv%s: %s did not work:\n%s\nexpectations:\n%s", s.transport, f.family, lk, out, expectations(n.rtr))
					break
				}
			}
		}
		for _, port := range []string{"111", "40001", "40002"} {
			if ok, ct := conntrackMatch(n.rtr, ctTuple(f.cli, f.srv, port)+ctTuple(f.srv, f.rtrs, "")); !ok {
				t.Errorf("IPv%s: no conntrack to %s port %s masqueraded to %s:\n%s", f.family, f.srv, port, f.rtrs, ct)
			}
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	if out := rpcSession(t, n, a.srv4, "111", "tcp", "getport:tcp", "getaddr4:udp"); strings.Contains(out, ": ok") {
		t.Errorf("a NULL call got through the masquerade without gonfct run:\n%s", out)
	}
}

// rsh behind destination NAT: the client dials the router, rshd sees the
// client's own address and connects back to it, and the client sees that
// stderr connection come from the router's address it dialled.
func TestRunRSHThroughDNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	eng := startRun(t, n.rtr, "--helper", "rsh:inet:tcp:queue=111", "--helper", "rsh:inet6:tcp:queue=112")
	n.firewallNAT(t, "\tct helper rsh-std { type \"rsh\" protocol tcp; l3proto inet; }\n",
		"\t\ttcp dport 514 ct helper set \"rsh-std\"\n", "\t\ttcp dport 514 ct state new accept\n", dnatChain(a, "tcp dport 514"))
	for _, f := range []struct{ family, cli, rtrc string }{{"4", a.cli4, a.rtr4c}, {"6", a.cli6, a.rtr6c}} {
		out := rshVia(t, n, f.family, f.rtrc, "514", "1000")
		if !requireLines(t, "rsh over IPv"+f.family+" through DNAT", out, "stderr connection: up", "stderr from: "+f.rtrc+"\n", "peer: "+f.cli+"\n") {
			t.Logf("expectations:\n%s", expectations(n.rtr))
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	if out := rshVia(t, n, "4", a.rtr4c, "514", "1000"); strings.Contains(out, "stderr connection: up") {
		t.Errorf("rsh's stderr connection got through DNAT without gonfct run:\n%s", out)
	}
}

// tftp behind destination NAT: the client asks the router, tftpd answers
// from a new port of the server's own address, and the client gets that
// answer from the router's address it asked.
func TestRunTFTPThroughDNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	root, work := t.TempDir(), t.TempDir()
	want := strings.Repeat("gonfct tftp through DNAT\n", 2000)
	if err := os.WriteFile(filepath.Join(root, "file.txt"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon(t, n.srv, "in.tftpd", "-L", "-s", root, "-a", ":69")
	waitListen(t, n.srv, "u", "69", 2)
	get := func(family, host, secs string) (string, bool) {
		os.Remove(filepath.Join(work, "file.txt"))
		out, err := n.cli.Run("sh", "-c", "cd "+work+" && timeout -s KILL "+secs+" tftp "+family+" "+host+" 69 -m octet -c get file.txt")
		got, _ := os.ReadFile(filepath.Join(work, "file.txt"))
		return out, err == nil && string(got) == want
	}
	eng := startRun(t, n.rtr, "--helper", "tftp:inet:udp:queue=113", "--helper", "tftp:inet6:udp:queue=114")
	n.firewallNAT(t, "\tct helper tftp-std { type \"tftp\" protocol udp; l3proto inet; }\n",
		"\t\tudp dport 69 ct helper set \"tftp-std\"\n", "\t\tudp dport 69 ct state new accept\n", dnatChain(a, "udp dport 69"))
	for _, f := range []struct{ flag, cli, rtrc, srv string }{{"-4", a.cli4, a.rtr4c, a.srv4}, {"-6", a.cli6, a.rtr6c, a.srv6}} {
		if out, ok := get(f.flag, f.rtrc, "20"); !ok {
			t.Errorf("tftp %s get through DNAT with gonfct run:\n%s\nexpectations:\n%s", f.flag, out, expectations(n.rtr))
			continue
		}
		// The transfer came from the server's address and reached the
		// client from the router's.
		if ok, ct := conntrackMatch(n.rtr, ctTuple(f.srv, f.cli, "")+ctTuple(f.cli, f.rtrc, "")); !ok {
			t.Errorf("tftp %s: no transfer from %s translated to come from %s:\n%s", f.flag, f.srv, f.rtrc, ct)
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	if out, ok := get("-4", a.rtr4c, "8"); ok {
		t.Errorf("tftp get through DNAT succeeded without gonfct run:\n%s", out)
	}
}

// sane with the client masqueraded, then behind destination NAT: the
// data connection to the port saned announces follows the control
// connection's translation (saned sees the router's address; the client
// reaches the data port at the router's address it dialled).
func TestRunSANEThroughNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	scan := startSaned(t, n, "10.1.1.0/24", "[fd00:1::]/64", "203.0.113.0/24", "[2001:db8:113::]/64")
	eng := startRun(t, n.rtr, "--helper", "sane:inet:tcp:queue=117", "--helper", "sane:inet6:tcp:queue=118")
	load := func(nat string) {
		n.rtr.Run("nft", "delete", "table", "inet", "gonfct_fw")
		n.rtr.MustRun("conntrack", "-F")
		n.firewallNAT(t, saneObjects, saneAssign, saneAllow, nat)
	}
	type fam struct{ cli, rtrc, rtrs, srv, url string }
	families := []fam{{a.cli4, a.rtr4c, a.rtr4s, a.srv4, "%s"}, {a.cli6, a.rtr6c, a.rtr6s, a.srv6, "[%s]"}}
	device := func(f fam, host string) string { return "net:" + strings.Replace(f.url, "%s", host, 1) + ":test:0" }
	for _, c := range []struct {
		name, nat string
		dial      func(fam) string
		data      func(fam) string // the data connection's conntrack
	}{
		{"masquerade", masquerade, func(f fam) string { return f.srv },
			func(f fam) string { return ctTuple(f.cli, f.srv, "") + ctTuple(f.srv, f.rtrs, "") }},
		{"DNAT", dnatChain(a, "tcp dport 6566"), func(f fam) string { return f.rtrc },
			func(f fam) string { return ctTuple(f.cli, f.rtrc, "") + ctTuple(f.srv, f.cli, "") }},
	} {
		load(c.nat)
		for _, f := range families {
			dev := device(f, c.dial(f))
			if out, size, err := scan(dev, 60*time.Second); err != nil || size < 20 {
				t.Errorf("scan of %s through the %s with gonfct run: %v, %d bytes\n%s\nexpectations:\n%s", dev, c.name, err, size, out, expectations(n.rtr))
				continue
			}
			if ok, ct := conntrackBeside(n.rtr, c.data(f), "dport=6566 "); !ok {
				t.Errorf("scan of %s: no data connection through the %s matching %s:\n%s", dev, c.name, c.data(f), ct)
			}
		}
	}
	eng.stop(t)
	load(dnatChain(a, "tcp dport 6566"))
	if out, size, err := scan(device(families[0], a.rtr4c), 20*time.Second); err == nil && size >= 20 {
		t.Errorf("scan through DNAT succeeded without gonfct run:\n%s", out)
	}
}

// conntrackBeside reports whether a conntrack of ns (either family) other
// than those whose line contains not matches the regular expression, and
// the listing.
func conntrackBeside(ns *nstest.NS, re, not string) (bool, string) {
	v4, _ := ns.Run("conntrack", "-L")
	v6, _ := ns.Run("conntrack", "-L", "-f", "ipv6")
	r := regexp.MustCompile(re)
	for _, l := range strings.Split(v4+v6, "\n") {
		if !strings.Contains(l, not) && r.MatchString(l) {
			return true, v4 + v6
		}
	}
	return false, v4 + v6
}

// amanda behind destination NAT, IPv4 and IPv6, with amandapeer.py (the
// exchange of a real dump): the backup server asks the router's address,
// and its connections to the ports amandad's CONNECT line names, at the
// router's address, reach amandad's host through the expectations' NAT.
func TestRunAmandaThroughDNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	peer, err := filepath.Abs("../../pkg/cthelper/amanda/testdata/amandapeer.py")
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(host string) string {
		daemon(t, n.srv, "/usr/bin/python3", peer, "client")
		waitListenFor(t, n.srv, "u", "10080", 1, 120*time.Second)
		out, _ := n.cli.Run("timeout", "-s", "KILL", "60", "/usr/bin/python3", peer, "server", host)
		return out
	}
	eng := startRun(t, n.rtr, "--helper", "amanda:inet:udp:queue=119", "--helper", "amanda:inet6:udp:queue=120")
	const objects = "\tct helper amanda-std { type \"amanda\" protocol udp; l3proto inet; }\n"
	const assign = "\t\tudp dport 10080 ct helper set \"amanda-std\"\n"
	const allow = "\t\tudp dport 10080 ct state new accept\n"
	dnat := dnatChain(a, "udp dport 10080")
	n.firewallNAT(t, objects, assign, allow, dnat)
	for _, f := range []struct{ cli, rtrc, srv string }{{a.cli4, a.rtr4c, a.srv4}, {a.cli6, a.rtr6c, a.srv6}} {
		out := exchange(f.rtrc)
		if strings.Count(out, " ok\n") != 4 {
			t.Errorf("amanda to %s through DNAT: not all four streams connected with gonfct run:\n%s\nexpectations:\n%s", f.rtrc, out, expectations(n.rtr))
			continue
		}
		// The streams went to the router's address and reached the
		// server's: four of them beside the UDP master.
		v4, _ := n.rtr.Run("conntrack", "-L", "-p", "tcp", "-f", "ipv4")
		v6, _ := n.rtr.Run("conntrack", "-L", "-p", "tcp", "-f", "ipv6")
		if got := len(regexp.MustCompile(ctTuple(f.cli, f.rtrc, "")+ctTuple(f.srv, f.cli, "")).FindAllString(v4+v6, -1)); got != 4 {
			t.Errorf("amanda to %s: %d stream connections translated to %s, want 4:\n%s", f.rtrc, got, f.srv, v4+v6)
		}
	}
	eng.stop(t)
	n.rtr.Run("nft", "delete", "table", "inet", "gonfct_fw")
	n.rtr.MustRun("conntrack", "-F")
	n.firewallNAT(t, objects, assign, allow, dnat)
	if out := exchange(a.rtr4c); strings.Contains(out, " ok") {
		t.Errorf("an amanda stream connected through DNAT without gonfct run:\n%s", out)
	}
}
