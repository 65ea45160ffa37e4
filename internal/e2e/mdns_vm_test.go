//go:build vmtest

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The mdns scenario of issue 6, end to end with Debian's peers on one
// link: avahi-daemon answers one-shot ("legacy unicast") queries for its
// host name, and the querier's own host is the firewall. Its queries go to
// the group (224.0.0.251, ff02::fb) port 5353; avahi answers by unicast
// from its own address to the querier's port, which is not a reply of the
// query's conntrack, so the input chain, dropping new UDP, lets the answer
// in only as RELATED through the expectation the mdns helper (assigned on
// the OUTPUT path, run by `gonfct run`) made.
//
// The querier is drill (ldnsutils). Debian's dig (BIND 9.18) connects its
// UDP socket to 224.0.0.251, so the kernel never hands it an answer from
// the responder's address: dig times out on any one-shot mDNS query,
// firewall or not. Its query still makes the expectation, and the answer
// still crosses the firewall, which the test checks in the conntrack
// table. drill also sends to ff02::fb, which dig cannot.

const (
	mdnsQuerier4, mdnsResponder4 = "10.79.5.1", "10.79.5.2"
	mdnsQuerier6, mdnsResponder6 = "fd00:79:5::1", "fd00:79:5::2"
	mdnsName                     = "gonfct-printer.local"
)

// avahi-daemon's own configuration: the host name to publish, the one
// link, no D-Bus (nothing else of it is needed).
const avahiConf = `[server]
host-name=gonfct-printer
domain-name=local
allow-interfaces=r0
enable-dbus=no
[wide-area]
enable-wide-area=no
[publish]
publish-workstation=no
publish-hinfo=no
`

// querierFirewall is the firewall of a host that queries a multicast
// group and takes unicast answers (mdns, slp): the helper object, a rule
// that assigns it to queries to the groups on port (assign, empty for
// none), and an input chain that drops new UDP.
func querierFirewall(helper, group4, group6, port string, assign bool) string {
	rs := "table inet gonfct_fw {\n\tct helper " + helper + "-std { type \"" + helper + "\" protocol udp; l3proto inet; }\n" +
		"\tchain out {\n\t\ttype filter hook output priority 0;\n"
	if assign {
		rs += "\t\tip daddr " + group4 + " udp dport " + port + " ct helper set \"" + helper + "-std\"\n" +
			"\t\tip6 daddr " + group6 + " udp dport " + port + " ct helper set \"" + helper + "-std\"\n"
	}
	return rs + "\t}\n\tchain in {\n\t\ttype filter hook input priority 0;\n" +
		"\t\tct state established,related accept\n\t\tmeta l4proto udp ct state new drop\n\t}\n}\n"
}

