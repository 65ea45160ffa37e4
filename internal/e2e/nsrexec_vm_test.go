//go:build vmtest

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// rshTestdata is the path of a file in pkg/cthelper/rsh/testdata.
func rshTestdata(t *testing.T, name string) string {
	p, err := filepath.Abs("../../pkg/cthelper/rsh/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rshVia starts rshd.py (one connection) on port in the server's
// namespace and runs rshclient.py, with its stderr port errPort, from the
// client's; it reports the client's output.
func rshVia(t *testing.T, n *routedNet, family, host, port, errPort string) string {
	daemon(t, n.srv, "/usr/bin/python3", rshTestdata(t, "rshd.py"), family, port)
	waitListen(t, n.srv, "t", port, 1)
	out, _ := n.cli.Run("timeout", "-s", "KILL", "40", "/usr/bin/python3", rshTestdata(t, "rshclient.py"), host, port, errPort)
	return out
}

// NetWorker's nsrexec helper on a kernel, both halves, IPv4 and IPv6,
// through the routed firewall, which lets in new connections to
// NetWorker's ports 7937 (TCP) and 7938 (TCP and UDP) only:
//
//   - rsh-style on 7937: Debian's rsh client (rsh -p 7937) and rshd.py on
//     that port; the server's connection back to the client's stderr port
//     crosses only through the helper's expectation. With its default
//     range (1-65535) a stderr port far from BSD's reserved ones passes;
//     with range=40000-40010 and ports=41000 the ports in the range and
//     the extra port pass, another does not.
//   - rpc-style on 7938: Debian's rpcbind, which the server's own firewall
//     answers on 7938 as NetWorker's portmapper (redirected to 111);
//     GETPORT and rpcbind v3/v4 lookups over TCP and UDP, each followed by
//     a NULL call that crosses only through the helper's expectation.
func TestRunNsrexecEndToEnd(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	startRPCServer(t, n)
	// NetWorker's portmapper port on the server: rpcbind, redirected.
	n.srv.MustRun("nft", "add table inet nsr; add chain inet nsr pre { type nat hook prerouting priority dstnat; }; "+
		"add rule inet nsr pre meta l4proto { tcp, udp } th dport 7938 redirect to :111")

	const objects = "\tct helper nsr-tcp { type \"nsrexec\" protocol tcp; l3proto inet; }\n\tct helper nsr-udp { type \"nsrexec\" protocol udp; l3proto inet; }\n"
	const assign = "\t\ttcp dport { 7937, 7938 } ct helper set \"nsr-tcp\"\n\t\tudp dport 7938 ct helper set \"nsr-udp\"\n"
	const allow = "\t\ttcp dport { 7937, 7938 } ct state new accept\n\t\tudp dport 7938 ct state new accept\n"
	helpers := func(opts string) []string {
		return []string{"--helper", "nsrexec:inet:tcp:queue=91" + opts, "--helper", "nsrexec:inet:udp:queue=92",
			"--helper", "nsrexec:inet6:tcp:queue=93" + opts, "--helper", "nsrexec:inet6:udp:queue=94"}
	}
	families := []struct{ family, host string }{{"4", psrv4}, {"6", psrv6}}

	eng := startRun(t, n.rtr, helpers("")...)
	n.firewall(t, objects, assign, allow)
	for _, f := range families {
		daemon(t, n.srv, "/usr/bin/python3", rshTestdata(t, "rshd.py"), f.family, "7937")
		waitListen(t, n.srv, "t", "7937", 1)
		out, err := n.cli.Run("timeout", "-s", "KILL", "30", "rsh", "-p", "7937", "-l", "gonfct", f.host, "echo", "hello")
		if err != nil || !strings.Contains(out, "stderr connection: up") {
			t.Errorf("rsh -p 7937 over IPv%s with gonfct run: %v\n%s\nexpectations:\n%s", f.family, err, out, expectations(n.rtr))
		}
		if out := rshVia(t, n, f.family, f.host, "7937", "45000"); !strings.Contains(out, "stderr connection: up") {
			t.Errorf("nsrexec over IPv%s, stderr port 45000, default range: the stderr connection did not get through:\n%s", f.family, out)
		}
		for _, s := range rpcSessions(f.family) {
			out := rpcSession(t, n, f.host, "7938", s.transport, s.lookups...)
			for _, lk := range s.lookups {
				if !strings.Contains(out, rpcWant(lk, f.host)) {
					t.Errorf("nsrexec's portmapper over %s, IPv%s: %s did not work:\n%s\nexpectations:\n%s", s.transport, f.family, lk, out, expectations(n.rtr))
					break
				}
			}
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")

	eng = startRun(t, n.rtr, helpers(":range=40000-40010:ports=41000")...)
	for _, f := range families {
		for _, c := range []struct {
			port string
			up   bool
		}{{"40005", true}, {"41000", true}, {"45000", false}} {
			out := rshVia(t, n, f.family, f.host, "7937", c.port)
			if strings.Contains(out, "stderr connection: up") != c.up {
				t.Errorf("nsrexec with range=40000-40010:ports=41000 over IPv%s, stderr port %s: want through %v:\n%s", f.family, c.port, c.up, out)
			}
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")

	// Without gonfct run: neither half.
	if out := rshVia(t, n, "4", psrv4, "7937", "40005"); strings.Contains(out, "stderr connection: up") {
		t.Errorf("nsrexec's stderr connection got through without gonfct run:\n%s", out)
	}
	if out := rpcSession(t, n, psrv4, "7938", "udp", "getport:tcp"); strings.Contains(out, ": ok") {
		t.Errorf("nsrexec's portmapper lookup led through without gonfct run:\n%s", out)
	}
}

// rpcSessions are the lookups for one family.
func rpcSessions(family string) []rpcLookups {
	if family == "6" {
		return rpcSessions6
	}
	return rpcSessions4
}

// rsh's range= and ports= on a kernel: its default range is BSD's
// reserved ports, 512-1023; a stderr port outside it gets through only
// when range or ports names it.
func TestRunRSHPortOptions(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	for i, c := range []struct {
		opts string
		want map[string]bool // stderr port: through
	}{
		{"", map[string]bool{"1000": true, "40005": false}},
		{":range=40000-40010", map[string]bool{"40005": true, "1000": false}},
		{":ports=40005,41000", map[string]bool{"1000": true, "40005": true, "41000": true, "45000": false}},
	} {
		eng := startRun(t, n.rtr, "--helper", "rsh:inet:tcp:queue=45"+c.opts, "--helper", "rsh:inet6:tcp:queue=46"+c.opts)
		if i == 0 { // the helper exists now
			n.firewall(t, "\tct helper rsh-std { type \"rsh\" protocol tcp; l3proto inet; }\n",
				"\t\ttcp dport 514 ct helper set \"rsh-std\"\n", "\t\ttcp dport 514 ct state new accept\n")
		}
		for port, up := range c.want {
			for _, f := range []struct{ family, host string }{{"4", psrv4}, {"6", psrv6}} {
				out := rshVia(t, n, f.family, f.host, "514", port)
				if strings.Contains(out, "stderr connection: up") != up {
					t.Errorf("rsh%s over IPv%s, stderr port %s: want through %v:\n%s\nexpectations:\n%s", c.opts, f.family, port, up, out, expectations(n.rtr))
				}
			}
		}
		eng.stop(t)
		n.rtr.MustRun("conntrack", "-F")
	}
	if out := rshVia(t, n, "4", psrv4, "514", "1000"); strings.Contains(out, "stderr connection: up") {
		t.Errorf("rsh's stderr connection got through without gonfct run:\n%s", out)
	}
}
