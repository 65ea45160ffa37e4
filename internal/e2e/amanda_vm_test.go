//go:build vmtest

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The amanda scenario of issue 6: a real amdump by Debian's amanda-server
// of a directory on a host running Debian's amanda-client (amandad behind
// openbsd-inetd on UDP 10080), to a vtape, through the routed firewall.
// The backup server dials, so it sits on routedNet's client side (cli)
// and amandad on its server side (srv). The firewall lets in new UDP to
// 10080 only; the TCP connections the server opens to the ports amandad's
// CONNECT line names cross it only as RELATED, through `gonfct run`.
// pkg/cthelper/amanda/testdata/amanda.sh keeps Amanda's configuration and
// state in a directory of the test's and out of the system's paths.
//
// Proved: with auth bsd the dump needs all four connections amandad names
// (DATA, MESG, INDEX, STATE), with bsdudp the one DATA connection; each
// crosses the firewall through its own expectation; every reply of
// amandad's sets its master's timeout to 300 s (seen while the client's
// estimate holds its REP back); with the helper no longer assigned the
// same dump fails at the DATA connection.

// amandaSetup writes an Amanda configuration for auth (bsd: one TCP port
// per stream; bsdudp: one port, the streams multiplexed over it) with the
// client delaying its estimate by delay seconds, and starts amandad.
func amandaSetup(t *testing.T, n *routedNet, auth string, delay int) (script, dir string) {
	return amandaSetupAt(t, n, auth, delay, pcli4, psrv4)
}

// amandaSetupAt is amandaSetup with the addresses the client knows the
// server by (the one its requests come from) and the server the client.
func amandaSetupAt(t *testing.T, n *routedNet, auth string, delay int, server, client string) (script, dir string) {
	script, err := filepath.Abs("../../pkg/cthelper/amanda/testdata/amanda.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "amanda")
	if out, err := exec.Command(script, "config", dir, auth, strconv.Itoa(delay), "amserver", server, "amclient", client).CombinedOutput(); err != nil {
		t.Fatalf("amanda.sh config: %v\n%s", err, out)
	}
	daemon(t, n.srv, script, "client", dir)
	// inetd and amandad start slowly under TCG on a busy host.
	waitListenFor(t, n.srv, "u", "10080", 1, 120*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("sh", "-c", "tail -n 40 "+dir+"/log/amandad/*.debug "+dir+"/log/client/gonfct/*.debug "+dir+"/log/server/gonfct/dumper.*.debug 2>&1").CombinedOutput()
			t.Logf("amanda debug logs:\n%s", out)
		}
	})
	return script, dir
}

