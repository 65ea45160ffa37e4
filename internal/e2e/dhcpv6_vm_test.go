//go:build vmtest

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The dhcpv6 scenario of issue 6, with Debian's dnsmasq serving DHCPv6 and
// Debian's dhcpcd asking for an address, on one link (a veth pair between
// two namespaces). The client host has a firewall that drops new incoming
// UDP: the client solicits from [fe80::c]:546 to [ff02::1:2]:547 and the
// server answers from its own link-local address, which matches no
// conntrack, so the Advertise and the Reply get in only as RELATED, through
// the expectation the dhcpv6 helper (assigned on the client's output path,
// run by `gonfct run`) makes for the client's port 546.

// dhcpv6Firewall is the client host's ruleset: the helper on outgoing
// DHCPv6 client messages, and an input chain that lets in established and
// related traffic and drops (and counts) new UDP. ICMPv6 (neighbour
// discovery) passes.
const dhcpv6Firewall = `table inet gonfct_fw {
	ct helper dhcpv6-std { type "dhcpv6" protocol udp; l3proto ip6; }
	counter dropped { }
	chain out {
		type filter hook output priority 0;
		udp dport 547 ct helper set "dhcpv6-std"
	}
	chain in {
		type filter hook input priority 0;
		ct state established,related accept
		meta l4proto udp ct state new counter name "dropped" drop
	}
}
`

