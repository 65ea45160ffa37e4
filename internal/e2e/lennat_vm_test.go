//go:build vmtest

package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// NAT whose addresses change length. A rewrite of an address in a TCP
// payload to one of another length shifts the rest of the stream: the
// kernel adjusts the connection's sequence numbers only when the verdict
// asks it to. The routed network below is built so that every rewrite
// changes the text's length: source NAT turns the client's 10.1.1.2
// into the router's 203.0.113.254 (longer), destination NAT the server's
// 203.0.113.5 into the router's 10.1.1.1 the client dialled (shorter);
// the same over IPv6.
var lenAddrs = routedAddrs{
	cli4: "10.1.1.2", rtr4c: "10.1.1.1", rtr4s: "203.0.113.254", srv4: "203.0.113.5",
	cli6: "fd00:1::2", rtr6c: "fd00:1::1", rtr6s: "2001:db8:113::fe", srv6: "2001:db8:113::5",
}

// dnatChain translates the client's connections to the router's
// client-side addresses (IPv4 and IPv6) on the given protocol and ports
// ("tcp dport 21", "meta l4proto { tcp, udp } th dport 111") to the
// server: the server's services published on the router's addresses.
func dnatChain(a routedAddrs, match string) string {
	return "\tchain prenat {\n\t\ttype nat hook prerouting priority dstnat;\n" +
		"\t\tip daddr " + a.rtr4c + " " + match + " dnat ip to " + a.srv4 + "\n" +
		"\t\tip6 daddr " + a.rtr6c + " " + match + " dnat ip6 to " + a.srv6 + "\n\t}\n"
}

// ctTuple is a regular expression for one tuple of a conntrack -L line:
// addresses, any source port, the destination port (any if ""), and the
// [UNREPLIED] that may follow the original tuple.
func ctTuple(src, dst, dport string) string {
	if dport == "" {
		dport = `\d+`
	}
	return regexp.QuoteMeta("src="+src+" dst="+dst+" ") + `sport=\d+ dport=` + dport + ` (\[UNREPLIED\] )?`
}

// conntrackMatch reports whether a conntrack of ns (either family)
// matches the regular expression, and the listing.
func conntrackMatch(ns *nstest.NS, re string) (bool, string) {
	v4, _ := ns.Run("conntrack", "-L")
	v6, _ := ns.Run("conntrack", "-L", "-f", "ipv6")
	return regexp.MustCompile(re).MatchString(v4 + v6), v4 + v6
}

// requireLines fails the test, once, if lines wanted are missing from
// out.
func requireLines(t *testing.T, what, out string, want ...string) bool {
	t.Helper()
	var missing []string
	for _, w := range want {
		if !strings.Contains(out, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: no %q in:\n%s", what, missing, out)
	}
	return len(missing) == 0
}
