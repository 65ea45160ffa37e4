//go:build vmtest

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Oracle TNS through the routed firewall, with tnspeer.py (no TNS peer is
// packaged in Debian): the listener on port 1521 redirects the client to
// its dispatchers on ports 40521 (address inline in the REDIRECT) and
// 40522 (address in the DATA packet after an empty REDIRECT); the firewall
// lets in new connections to 1521 only, so the dispatcher connections
// cross it only as RELATED, through the expectations of the tns helper
// `gonfct run` serves. After each redirect the client goes on talking on
// the listener connection.

const tnsObjects = "\tct helper tns-std { type \"tns\" protocol tcp; l3proto inet; }\n"
const tnsAssign = "\t\ttcp dport 1521 ct helper set \"tns-std\"\n"
const tnsAllow = "\t\ttcp dport 1521 ct state new accept\n"

// tnsPeer is the path of tnspeer.py.
func tnsPeer(t *testing.T) string {
	p, err := filepath.Abs("../../pkg/cthelper/tns/testdata/tnspeer.py")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tnsClient runs tnspeer.py's client against host from the client
// namespace.
func tnsClient(t *testing.T, n *routedNet, host string) string {
	out, _ := n.cli.Run("timeout", "-s", "KILL", "60", "/usr/bin/python3", tnsPeer(t), "client", host, "5")
	return out
}

// tnsOK are the client's lines when both redirects were followed, with
// the redirects naming host.
func tnsOK(host string) []string {
	return []string{
		"redirect 1 (inline): HOST=" + host + " PORT=40521", "dispatcher 1: ok", "listener after redirect 1: 5 exchanges ok",
		"redirect 2 (in DATA): HOST=" + host + " PORT=40522", "dispatcher 2: ok", "listener after redirect 2: 5 exchanges ok",
	}
}

// The server's own addresses (IPv4 and IPv6), and loose: a listener that
// redirects to another host (a third party, here another address of the
// server's namespace) gets that connection through only with loose=yes.
func TestRunTNSEndToEnd(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	const dial4, third4, dial6, third6 = "10.79.2.3", "10.79.2.4", "fd00:79:2::3", "fd00:79:2::4"
	for _, a := range []string{dial4 + "/24", third4 + "/24"} {
		n.srv.MustRun("ip", "addr", "add", a, "dev", "sr")
	}
	for _, a := range []string{dial6 + "/64", third6 + "/64"} {
		n.srv.MustRun("ip", "-6", "addr", "add", a, "dev", "sr", "nodad")
	}
	// A connection the firewall drops fails in seconds, not minutes.
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	daemon(t, n.srv, "/usr/bin/python3", tnsPeer(t), "server", dial4+"="+third4, dial6+"="+third6)
	waitListen(t, n.srv, "t", "1521", 1)

	eng := startRun(t, n.rtr, "--helper", "tns:inet:tcp:queue=81", "--helper", "tns:inet6:tcp:queue=82")
	n.firewall(t, tnsObjects, tnsAssign, tnsAllow)
	for _, host := range []string{psrv4, psrv6} {
		out := tnsClient(t, n, host)
		if !requireLines(t, "tns to "+host+" with gonfct run", out, tnsOK(host)...) {
			t.Logf("expectations:\n%s", expectations(n.rtr))
		}
	}
	// A redirect to a third party: refused, the listener connection goes
	// on.
	for _, c := range [][2]string{{dial4, third4}, {dial6, third6}} {
		out := tnsClient(t, n, c[0])
		requireLines(t, "tns redirected to a third party, strict", out, "redirect 1 (inline): HOST="+c[1], "dispatcher 1: failed",
			"listener after redirect 1: 5 exchanges ok", "dispatcher 2: failed", "listener after redirect 2: 5 exchanges ok")
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")

	eng = startRun(t, n.rtr, "--helper", "tns:inet:tcp:queue=81:loose=yes", "--helper", "tns:inet6:tcp:queue=82:loose=yes")
	for _, c := range [][2]string{{dial4, third4}, {dial6, third6}} {
		out := tnsClient(t, n, c[0])
		if !requireLines(t, "tns redirected to a third party, loose=yes", out, tnsOK(c[1])...) {
			t.Logf("expectations:\n%s", expectations(n.rtr))
		}
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")

	// Without gonfct run, the dispatchers cannot be reached.
	for _, host := range []string{psrv4, psrv6} {
		if out := tnsClient(t, n, host); !strings.Contains(out, "dispatcher 1: failed") || !strings.Contains(out, "dispatcher 2: failed") {
			t.Errorf("tns to %s reached a dispatcher without gonfct run:\n%s", host, out)
		}
	}
}

// The listener behind destination NAT: the client dials the router's
// address, the listener names its own (of another length), and the
// helper rewrites the redirects to the dialled address. The client then
// reaches the dispatchers at the router's address through the
// expectations' NAT, and the listener connection, shifted by the rewrite,
// goes on.
func TestRunTNSThroughDNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	daemon(t, n.srv, "/usr/bin/python3", tnsPeer(t), "server")
	waitListen(t, n.srv, "t", "1521", 1)
	eng := startRun(t, n.rtr, "--helper", "tns:inet:tcp:queue=83", "--helper", "tns:inet6:tcp:queue=84")
	n.firewallNAT(t, tnsObjects, tnsAssign, tnsAllow, dnatChain(a, "tcp dport 1521"))
	for _, c := range [][3]string{{a.rtr4c, a.srv4, a.cli4}, {a.rtr6c, a.srv6, a.cli6}} {
		start := time.Now()
		out := tnsClient(t, n, c[0])
		if !requireLines(t, "tns to "+c[0]+" through DNAT with gonfct run", out, tnsOK(c[0])...) {
			t.Logf("expectations:\n%s", expectations(n.rtr))
			continue
		}
		// The server saw the connections at its own address: the
		// dispatcher connections to the router's address were translated.
		for _, port := range []string{"40521", "40522"} {
			if ok, ct := conntrackMatch(n.rtr, ctTuple(c[2], c[0], port)+ctTuple(c[1], c[2], "")+".*ASSURED"); !ok {
				t.Errorf("no dispatcher connection to %s port %s translated to %s:\n%s", c[0], port, c[1], ct)
			}
		}
		t.Logf("tns to %s through DNAT: ok in %v", c[0], time.Since(start).Round(time.Millisecond))
	}
	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	for _, host := range []string{a.rtr4c, a.rtr6c} {
		out := tnsClient(t, n, host)
		if strings.Contains(out, "dispatcher 1: ok") || strings.Contains(out, "dispatcher 2: ok") || strings.Contains(out, "HOST="+host+" ") {
			t.Errorf("tns to %s through DNAT without gonfct run: a redirect rewritten or a dispatcher reached:\n%s", host, out)
		}
	}
}