// dhcpv6Link is the client and the server on one link: d6c in cli, d6s in
// srv, the server with fd00:7a::1/64 (dnsmasq hands out addresses from the
// prefix of an address on its interface).
func dhcpv6Link(t *testing.T) (cli, srv *nstest.NS) {
	cli, srv = nstest.New(t), nstest.New(t)
	cli.MustRun("ip", "link", "add", "d6c", "type", "veth", "peer", "name", "d6s", "netns", srv.Name)
	cli.MustRun("ip", "link", "set", "d6c", "up")
	srv.MustRun("ip", "link", "set", "d6s", "up")
	srv.MustRun("ip", "-6", "addr", "add", "fd00:7a::1/64", "dev", "d6s", "nodad")
	// Both ends need their link-local address past duplicate address
	// detection: the client sends from it, the server answers from it.
	deadline := time.Now().Add(30 * time.Second)
	for _, e := range []struct {
		ns  *nstest.NS
		dev string
	}{{cli, "d6c"}, {srv, "d6s"}} {
		for {
			out, _ := e.ns.Run("ip", "-6", "addr", "show", "dev", e.dev, "scope", "link")
			if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no usable link-local address on %s:\n%s", e.dev, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return cli, srv
}

// dhcpv6Client runs dhcpcd once (-1) for DHCPv6 only on d6c, with no lease
// from an earlier run, giving up after secs seconds; it returns dhcpcd's
// output and the global addresses d6c has afterwards.
func dhcpv6Client(t *testing.T, cli *nstest.NS, secs int) (out, addrs string) {
	conf := filepath.Join(t.TempDir(), "dhcpcd.conf")
	if err := os.WriteFile(conf, []byte("ipv6only\nnoipv6rs\nia_na 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli.MustRun("ip", "-6", "addr", "flush", "dev", "d6c", "scope", "global")
	os.Remove("/var/lib/dhcpcd/d6c.lease6")
	// -B: stay in the foreground; -c /bin/true: no hook scripts.
	out, _ = cli.Run("timeout", "-s", "KILL", strconv.Itoa(secs+20), "dhcpcd", "-f", conf, "-c", "/bin/true",
		"-1", "-d", "-B", "-t", strconv.Itoa(secs), "d6c")
	addrs = cli.MustRun("ip", "-6", "addr", "show", "dev", "d6c", "scope", "global")
	return out, addrs
}

// atoi is strconv.Atoi, 0 for what is not a number.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// dhcpv6Dropped is the client firewall's count of new UDP packets dropped.
func dhcpv6Dropped(t *testing.T, cli *nstest.NS) int {
	out := cli.MustRun("nft", "list", "counter", "inet", "gonfct_fw", "dropped")
	f := strings.Fields(out[strings.Index(out, "packets"):])
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("counter: %v\n%s", err, out)
	}
	return n
}

// solicitTimeout is the seconds left on the client's conntrack towards
// [ff02::1:2]:547 (the master of the Solicits), from Debian's conntrack.
func solicitTimeout(t *testing.T, cli *nstest.NS) int {
	t.Helper()
	out := cli.MustRun("conntrack", "-L", "-f", "ipv6", "-p", "udp", "--orig-port-dst", "547", "-d", "ff02::1:2")
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "udp" {
			if n, err := strconv.Atoi(f[2]); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no conntrack to [ff02::1:2]:547:\n%s", out)
	return 0
}

func TestRunDHCPv6EndToEnd(t *testing.T) {
	ownHelpers(t)
	cli, srv := dhcpv6Link(t)
	dir := t.TempDir()
	eng := startRun(t, cli, "--helper", "dhcpv6:inet6:udp:queue=61")
	f := filepath.Join(dir, "fw.nft")
	if err := os.WriteFile(f, []byte(dhcpv6Firewall), 0o644); err != nil {
		t.Fatal(err)
	}
	cli.MustRun("nft", "-f", f)

	// No server yet: the Solicits' master conntrack, which never sees a
	// reply, keeps the 120 s the helper gives it after a Solicit rather
	// than UDP's 30 s.
	out, _ := dhcpv6Client(t, cli, 3)
	if n := solicitTimeout(t, cli); n <= 100 || n > 120 {
		t.Errorf("the Solicits' master conntrack times out in %d s, want about 120:\n%s\n%s", n, cli.MustRun("conntrack", "-L"), out)
	} else {
		t.Logf("after Solicits with gonfct run, their master conntrack times out in %d s", n)
	}
	cli.MustRun("conntrack", "-F", "expect")
	cli.MustRun("conntrack", "-F", "-f", "ipv6")

	daemon(t, srv, "dnsmasq", "-d", "-k", "--conf-file=/dev/null", "--port=0", "--log-dhcp",
		"--interface=d6s", "--bind-interfaces", "--dhcp-range=fd00:7a::100,fd00:7a::1ff,64,10m",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
	waitListen(t, srv, "u", "547", 1)

	// With the helper: dhcpcd gets an address from dnsmasq's range, the
	// answers crossing the firewall as RELATED. conntrack's events show the first Solicit's master as the kernel
	// confirmed it, with the timeout the helper's verdict set while it
	// was still unconfirmed.
	events := exec.Command("ip", "netns", "exec", cli.Name, "conntrack", "-E", "-e", "NEW", "-f", "ipv6", "-p", "udp", "--orig-port-dst", "547")
	var evOut bytes.Buffer
	events.Stdout, events.Stderr = &evOut, &evOut
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	out, addrs := dhcpv6Client(t, cli, 20)
	time.Sleep(300 * time.Millisecond)
	events.Process.Kill()
	events.Wait()
	if !strings.Contains(addrs, "inet6 fd00:7a::1") {
		t.Fatalf("no DHCPv6 address with gonfct run:\n%s\naddresses:\n%s\nexpectations:\n%s\nconntracks:\n%s",
			out, addrs, expectations(cli), cli.MustRun("conntrack", "-L"))
	}
	t.Logf("with gonfct run: %s", strings.TrimSpace(addrs))
	if e := expectations(cli); !strings.Contains(e, "dport=546") || !strings.Contains(e, "PERMANENT") {
		t.Errorf("no permanent expectation for port 546:\n%s", e)
	}
	if f := strings.Fields(evOut.String()); len(f) < 4 || f[0] != "[NEW]" || atoi(f[3]) <= 100 || atoi(f[3]) > 120 {
		t.Errorf("the first Solicit's master conntrack was confirmed without the helper's timeout (want about 120 s):\n%s", evOut.String())
	} else {
		t.Logf("the first Solicit's master conntrack, as confirmed: %s", strings.TrimSpace(strings.Split(evOut.String(), "\n")[0]))
	}
	if n := dhcpv6Dropped(t, cli); n != 0 {
		t.Errorf("the firewall dropped %d packets with gonfct run", n)
	}

	// The helper unassigned (engine running): the server answers, the
	// firewall drops the answers, no address; the Solicits' master keeps
	// UDP's own timeout.
	noHelper := func(what string) {
		t.Helper()
		cli.MustRun("conntrack", "-F", "expect")
		cli.MustRun("conntrack", "-F", "-f", "ipv6")
		before := dhcpv6Dropped(t, cli)
		out, addrs := dhcpv6Client(t, cli, 6)
		if strings.Contains(addrs, "inet6 fd00:7a::1") {
			t.Errorf("DHCPv6 address %s:\n%s\n%s", what, addrs, out)
		}
		dropped := dhcpv6Dropped(t, cli) - before
		if dropped == 0 {
			t.Errorf("%s: the firewall dropped nothing (did the server answer?):\n%s", what, out)
		}
		n := solicitTimeout(t, cli)
		if n > 30 {
			t.Errorf("%s: the Solicits' master conntrack times out in %d s, more than UDP's 30 s", what, n)
		}
		t.Logf("%s: the firewall dropped %d answers; the Solicits' master times out in %d s", what, dropped, n)
	}
	cli.MustRun("nft", "flush", "chain", "inet", "gonfct_fw", "out")
	noHelper("with the helper unassigned")

	// The helper assigned again, the engine stopped.
	cli.MustRun("nft", "add", "rule", "inet", "gonfct_fw", "out", "udp", "dport", "547", "ct", "helper", "set", `"dhcpv6-std"`)
	eng.stop(t)
	noHelper("without gonfct run")
}
