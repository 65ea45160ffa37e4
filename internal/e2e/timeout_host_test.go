//go:build hosttest

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// gonfct runs one command line in ns, as the binary would.
func gonfct(ns *nstest.NS, args ...string) (stdout, stderr string, code int) {
	var out, errw bytes.Buffer
	code = run(append([]string{"--netns", ns.Name}, args...), nil, &out, &errw)
	return out.String(), errw.String(), code
}

// mustGonfct runs a command that must succeed and say nothing on stderr.
func mustGonfct(t *testing.T, ns *nstest.NS, args ...string) string {
	t.Helper()
	out, errs, code := gonfct(ns, args...)
	if code != 0 || errs != "" {
		t.Fatalf("gonfct %q: exit %d, stderr %q", args, code, errs)
	}
	return out
}

// failGonfct runs a command that must fail with code, one line on stderr
// containing want, nothing on stdout.
func failGonfct(t *testing.T, ns *nstest.NS, code int, want string, args ...string) {
	t.Helper()
	out, errs, got := gonfct(ns, args...)
	if got != code || !strings.Contains(errs, want) || strings.Count(errs, "\n") != 1 || out != "" {
		t.Errorf("gonfct %q: exit %d, stdout %q, stderr %q; want exit %d and one line with %q", args, got, out, errs, code, want)
	}
}

var nfctState = regexp.MustCompile(`(?m)^\t\t\.([A-Z_0-9]+) = (\d+),$`)

// nfctValues reads the states out of nfct's output of one policy.
func nfctValues(t *testing.T, out string) map[string]uint32 {
	t.Helper()
	m := map[string]uint32{}
	for _, s := range nfctState.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseUint(s[2], 10, 32)
		m[strings.ToLower(s[1])] = uint32(v)
	}
	if len(m) == 0 {
		t.Fatalf("no states in nfct output %q", out)
	}
	return m
}