func TestRunMDNSEndToEnd(t *testing.T) {
	ownHelpers(t)
	start := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(start).Round(time.Millisecond), what) }
	q, r := nstest.New(t), nstest.New(t)
	q.MustRun("ip", "link", "add", "q0", "type", "veth", "peer", "name", "r0", "netns", r.Name)
	for _, c := range [][]string{
		{"addr", "add", mdnsQuerier4 + "/24", "dev", "q0"}, {"-6", "addr", "add", mdnsQuerier6 + "/64", "dev", "q0", "nodad"},
		{"link", "set", "q0", "up"}, {"route", "add", "224.0.0.0/4", "dev", "q0"},
	} {
		q.MustRun("ip", c...)
	}
	for _, c := range [][]string{
		{"addr", "add", mdnsResponder4 + "/24", "dev", "r0"}, {"-6", "addr", "add", mdnsResponder6 + "/64", "dev", "r0", "nodad"},
		{"link", "set", "r0", "up"},
	} {
		r.MustRun("ip", c...)
	}
	conf := filepath.Join(t.TempDir(), "avahi-daemon.conf")
	if err := os.WriteFile(conf, []byte(avahiConf), 0o644); err != nil {
		t.Fatal(err)
	}
	// avahi-daemon keeps its pid file and socket in /run/avahi-daemon: a
	// private /run for it.
	daemon(t, r, "unshare", "-m", "sh", "-c",
		"mount -t tmpfs none /run && exec avahi-daemon -f "+conf+" --no-drop-root --no-chroot --no-rlimits --debug")

	type probe struct {
		name, family, group, rrtype, want string
	}
	probes := []probe{
		{"IPv4 (224.0.0.251)", "-4", "224.0.0.251", "A", "IN\tA\t" + mdnsResponder4},
		{"IPv6 (ff02::fb)", "-6", "ff02::fb", "AAAA", "IN\tAAAA\t" + mdnsResponder6},
	}
	query := func(p probe, secs string) (string, bool) {
		out, err := q.Run("timeout", "-s", "KILL", secs, "drill", p.family, "-p", "5353", "@"+p.group, mdnsName, p.rrtype)
		return out, err == nil && strings.Contains(out, p.want)
	}
	flush := func() { q.Run("conntrack", "-F", "expect"); q.Run("conntrack", "-F") }

	// No firewall: the peers answer each other (avahi probes and announces
	// its name first; TCG is slow).
	for _, p := range probes {
		deadline := time.Now().Add(90 * time.Second)
		for {
			out, ok := query(p, "8")
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("drill %s without a firewall: no answer from avahi-daemon:\n%s", p.name, out)
			}
			time.Sleep(time.Second)
		}
	}

	phase("avahi-daemon answers drill over IPv4 and IPv6, no firewall")

	eng := startRun(t, q, "--helper", "mdns:inet:udp:queue=61", "--helper", "mdns:inet6:udp:queue=62")
	ruleset := filepath.Join(t.TempDir(), "fw.nft")
	load := func(assign bool) {
		q.Run("nft", "delete", "table", "inet", "gonfct_fw")
		if err := os.WriteFile(ruleset, []byte(querierFirewall("mdns", "224.0.0.251", "ff02::fb", "5353", assign)), 0o644); err != nil {
			t.Fatal(err)
		}
		q.MustRun("nft", "-f", ruleset)
		flush()
	}

	// The firewall without the helper assigned: the answers are dropped.
	load(false)
	for _, p := range probes {
		if out, ok := query(p, "8"); ok {
			t.Errorf("drill %s answered through the firewall without the helper assigned:\n%s", p.name, out)
		}
	}

	phase("no answer through the firewall without the helper assigned")

	// The helper assigned: the answers come in as RELATED.
	load(true)
	for _, p := range probes {
		if out, ok := query(p, "20"); !ok {
			t.Errorf("drill %s through the firewall with gonfct run: no answer\n%s\nexpectations:\n%s\nconntracks:\n%s",
				p.name, out, expectations(q), q.MustRun("conntrack", "-L"))
		}
	}
	// An expectation per query, PERMANENT (several responders may
	// answer), from port 5353 to the querier (over IPv6 from its
	// link-local address, the source for ff02::fb).
	e4, _ := q.Run("conntrack", "-L", "expect")
	e6, _ := q.Run("conntrack", "-L", "expect", "-f", "ipv6")
	if !strings.Contains(e4, "sport=5353") || !strings.Contains(e4, "PERMANENT") || !strings.Contains(e4, "dst="+mdnsQuerier4) {
		t.Errorf("no permanent IPv4 expectation from port 5353:\n%s", e4)
	}
	if !strings.Contains(e6, "sport=5353") || !strings.Contains(e6, "PERMANENT") {
		t.Errorf("no permanent IPv6 expectation from port 5353:\n%s", e6)
	}

	phase("answers through the firewall with gonfct run")

	// dig's query from a fixed port makes its expectation too, and avahi's
	// answer crosses the firewall (its conntrack is confirmed only if the
	// input chain accepted it), though dig, connected to the group, does
	// not take it.
	flush()
	q.Run("timeout", "-s", "KILL", "10", "dig", "+tries=1", "+time=2", "-b", mdnsQuerier4+"#40053", "-p", "5353", "@224.0.0.251", mdnsName, "A")
	if e := expectations(q); !strings.Contains(e, "dport=40053") {
		t.Errorf("no expectation for dig's query from port 40053:\n%s", e)
	}
	if ct, _ := q.Run("conntrack", "-L", "-p", "udp", "--orig-src", mdnsResponder4, "--orig-port-src", "5353", "--orig-port-dst", "40053"); !strings.Contains(ct, "dport=40053") {
		t.Errorf("avahi's answer to dig did not cross the firewall:\n%s", ct)
	}

	phase("dig's query made an expectation, avahi's answer crossed the firewall")

	// The engine stopped: nothing answers the helper's queue, no answer
	// comes in.
	eng.stop(t)
	flush()
	for _, p := range probes {
		if out, ok := query(p, "8"); ok {
			t.Errorf("drill %s answered through the firewall without gonfct run:\n%s", p.name, out)
		}
	}
	phase("no answer with gonfct run stopped")
	// And the firewall was what stopped them: without it avahi answers.
	q.MustRun("nft", "delete", "table", "inet", "gonfct_fw")
	for _, p := range probes {
		if out, ok := query(p, "20"); !ok {
			t.Errorf("drill %s without the firewall after the test: no answer\n%s", p.name, out)
		}
	}
	phase("answers again without the firewall")
}
