//go:build vmtest

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The pattern helper of issue 18 end to end: a helper written in the
// config file (no Go) for a text protocol whose peers announce ports in
// lines (testdata/announce.py: the server "OPEN udp|tcp ADDR PORT", the
// client "LISTEN tcp ADDR PORT"), behind a router whose firewall drops new
// connections but the control connection's (TCP 7777).

// The patterns of the game protocol; the server's announcements are read
// in the reply direction, the client's in the original one.
const gameRules = `
		Policy game { ExpectMax 4 ExpectTimeout 120 }
		Pattern "^OPEN udp (?P<addr>\S+) (?P<port>\d+)$" { Direction reply Expect udp }
		Pattern "^OPEN tcp (?P<addr>\S+) (?P<port>\d+)$" { Direction reply Expect tcp }
		Pattern "^LISTEN tcp (?P<addr>\S+) (?P<port>\d+)$" { Direction original }
`

// gameConf declares the game helper for both families on queues q and
// q+1.
func gameConf(t *testing.T, q int) string {
	conf := fmt.Sprintf("Helper {\n\tType game inet tcp {\n\t\tQueueNum %d%s\t}\n\tType game inet6 tcp {\n\t\tQueueNum %d%s\t}\n}\n", q, gameRules, q+1, gameRules)
	f := filepath.Join(t.TempDir(), "game.conf")
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// gameFirewall assigns the game helper to TCP 7777 on the router; nat is
// extra chains (NAT) or "".
func gameFirewall(t *testing.T, n *routedNet, nat string) {
	n.firewallNAT(t,
		"\tct helper game-tcp { type \"game\" protocol tcp; l3proto inet; }\n",
		"\t\ttcp dport 7777 ct helper set \"game-tcp\"\n",
		"\t\ttcp dport 7777 ct state new accept\n", nat)
}

// announcePeers starts the server of testdata/announce.py on srv (others:
// its third-party addresses) and returns the client's command line.
func announcePeers(t *testing.T, srv *nstest.NS, others ...string) []string {
	py, err := filepath.Abs("testdata/announce.py")
	if err != nil {
		t.Fatal(err)
	}
	daemon(t, srv, "/usr/bin/python3", py, "server", "7777", strings.Join(others, ","))
	waitListen(t, srv, "t", "7777", 1)
	return []string{"timeout", "-s", "KILL", "60", "/usr/bin/python3", py, "client"}
}

// session runs the client's steps on one control connection to host and
// returns its output lines.
func session(t *testing.T, cli *nstest.NS, client []string, host string, steps ...string) []string {
	args := append(append(append([]string{}, client[1:]...), host, "7777"), steps...)
	out, err := cli.Run(client[0], args...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != len(steps) {
		t.Fatalf("client %q to %s: %v\n%s", steps, host, err, out)
	}
	return lines
}

// expectLine checks one output line of the client against a pattern.
func expectLine(t *testing.T, what, line, pattern string, n *routedNet) {
	t.Helper()
	if !regexp.MustCompile("^" + pattern + "$").MatchString(line) {
		t.Errorf("%s:\n got %q\nwant %q\nexpectations:\n%s", what, line, pattern, expectations(n.rtr))
	}
}

func TestPatternEndToEnd(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	// A second address of the server: announcing it is announcing a third
	// party's, as far as the control connection goes.
	const other4, other6 = "10.79.2.3", "fd00:79:2::3"
	n.srv.MustRun("ip", "addr", "add", other4+"/24", "dev", "sr")
	// Deprecated, so that the server's own connections keep its first
	// address as their source.
	n.srv.MustRun("ip", "-6", "addr", "add", other6+"/64", "dev", "sr", "nodad", "preferred_lft", "0")
	client := announcePeers(t, n.srv, other4, other6)
	conf := gameConf(t, 61)
	// --check: the helper from the file, and this kernel, are ready.
	var out, errw bytes.Buffer
	if code := run([]string{"--netns", n.rtr.Name, "run", "--check", "--config", conf}, nil, &out, &errw); code != 0 ||
		!strings.Contains(out.String(), "helper game inet6 tcp: no kernel helper of that name") || strings.Contains(out.String(), "MISSING") {
		t.Fatalf("--check exit %d:\n%s%s", code, out.String(), errw.String())
	}
	eng := startRun(t, n.rtr, "--config", conf)
	gameFirewall(t, n, "")

	for _, f := range []struct{ cli, srv, other string }{{pcli4, psrv4, other4}, {pcli6, psrv6, other6}} {
		srv, cli := regexp.QuoteMeta(f.srv), regexp.QuoteMeta(f.cli)
		got := session(t, n.cli, client, f.srv, "want:udp", "want:tcp", "listen", "echo:still-there", "want:udp:other")
		expectLine(t, "UDP port the server announced", got[0], "want udp open "+srv+` \d+ data ok server GOT udp `+cli, n)
		expectLine(t, "TCP port the server announced", got[1], "want tcp open "+srv+` \d+ data ok server GOT tcp `+cli, n)
		expectLine(t, "TCP port the client announced", got[2], "listen sent "+cli+` (\d+) server-saw `+cli+` \d+ dialed ok accepted `+srv, n)
		expectLine(t, "the control connection after them", got[3], "echo still-there ok", n)
		// The third party: no expectation, so the datagram is dropped.
		expectLine(t, "UDP port at a third party's address", got[4], "want udp open "+regexp.QuoteMeta(f.other)+` \d+ data fail server NONE udp`, n)
		if port := strings.Fields(got[4])[3]; strings.Contains(expectations(n.rtr), "dport="+port+" ") {
			t.Errorf("an expectation for the third party's port %s:\n%s", port, expectations(n.rtr))
		}
	}

	// Without the engine the same flows stay out; the control connection
	// itself still passes.
	eng.stop(t)
	for _, f := range []struct{ cli, srv string }{{pcli4, psrv4}, {pcli6, psrv6}} {
		got := session(t, n.cli, client, f.srv, "want:udp", "want:tcp", "listen", "echo:still-there")
		expectLine(t, "UDP without gonfct run", got[0], `want udp open \S+ \d+ data fail server NONE udp`, n)
		expectLine(t, "TCP without gonfct run", got[1], `want tcp open \S+ \d+ data fail server NONE tcp`, n)
		expectLine(t, "LISTEN without gonfct run", got[2], `listen sent \S+ \d+ server-saw \S+ \d+ dialed fail accepted none`, n)
		expectLine(t, "control connection without gonfct run", got[3], "echo still-there ok", n)
	}
}

// The client is masqueraded behind the router, to an address longer than
// its own (10.9.0.2 to 203.0.113.55, fd09::2 to 2001:db8:ffff::55): the
// engine rewrites the address in its LISTEN line, the kernel adjusts the
// TCP sequence numbers for the longer line, and the server's connection to
// the router's address is translated back to the client. The helper comes
// from --helper flags this time.
func TestPatternThroughSNAT(t *testing.T) {
	ownHelpers(t)
	a := routedAddrs{"10.9.0.2", "10.9.0.1", "203.0.113.55", "203.0.113.77", "fd09::2", "fd09::1", "2001:db8:ffff::55", "2001:db8:ffff::77"}
	n := newRoutedNetAt(t, a)
	client := announcePeers(t, n.srv)
	const listen = `:direction=original:pattern=^LISTEN tcp (?P<addr>\S+) (?P<port>\d+)$`
	eng := startRun(t, n.rtr, "--helper", "game:inet:tcp:queue=63"+listen, "--helper", "game:inet6:tcp:queue=64"+listen)
	gameFirewall(t, n, masquerade)

	for _, f := range []struct{ cli, public, srv string }{{a.cli4, a.rtr4s, a.srv4}, {a.cli6, a.rtr6s, a.srv6}} {
		cli, public, srv := regexp.QuoteMeta(f.cli), regexp.QuoteMeta(f.public), regexp.QuoteMeta(f.srv)
		got := session(t, n.cli, client, f.srv, "listen", "echo:one", "listen", "echo:two")
		for i, what := range []string{"first LISTEN", "second LISTEN"} {
			// The server read the router's address where the client wrote
			// its own, and its connection there reached the client.
			expectLine(t, what+" through SNAT", got[2*i], "listen sent "+cli+` (\d+) server-saw `+public+` \d+ dialed ok accepted `+srv, n)
		}
		expectLine(t, "the control connection after one longer line", got[1], "echo one ok", n)
		expectLine(t, "the control connection after two longer lines", got[3], "echo two ok", n)
	}
	// The masquerade really applied: the server saw the router's address.
	ct := n.rtr.MustRun("conntrack", "-L", "-p", "tcp", "--dport", "7777")
	ct6 := n.rtr.MustRun("conntrack", "-L", "-f", "ipv6", "-p", "tcp", "--dport", "7777")
	if !strings.Contains(ct, "dst="+a.rtr4s) || !strings.Contains(ct6, "dst="+a.rtr6s) {
		t.Errorf("the control connections were not masqueraded:\n%s%s", ct, ct6)
	}

	eng.stop(t)
	got := session(t, n.cli, client, a.srv4, "listen")
	expectLine(t, "LISTEN through SNAT without gonfct run", got[0], `listen sent \S+ \d+ server-saw \S+ \d+ dialed fail accepted none`, n)
}

// The server is behind destination NAT: the client dials the router's
// public address (203.0.113.55, 2001:db8:ffff::55), the server announces
// its own, shorter one (10.9.0.2, fd09::2), the engine rewrites it to the
// public address and the client's connections there are translated to
// the server.
func TestPatternThroughDNAT(t *testing.T) {
	ownHelpers(t)
	a := routedAddrs{"203.0.113.20", "203.0.113.55", "10.9.0.1", "10.9.0.2", "2001:db8:ffff::20", "2001:db8:ffff::55", "fd09::1", "fd09::2"}
	n := newRoutedNetAt(t, a)
	client := announcePeers(t, n.srv)
	eng := startRun(t, n.rtr, "--config", gameConf(t, 65))
	dnat := "\tchain prenat {\n\t\ttype nat hook prerouting priority dstnat;\n" +
		"\t\tip daddr " + a.rtr4c + " tcp dport 7777 dnat ip to " + a.srv4 + "\n" +
		"\t\tip6 daddr " + a.rtr6c + " tcp dport 7777 dnat ip6 to " + a.srv6 + "\n\t}\n"
	gameFirewall(t, n, dnat)

	for _, f := range []struct{ cli, public, srv string }{{a.cli4, a.rtr4c, a.srv4}, {a.cli6, a.rtr6c, a.srv6}} {
		cli, public := regexp.QuoteMeta(f.cli), regexp.QuoteMeta(f.public)
		got := session(t, n.cli, client, f.public, "want:udp", "echo:one", "want:tcp", "echo:two", "want:udp")
		// The client read the public address where the server wrote its
		// own, and its datagram and connection there reached the server.
		for _, i := range []int{0, 4} {
			expectLine(t, "UDP port through DNAT", got[i], "want udp open "+public+` \d+ data ok server GOT udp `+cli, n)
		}
		expectLine(t, "TCP port through DNAT", got[2], "want tcp open "+public+` \d+ data ok server GOT tcp `+cli, n)
		expectLine(t, "the control connection after one longer line", got[1], "echo one ok", n)
		expectLine(t, "the control connection after two longer lines", got[3], "echo two ok", n)
		// The server is not at the public address: it is the master's
		// translated destination.
		fam := "ipv4"
		if strings.Contains(f.srv, ":") {
			fam = "ipv6"
		}
		if ct := n.rtr.MustRun("conntrack", "-L", "-f", fam, "-p", "tcp", "--dport", "7777"); !strings.Contains(ct, "src="+f.srv+" ") {
			t.Errorf("the control connection was not translated to %s:\n%s", f.srv, ct)
		}
	}

	eng.stop(t)
	got := session(t, n.cli, client, a.rtr4c, "want:udp")
	expectLine(t, "UDP through DNAT without gonfct run", got[0], `want udp open \S+ \d+ data fail server NONE udp`, n)
}