// Every protocol this kernel tracks: what gonfct adds, nfct reads the same,
// and -o nfct prints what nfct prints, byte for byte.
func TestTimeoutCommandsAgreeWithNfct(t *testing.T) {
	ns := nstest.New(t)
	adds := [][]string{
		{"add", "timeout", "web", "inet", "tcp", "established", "100", "SYN_SENT", "5", "unacknowledged", "7"}, // nfct order
		{"timeout", "add", "dns", "inet6", "udp", "replied", "50"},
		{"timeout", "add", "lite", "inet", "udplite", "unreplied", "11", "replied", "1m"},
		{"timeout", "add", "ping", "inet", "icmp", "timeout", "9"},
		{"timeout", "add", "ping6", "inet6", "icmpv6", "TIMEOUT", "8"},
		{"timeout", "add", "sig", "inet", "sctp", "established", "600", "closed", "3", "heartbeat_sent", "44"},
		{"timeout", "add", "tun", "inet", "gre", "replied", "2h"},
		{"timeout", "add", "other", "inet6", "generic", "timeout", "45"},
	}
	for _, a := range adds {
		if out := mustGonfct(t, ns, a...); out != "" {
			t.Errorf("%q printed %q", a, out)
		}
	}
	ns.MustRun("nfct", "add", "timeout", "bynfct", "inet", "tcp", "close", "3")

	// list and get in nfct's format, in both word orders.
	want := ns.MustRun("nfct", "list", "timeout")
	for _, args := range [][]string{{"-o", "nfct", "timeout", "list"}, {"-o", "nfct", "list", "timeout"}, {"timeout", "ls", "-o", "nfct"}} {
		if got := mustGonfct(t, ns, args...); got != want {
			t.Errorf("gonfct %q:\n%s\nnfct list timeout:\n%s", args, got, want)
		}
	}
	for _, name := range []string{"web", "dns", "lite", "ping", "ping6", "sig", "tun", "other", "bynfct"} {
		want := ns.MustRun("nfct", "get", "timeout", name)
		if got := mustGonfct(t, ns, "get", "timeout", name, "-o", "nfct"); got != want {
			t.Errorf("get %s -o nfct:\n%s\nnfct get timeout:\n%s", name, got, want)
		}
		// json carries the same values (and more: sctp's heartbeat_sent).
		var rec struct {
			Name     string            `json:"name"`
			Use      uint32            `json:"use"`
			Timeouts map[string]uint32 `json:"timeouts"`
		}
		if err := json.Unmarshal([]byte(mustGonfct(t, ns, "timeout", "get", name, "-o", "json")), &rec); err != nil {
			t.Fatal(err)
		}
		for st, v := range nfctValues(t, want) {
			if rec.Timeouts[st] != v {
				t.Errorf("%s json %s = %d, nfct says %d", name, st, rec.Timeouts[st], v)
			}
		}
		if rec.Name != name || rec.Use != 1 {
			t.Errorf("json %+v", rec)
		}
	}
	// The values given on the command line, as nfct reads them.
	for name, vals := range map[string]map[string]uint32{
		"web":  {"established": 100, "syn_sent": 5, "unacknowledged": 7, "close": 10},
		"lite": {"unreplied": 11, "replied": 60},
		"tun":  {"replied": 7200},
		"sig":  {"established": 600, "closed": 3},
	} {
		got := nfctValues(t, ns.MustRun("nfct", "get", "timeout", name))
		for st, v := range vals {
			if got[st] != v {
				t.Errorf("%s %s = %d per nfct, want %d", name, st, got[st], v)
			}
		}
	}
	sig := mustGonfct(t, ns, "timeout", "get", "sig")
	if !strings.HasPrefix(sig, "sig inet sctp use 1\n") || !strings.Contains(sig, "  heartbeat_sent          44\n") {
		t.Errorf("text of sig:\n%s", sig)
	}
	tab := mustGonfct(t, ns, "timeout", "list", "-o", "table")
	for _, s := range []string{"NAME", "USE", "web", "inet6", "generic", "timeout=45", "established=100"} {
		if !strings.Contains(tab, s) {
			t.Errorf("table lacks %q:\n%s", s, tab)
		}
	}
	var all []map[string]any
	if err := json.Unmarshal([]byte(mustGonfct(t, ns, "timeout", "list", "-o", "json")), &all); err != nil || len(all) != 9 {
		t.Errorf("list -o json: %d records, %v", len(all), err)
	}

	// Deleting, one and all, agrees with nfct.
	mustGonfct(t, ns, "delete", "timeout", "dns")
	if out := ns.MustRun("nfct", "list", "timeout"); strings.Contains(out, ".dns = {") {
		t.Errorf("dns still listed by nfct:\n%s", out)
	}
	failGonfct(t, ns, 1, "no timeout policy \"dns\" in this network namespace: see `gonfct timeout list`", "timeout", "get", "dns")
	failGonfct(t, ns, 1, "ENOENT", "timeout", "delete", "dns")
	mustGonfct(t, ns, "timeout", "flush")
	if out := ns.MustRun("nfct", "list", "timeout"); out != "" {
		t.Errorf("after flush nfct lists:\n%s", out)
	}
	if out := mustGonfct(t, ns, "timeout", "list", "-o", "json"); out != "[]\n" {
		t.Errorf("empty list json %q", out)
	}
}

// Bad words are usage errors (exit 2) and change nothing.
func TestTimeoutBadInputChangesNothing(t *testing.T) {
	ns := nstest.New(t)
	mustGonfct(t, ns, "timeout", "add", "web", "inet", "tcp", "established", "100")
	before := ns.MustRun("nfct", "list", "timeout")
	defaults := ns.MustRun("nfct", "default-get", "timeout", "inet", "tcp")
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"want one of unreplied, replied", []string{"timeout", "add", "x", "inet", "udp", "established", "5"}},
		{`bad timeout "abc"`, []string{"add", "timeout", "x", "inet", "tcp", "established", "abc"}},
		{"missing value", []string{"timeout", "add", "x", "inet", "tcp", "established", "5", "close"}},
		{"given twice", []string{"timeout", "add", "x", "inet", "tcp", "close", "5", "CLOSE", "6"}},
		{"at most 31", []string{"timeout", "add", strings.Repeat("x", 32), "inet", "tcp", "close", "5"}},
		{"unknown tcp state", []string{"timeout", "update", "web", "replied", "5"}},
		{"bad timeout", []string{"timeout", "update", "web", "established", "9999999"}},
		{"unknown family", []string{"timeout", "default-set", "ipx", "tcp", "close", "5"}},
		{"want one of syn_sent", []string{"default-set", "timeout", "inet", "tcp", "established", "5", "nope", "1"}},
		{"unknown output format", []string{"timeout", "list", "-o", "yaml"}},
	} {
		failGonfct(t, ns, 2, tc.want, tc.args...)
	}
	if after := ns.MustRun("nfct", "list", "timeout"); after != before {
		t.Errorf("policies changed by refused commands:\n%s\nwas\n%s", after, before)
	}
	if after := ns.MustRun("nfct", "default-get", "timeout", "inet", "tcp"); after != defaults {
		t.Errorf("defaults changed by refused commands:\n%s", after)
	}
}

