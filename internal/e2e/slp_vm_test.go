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

// SLP on a kernel with slppeer.py (no SLP agent is packaged in Debian):
// a user agent asks a service agent on its link for service:printer
// (SrvRqst) and then for the attributes of the URL it got (AttrRqst), by
// multicast (239.255.255.253; over IPv6 the link-local group of the
// service type) and by unicast. The user agent's host is the firewall:
// its input chain drops new UDP, so the agent's unicast answers to a
// multicast request, which are not replies of the request's conntrack,
// come in only as RELATED, through the expectation the slp helper
// (assigned on the output path, run by `gonfct run`) made. The answers
// to unicast requests are replies and need no helper.

const slpUA4, slpSA4, slpUA6, slpSA6 = "10.79.6.1", "10.79.6.2", "fd00:79:6::1", "fd00:79:6::2"

func TestRunSLPEndToEnd(t *testing.T) {
	ownHelpers(t)
	ua, sa := nstest.New(t), nstest.New(t)
	for _, ns := range []*nstest.NS{ua, sa} {
		ns.MustRun("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	ua.MustRun("ip", "link", "add", "u0", "type", "veth", "peer", "name", "s0", "netns", sa.Name)
	for _, c := range [][]string{
		{"addr", "add", slpUA4 + "/24", "dev", "u0"}, {"-6", "addr", "add", slpUA6 + "/64", "dev", "u0", "nodad"}, {"link", "set", "u0", "up"},
	} {
		ua.MustRun("ip", c...)
	}
	for _, c := range [][]string{
		{"addr", "add", slpSA4 + "/24", "dev", "s0"}, {"-6", "addr", "add", slpSA6 + "/64", "dev", "s0", "nodad"}, {"link", "set", "s0", "up"},
	} {
		sa.MustRun("ip", c...)
	}
	peer, err := filepath.Abs("../../pkg/cthelper/slp/testdata/slppeer.py")
	if err != nil {
		t.Fatal(err)
	}
	daemon(t, sa, "/usr/bin/python3", peer, "sa", "s0", slpSA4, slpSA6)
	waitListen(t, sa, "u", "427", 2)

	type probe struct {
		name      string
		args      []string
		multicast bool
		url, from string
	}
	probes := []probe{
		{"IPv4 multicast", []string{"multicast", "4", "u0"}, true, "service:printer:lpr://" + slpSA4 + "/queue", slpSA4},
		{"IPv6 multicast", []string{"multicast", "6", "u0"}, true, "service:printer:lpr://[" + slpSA6 + "]/queue", "fe80::"},
		{"IPv4 unicast", []string{"unicast", slpSA4}, false, "service:printer:lpr://" + slpSA4 + "/queue", slpSA4},
		{"IPv6 unicast", []string{"unicast", slpSA6}, false, "service:printer:lpr://[" + slpSA6 + "]/queue", slpSA6},
	}
	ask := func(p probe) (string, bool) {
		out, _ := ua.Run("timeout", append([]string{"-s", "KILL", "30", "/usr/bin/python3", peer, "ua"}, p.args...)...)
		return out, strings.Contains(out, "SrvRply from "+p.from) && strings.Contains(out, p.url) &&
			strings.Contains(out, "AttrRply from "+p.from) && strings.Contains(out, "(printer-name=gonfct)")
	}
	ruleset := filepath.Join(t.TempDir(), "fw.nft")
	load := func(assign bool) {
		ua.Run("nft", "delete", "table", "inet", "gonfct_fw")
		if err := os.WriteFile(ruleset, []byte(querierFirewall("slp", "239.255.255.253", "ff02::/16", "427", assign)), 0o644); err != nil {
			t.Fatal(err)
		}
		ua.MustRun("nft", "-f", ruleset)
		ua.Run("conntrack", "-F", "expect")
		ua.Run("conntrack", "-F")
	}

	// No firewall: the agents answer (link-local addresses settle first).
	for _, p := range probes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, ok := ask(p)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s without a firewall: no answers:\n%s", p.name, out)
			}
			time.Sleep(time.Second)
		}
	}

	eng := startRun(t, ua, "--helper", "slp:inet:udp:queue=63", "--helper", "slp:inet6:udp:queue=64")
	load(false)
	for _, p := range probes {
		if out, ok := ask(p); ok == p.multicast {
			t.Errorf("%s through the firewall without the helper assigned: answered %v, want %v:\n%s", p.name, ok, !p.multicast, out)
		}
	}
	load(true)
	for _, p := range probes {
		out, ok := ask(p)
		// A multicast request's expectation, PERMANENT, from port 427 to
		// the user agent (over IPv6 its link-local address), seen at once:
		// it lives 16 s.
		e := expectations(ua)
		if !ok {
			t.Errorf("%s through the firewall with gonfct run: no answers\n%s\nexpectations:\n%s", p.name, out, e)
		}
		dst := "dst=" + slpUA4 + " "
		if strings.Contains(p.name, "IPv6") {
			dst = "dst=fe80::"
		}
		if p.multicast && !hasExpect(e, "proto=17 ", "sport=427 ", dst, "PERMANENT") {
			t.Errorf("%s: no permanent expectation from port 427 to the user agent:\n%s", p.name, e)
		}
	}
	eng.stop(t)
	ua.Run("conntrack", "-F", "expect")
	ua.Run("conntrack", "-F")
	for _, p := range probes[:2] {
		if out, ok := ask(p); ok {
			t.Errorf("%s through the firewall without gonfct run: answered\n%s", p.name, out)
		}
	}
}