// amdump runs a dump from the backup server and reports amdump's log and
// the size of the dump image on the vtape (0 if there is none).
func amdump(t *testing.T, n *routedNet, script, dir string) (string, int64) {
	out, _ := n.cli.Run("timeout", "-s", "KILL", "600", script, "dump", dir)
	images, _ := filepath.Glob(filepath.Join(dir, "lib", "vtapes", "slot*", "00001.amclient.*"))
	var size int64
	for _, f := range images {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	return out, size
}

// eventWatch records the router's conntrack events (Debian's
// conntrack -E with args) until the returned function is called.
func eventWatch(t *testing.T, ns *nstest.NS, args ...string) func() string {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, "conntrack", "-E"}, args...)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // subscribed before the first event
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			time.Sleep(time.Second) // the last events
			cmd.Process.Kill()
			cmd.Wait()
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// masterTimeout polls the router's amanda masters (UDP to 10080) until
// the returned function is called, which reports the longest timeout left
// seen on one of them, in seconds.
func masterTimeout(ns *nstest.NS) func() int {
	done, result := make(chan struct{}), make(chan int)
	go func() {
		max := 0
		for {
			out, _ := ns.Run("conntrack", "-L", "-p", "udp", "--dport", "10080")
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) > 3 && f[0] == "udp" {
					if v, err := strconv.Atoi(f[2]); err == nil && v > max {
						max = v
					}
				}
			}
			select {
			case <-done:
				result <- max
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() int { close(done); return <-result }
}

var newTCPExpect = regexp.MustCompile(`\[NEW\] \d+ proto=6 src=(\S+) dst=(\S+) sport=\d+ dport=(\d+) .*master-src=(\S+) master-dst=(\S+) sport=\d+ dport=10080`)

// newExpectPorts are the destination ports of the new TCP expectations
// from the server to the client whose master is the amanda UDP flow.
func newExpectPorts(events string) []string {
	var ports []string
	for _, m := range newTCPExpect.FindAllStringSubmatch(events, -1) {
		if m[1] == pcli4 && m[2] == psrv4 && m[4] == pcli4 && m[5] == psrv4 {
			ports = append(ports, m[3])
		}
	}
	return ports
}

func TestRunAmandaEndToEnd(t *testing.T) {
	ownHelpers(t)
	start := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(start).Round(time.Millisecond), what) }
	n := newRoutedNet(t)
	// A connection the firewall drops fails in seconds, not minutes.
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=2")
	eng := startRun(t, n.rtr, "--helper", "amanda:inet:udp:queue=61")
	const objects = "\tct helper amanda-std { type \"amanda\" protocol udp; l3proto inet; }\n"
	const allow = "\t\tudp dport 10080 ct state new accept\n"
	n.firewall(t, objects, "\t\tudp dport 10080 ct helper set \"amanda-std\"\n", allow)
	phase("network, gonfct run and firewall")

	for _, c := range []struct {
		auth    string
		streams int // TCP connections the dump opens
	}{{"bsd", 4}, {"bsdudp", 1}} {
		t.Run(c.auth, func(t *testing.T) {
			// The client's estimate waits 5 s after its ACK: meanwhile
			// the master's timeout is what the ACK left, 300 s with the
			// helper (the kernel's own UDP timeouts: 30 or 120 s).
			script, dir := amandaSetup(t, n, c.auth, 5)
			stop := eventWatch(t, n.rtr, "expect")
			stopTCP := eventWatch(t, n.rtr, "-p", "tcp")
			timeout := masterTimeout(n.rtr)
			out, size := amdump(t, n, script, dir)
			longest := timeout()
			events, tcp := stop(), stopTCP()
			phase("amdump with auth " + c.auth)
			if !strings.Contains(out, "SUCCESS dumper amclient /var/lib/amanda/data") || size < 200000 {
				t.Errorf("amdump with auth %s through the firewall with gonfct run: dump image of %d bytes\n%s", c.auth, size, out)
			}
			ports := newExpectPorts(events)
			if len(ports) != c.streams {
				t.Errorf("%d TCP expectations %v, want %d:\n%s", len(ports), ports, c.streams, events)
			}
			// Each expectation was used: the server's connection to that
			// port crossed the firewall and was answered.
			for _, p := range ports {
				if !regexp.MustCompile(`src=` + regexp.QuoteMeta(pcli4) + ` dst=` + regexp.QuoteMeta(psrv4) + ` sport=\d+ dport=` + p + ` .*\[ASSURED\]`).MatchString(tcp) {
					t.Errorf("no established connection to the expected port %s:\n%s", p, tcp)
				}
			}
			if longest < 250 || longest > 300 {
				t.Errorf("longest timeout of an amanda master %d s, want about 300 (the helper's after each reply)", longest)
			}
			t.Logf("auth %s: %d-byte dump image; expectations for ports %v; master timeout up to %d s", c.auth, size, ports, longest)
		})
	}

	// The same dump with the helper no longer assigned, gonfct run still
	// up: amandad answers over UDP, but the server's connections to the
	// ports it names are new TCP, which the firewall drops.
	n.rtr.MustRun("nft", "delete", "table", "inet", "gonfct_fw")
	n.firewall(t, objects, "", allow)
	n.rtr.MustRun("conntrack", "-F")
	t.Run("unassigned", func(t *testing.T) {
		script, dir := amandaSetup(t, n, "bsd", 5)
		stop := eventWatch(t, n.rtr, "expect")
		timeout := masterTimeout(n.rtr)
		out, size := amdump(t, n, script, dir)
		longest := timeout()
		events := stop()
		phase("amdump without the helper assigned")
		if longest > 200 {
			t.Errorf("an amanda master's timeout reached %d s without the helper", longest)
		}
		t.Logf("without the helper: master timeout up to %d s", longest)
		if strings.Contains(out, "SUCCESS dumper") || size > 0 {
			t.Errorf("amdump succeeded without the helper assigned (%d-byte image):\n%s", size, out)
		}
		// amandad did answer (UDP), naming ports the server could not reach.
		if !strings.Contains(out, "could not connect DATA stream") {
			t.Errorf("amdump without the helper assigned did not fail at the DATA connection:\n%s", out)
		}
		if ports := newExpectPorts(events); len(ports) != 0 {
			t.Errorf("expectations without the helper assigned: %v", ports)
		}
	})
	eng.stop(t)
}