// add on an existing name says EEXIST and points to update; update changes
// the given states in place and keeps the others, also while a rule uses
// the policy; it cannot change the family or protocol.
func TestTimeoutAddExistingAndUpdate(t *testing.T) {
	ns := nstest.New(t)
	mustGonfct(t, ns, "timeout", "add", "web", "inet", "tcp", "established", "100", "syn_sent", "5")
	failGonfct(t, ns, 1, "EEXIST", "add", "timeout", "web", "inet", "tcp", "established", "1")
	failGonfct(t, ns, 1, "gonfct timeout update web", "timeout", "add", "web", "inet", "tcp", "established", "1")
	if v := nfctValues(t, ns.MustRun("nfct", "get", "timeout", "web")); v["established"] != 100 {
		t.Errorf("a refused add changed established to %d", v["established"])
	}

	ns.MustRun("iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "-j", "CT", "--timeout", "web")
	mustGonfct(t, ns, "timeout", "update", "web", "ESTABLISHED", "2h")
	mustGonfct(t, ns, "timeout", "update", "web", "inet", "tcp", "close", "4", "time_wait", "1m")
	v := nfctValues(t, ns.MustRun("nfct", "get", "timeout", "web"))
	for st, want := range map[string]uint32{"established": 7200, "syn_sent": 5, "close": 4, "time_wait": 60, "fin_wait": 120} {
		if v[st] != want {
			t.Errorf("after update %s = %d per nfct, want %d", st, v[st], want)
		}
	}
	if out := mustGonfct(t, ns, "timeout", "get", "web"); !strings.HasPrefix(out, "web inet tcp use 2\n") {
		t.Errorf("get after attaching a rule:\n%s", out)
	}
	failGonfct(t, ns, 1, "it is inet tcp, not inet6 tcp", "timeout", "update", "web", "inet6", "tcp", "close", "1")
	failGonfct(t, ns, 1, "it is inet tcp, not inet udp", "timeout", "update", "web", "inet", "udp", "replied", "1")
	failGonfct(t, ns, 1, "ENOENT", "timeout", "update", "nope", "close", "1")
}

// A policy a CT --timeout rule holds cannot be deleted or flushed, and the
// error says so; nft's own ct timeout objects do not hold policies.
func TestTimeoutDeleteInUse(t *testing.T) {
	ns := nstest.New(t)
	mustGonfct(t, ns, "timeout", "add", "used", "inet", "udp", "replied", "10")
	mustGonfct(t, ns, "timeout", "add", "free", "inet", "udp", "replied", "10")
	ns.MustRun("iptables", "-t", "raw", "-A", "PREROUTING", "-p", "udp", "-j", "CT", "--timeout", "used")
	failGonfct(t, ns, 1, "delete timeout policy used: EBUSY device or resource busy: it is in use by 1 rule such as `iptables -t raw ... -j CT --timeout used`: remove those first, or change its values in place with `gonfct timeout update used ...`", "delete", "timeout", "used")
	failGonfct(t, ns, 1, "kept 1 in use by rules (-j CT --timeout): used", "timeout", "flush")
	if out := ns.MustRun("nfct", "list", "timeout"); !strings.Contains(out, ".used = {") || strings.Contains(out, ".free = {") {
		t.Errorf("after flush nfct lists:\n%s", out)
	}
	ns.MustRun("iptables", "-t", "raw", "-F")
	mustGonfct(t, ns, "timeout", "delete", "used")

	// nft's ct timeout objects are nf_tables objects: a policy of the same
	// name is neither listed with them nor held by them.
	mustGonfct(t, ns, "timeout", "add", "agg", "inet", "tcp", "established", "10")
	f := t.TempDir() + "/ct.nft"
	if err := os.WriteFile(f, []byte("table ip t {\n ct timeout agg {\n  protocol tcp; l3proto ip\n  policy = { established: 120 }\n }\n chain pre {\n  type filter hook prerouting priority -300; policy accept;\n  ct timeout set \"agg\"\n }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.MustRun("nft", "-f", f)
	if out := mustGonfct(t, ns, "timeout", "get", "agg"); !strings.HasPrefix(out, "agg inet tcp use 1\n") {
		t.Errorf("agg with an nft ct timeout object of the same name:\n%s", out)
	}
	mustGonfct(t, ns, "timeout", "delete", "agg")
	if out := mustGonfct(t, ns, "timeout", "list"); out != "" {
		t.Errorf("list after deletes: %q", out)
	}
}

// default-get prints what nfct prints for every protocol; default-set
// changes only the states given, like nfct's, in this namespace only.
func TestTimeoutDefaults(t *testing.T) {
	ns := nstest.New(t)
	for _, fam := range []string{"inet", "inet6"} {
		for _, proto := range []string{"tcp", "udp", "udplite", "icmp", "icmpv6", "sctp", "gre", "generic"} {
			want := ns.MustRun("nfct", "default-get", "timeout", fam, proto)
			if got := mustGonfct(t, ns, "-o", "nfct", "default-get", "timeout", fam, proto); got != want {
				t.Errorf("default-get %s %s -o nfct:\n%s\nnfct:\n%s", fam, proto, got, want)
			}
		}
	}
	mustGonfct(t, ns, "timeout", "default-set", "inet", "tcp", "established", "3600", "close", "7")
	ns.MustRun("nfct", "default-set", "timeout", "inet", "udp", "replied", "99")
	v := nfctValues(t, ns.MustRun("nfct", "default-get", "timeout", "inet", "tcp"))
	if v["established"] != 3600 || v["close"] != 7 || v["syn_sent"] != 120 {
		t.Errorf("tcp defaults after default-set: %v", v)
	}
	if out := mustGonfct(t, ns, "timeout", "default-get", "inet6", "udplite"); out != "defaults inet6 udplite\n  unreplied               30\n  replied                 99  1m39s\n" {
		t.Errorf("udplite defaults (udp's):\n%s", out)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(mustGonfct(t, ns, "timeout", "default-get", "inet", "tcp", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d["timeouts"].(map[string]any)["established"] != float64(3600) || d["name"] != nil {
		t.Errorf("defaults json %v", d)
	}
	if out := strings.TrimSpace(ns.MustRun("sysctl", "-n", "net.netfilter.nf_conntrack_tcp_timeout_close")); out != "7" {
		t.Errorf("sysctl close = %s", out)
	}
	// A policy added afterwards takes the namespace's new defaults.
	mustGonfct(t, ns, "timeout", "add", "p", "inet", "tcp", "syn_sent", "1")
	if v := nfctValues(t, ns.MustRun("nfct", "get", "timeout", "p")); v["established"] != 3600 {
		t.Errorf("new policy established = %d, want the namespace's 3600", v["established"])
	}
	other := nstest.New(t)
	if v := nfctValues(t, other.MustRun("nfct", "default-get", "timeout", "inet", "tcp")); v["established"] != 432000 {
		t.Errorf("another namespace's established default = %d", v["established"])
	}
	if out := mustGonfct(t, other, "timeout", "list"); out != "" {
		t.Errorf("another namespace lists %q", out)
	}
	// DCCP conntrack is gone from this kernel: one clear line, exit 1.
	failGonfct(t, ns, 1, "does not track dccp", "timeout", "default-get", "inet", "dccp")
	failGonfct(t, ns, 1, "does not track dccp", "timeout", "add", "d", "inet", "dccp", "open", "5")
}
