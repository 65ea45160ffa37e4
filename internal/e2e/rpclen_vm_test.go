//go:build vmtest

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// rpcSession runs rpcsession.py from the client: lookups on one
// connection to the portmapper at host:port, each followed by a NULL call
// to the address it named.
func rpcSession(t *testing.T, n *routedNet, host, port, transport string, lookups ...string) string {
	p, err := filepath.Abs("../../pkg/cthelper/rpc/testdata/rpcsession.py")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := n.cli.Run("timeout", append([]string{"-s", "KILL", "90", "/usr/bin/python3", p, host, port, transport}, lookups...)...)
	return out
}

// rpcLookups are the lookups of one session and the lines that say they
// and their NULL calls worked, the universal addresses naming host.
type rpcLookups struct {
	transport string
	lookups   []string
}

var rpcSessions4 = []rpcLookups{
	{"tcp", []string{"getport:tcp", "getport:udp", "getaddr3:tcp", "getaddr4:tcp", "getversaddr:tcp"}},
	{"udp", []string{"getport:tcp", "getaddr3:udp", "getaddr4:udp", "getversaddr:udp"}},
}

var rpcSessions6 = []rpcLookups{
	{"tcp", []string{"getaddr3:tcp6", "getaddr4:tcp6", "getversaddr:tcp6"}},
	{"udp", []string{"getaddr3:udp6", "getaddr4:udp6", "getversaddr:udp6"}},
}

// rpcWant is the line rpcsession.py prints for a lookup that worked, its
// answer naming host.
func rpcWant(lookup, host string) string {
	kind, netid := lookup[:strings.Index(lookup, ":")], lookup[strings.Index(lookup, ":")+1:]
	port, proto := "40001", "tcp"
	if strings.HasPrefix(netid, "udp") {
		port, proto = "40002", "udp"
	}
	p1p2 := map[string]string{"40001": ".156.65", "40002": ".156.66"}[port]
	if kind == "getport" {
		return lookup + ": " + host + " " + port + ", null over " + proto + ": ok"
	}
	return lookup + ": " + host + p1p2 + " " + port + ", null over " + proto + ": ok"
}

// The portmapper's lookups through the kernel: portmapper v2 GETPORT,
// rpcbind v3 GETADDR, v4 GETADDR and v4 GETVERSADDR, several on one TCP
// connection (record marking) or UDP socket, IPv4 and IPv6, each followed
// by a NULL call to the address it answered, which crosses the firewall
// only through the rpc helper's expectation. First to the server's own
// addresses; then with the portmapper published on the router's
// addresses (destination NAT) of another length, where rpcbind's
// universal addresses name the server and are rewritten to the dialled
// address, the XDR string length and the TCP record mark following, and
// the connection goes on with the next lookup.
func TestRunRPCLookupsThroughLengthChangingDNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	startRPCServer(t, n)
	eng := startRun(t, n.rtr, "--helper", "rpc:inet:tcp:queue=27", "--helper", "rpc:inet:udp:queue=28",
		"--helper", "rpc:inet6:tcp:queue=29", "--helper", "rpc:inet6:udp:queue=30")
	const objects = "\tct helper rpc-tcp { type \"rpc\" protocol tcp; l3proto inet; }\n\tct helper rpc-udp { type \"rpc\" protocol udp; l3proto inet; }\n"
	const assign = "\t\ttcp dport 111 ct helper set \"rpc-tcp\"\n\t\tudp dport 111 ct helper set \"rpc-udp\"\n"
	const allow = "\t\tmeta l4proto { tcp, udp } th dport 111 ct state new accept\n"
	run := func(what, host4, host6 string, fail bool) {
		for _, c := range []struct {
			host     string
			sessions []rpcLookups
		}{{host4, rpcSessions4}, {host6, rpcSessions6}} {
			for _, s := range c.sessions {
				out := rpcSession(t, n, c.host, "111", s.transport, s.lookups...)
				if fail {
					if strings.Contains(out, ": ok") {
						t.Errorf("%s over %s to %s: a NULL call got through:\n%s", what, s.transport, c.host, out)
					}
					continue
				}
				for _, lk := range s.lookups {
					if !strings.Contains(out, rpcWant(lk, c.host)) {
						t.Errorf("%s over %s to %s: %s did not work:\n%s\nexpectations:\n%s", what, s.transport, c.host, lk, out, expectations(n.rtr))
						break
					}
				}
			}
		}
	}
	n.firewall(t, objects, assign, allow)
	run("lookups", a.srv4, a.srv6, false)

	n.rtr.MustRun("nft", "delete", "table", "inet", "gonfct_fw")
	n.rtr.MustRun("conntrack", "-F")
	n.firewallNAT(t, objects, assign, allow, dnatChain(a, "meta l4proto { tcp, udp } th dport 111"))
	run("lookups through DNAT", a.rtr4c, a.rtr6c, false)
	// The server saw the client's calls at its own addresses: the NULL
	// calls to the router's addresses were translated.
	for _, re := range []string{
		ctTuple(a.cli4, a.rtr4c, "40001") + ctTuple(a.srv4, a.cli4, ""), ctTuple(a.cli4, a.rtr4c, "40002") + ctTuple(a.srv4, a.cli4, ""),
		ctTuple(a.cli6, a.rtr6c, "40001") + ctTuple(a.srv6, a.cli6, ""), ctTuple(a.cli6, a.rtr6c, "40002") + ctTuple(a.srv6, a.cli6, ""),
	} {
		if ok, ct := conntrackMatch(n.rtr, re); !ok {
			t.Errorf("no conntrack matching %s: the destination NAT did not apply\n%s", re, ct)
		}
	}

	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	run("lookups through DNAT without gonfct run", a.rtr4c, a.rtr6c, true)
}