// amanda over IPv6, and with the backup server masqueraded behind the
// router (source NAT): the connections to the ports amandad's CONNECT line
// names cross the firewall only through the expectations. Debian's Amanda
// resolves host names for IPv4 only (its resolver asks for AF_INET), so
// over IPv6 amandapeer.py plays both parts with the messages of a real
// dump (bsd.pcap); through the IPv4 masquerade it is a real amdump, which
// amandad accepts from the router's address its configuration names.
func TestRunAmandaIPv6AndNAT(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	peer, err := filepath.Abs("../../pkg/cthelper/amanda/testdata/amandapeer.py")
	if err != nil {
		t.Fatal(err)
	}
	eng := startRun(t, n.rtr, "--helper", "amanda:inet:udp:queue=65", "--helper", "amanda:inet6:udp:queue=66")
	const objects = "\tct helper amanda-std { type \"amanda\" protocol udp; l3proto inet; }\n"
	const assign = "\t\tudp dport 10080 ct helper set \"amanda-std\"\n"
	const allow = "\t\tudp dport 10080 ct state new accept\n"
	load := func(nat string) {
		n.rtr.Run("nft", "delete", "table", "inet", "gonfct_fw")
		n.rtr.MustRun("conntrack", "-F")
		n.firewallNAT(t, objects, assign, allow, nat)
	}
	// ipv6 runs amandapeer.py's exchange: the server's output says which
	// streams connected.
	ipv6 := func() string {
		daemon(t, n.srv, "/usr/bin/python3", peer, "client")
		waitListenFor(t, n.srv, "u", "10080", 1, 120*time.Second)
		out, _ := n.cli.Run("timeout", "-s", "KILL", "60", "/usr/bin/python3", peer, "server", psrv6)
		return out
	}
	for _, c := range []struct{ name, nat, seen string }{{"IPv6", "", pcli6}, {"IPv6 masqueraded", masquerade, prtr6s}} {
		t.Run(c.name, func(t *testing.T) {
			load(c.nat)
			out := ipv6()
			if strings.Count(out, " ok\n") != 4 {
				t.Errorf("%s: not all four streams connected through the firewall with gonfct run:\n%s\nexpectations:\n%s", c.name, out, expectations(n.rtr))
			}
			if ok, ct := conntrackMatch(n.rtr, ctTuple(pcli6, psrv6, "10080")+ctTuple(psrv6, c.seen, "")); !ok {
				t.Errorf("%s: no amanda master seen by the client from %s:\n%s", c.name, c.seen, ct)
			}
		})
	}
	t.Run("IPv4 masqueraded amdump", func(t *testing.T) {
		load(masquerade)
		script, dir := amandaSetupAt(t, n, "bsd", 0, prtr4s, psrv4)
		out, size := amdump(t, n, script, dir)
		if !strings.Contains(out, "SUCCESS dumper amclient /var/lib/amanda/data") || size < 200000 {
			t.Errorf("amdump through the masquerade with gonfct run: dump image of %d bytes\n%s\nexpectations:\n%s", size, out, expectations(n.rtr))
		}
		if ok, ct := conntrackMatch(n.rtr, ctTuple(pcli4, psrv4, "10080")+ctTuple(psrv4, prtr4s, "")); !ok {
			t.Errorf("the amanda master was not masqueraded to %s:\n%s", prtr4s, ct)
		}
	})
	eng.stop(t)
	t.Run("IPv6 without gonfct run", func(t *testing.T) {
		load("")
		if out := ipv6(); strings.Contains(out, " ok") {
			t.Errorf("an amanda stream connected over IPv6 without gonfct run:\n%s", out)
		}
	})
}
