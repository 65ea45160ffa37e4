//go:build hosttest

package cttimeout_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"golang.org/x/sys/unix"
)

func settings(t *testing.T, words ...string) []cttimeout.Setting {
	t.Helper()
	s, err := cttimeout.ParseSettings(words)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func resolve(t *testing.T, proto uint8, words ...string) cttimeout.Timeouts {
	t.Helper()
	tm, err := cttimeout.Resolve(proto, settings(t, words...))
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func nfct(ns *nstest.NS, args ...string) string {
	return ns.MustRun("nfct", args...)
}

// What we add, nfct reads back the same; what nfct adds, we read back the
// same, for every protocol this kernel tracks.
func TestAddGetAgreesWithNfct(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	for _, tc := range []struct {
		name   string
		family uint8
		proto  uint8
		words  []string
	}{
		{"tcp4", unix.AF_INET, unix.IPPROTO_TCP, []string{"established", "100", "syn_sent", "5", "unacknowledged", "7"}},
		{"udp6", unix.AF_INET6, unix.IPPROTO_UDP, []string{"replied", "50"}},
		{"udplite", unix.AF_INET, unix.IPPROTO_UDPLITE, []string{"unreplied", "11", "replied", "12"}},
		{"icmp", unix.AF_INET, unix.IPPROTO_ICMP, []string{"timeout", "9"}},
		{"icmpv6", unix.AF_INET6, unix.IPPROTO_ICMPV6, []string{"timeout", "8"}},
		{"sctp", unix.AF_INET, unix.IPPROTO_SCTP, []string{"established", "600", "closed", "3", "heartbeat_sent", "44"}},
		{"gre", unix.AF_INET, unix.IPPROTO_GRE, []string{"replied", "77"}},
		{"generic", unix.AF_INET6, cttimeout.ProtoGeneric, []string{"timeout", "45"}},
	} {
		p := cttimeout.Policy{Name: tc.name, Family: tc.family, Proto: tc.proto, Timeouts: resolve(t, tc.proto, tc.words...)}
		if err := cttimeout.Add(c, p); err != nil {
			t.Fatal(err)
		}
		got, err := cttimeout.Get(c, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		for a := uint16(1); a < 12; a++ {
			if v, ok := p.Timeouts.Get(a); ok {
				if g, _ := got.Timeouts.Get(a); g != v {
					t.Errorf("%s: state %s = %d, want %d", tc.name, cttimeout.StateName(tc.proto, a), g, v)
				}
			}
		}
		if got.Use != 1 || got.Family != tc.family || got.Proto != tc.proto {
			t.Errorf("%s: got %+v", tc.name, got)
		}
		if want := nfct(ns, "get", "timeout", tc.name); string(cttimeout.AppendNfct(nil, got)) != want {
			t.Errorf("%s: our nfct format\n%s\nnfct get timeout\n%s", tc.name, cttimeout.AppendNfct(nil, got), want)
		}
	}
	// And the other way round: a policy nfct made.
	nfct(ns, "add", "timeout", "bynfct", "inet6", "tcp", "close", "3", "TIME_WAIT", "4")
	got, err := cttimeout.Get(c, "bynfct")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Timeouts.Get(8); v != 3 {
		t.Errorf("close = %d", v)
	}
	if v, _ := got.Timeouts.Get(7); v != 4 {
		t.Errorf("time_wait = %d", v)
	}
	var listed []byte
	n := 0
	if err := cttimeout.List(c, func(p cttimeout.Policy) error {
		listed = cttimeout.AppendNfct(listed, p)
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := nfct(ns, "list", "timeout"); string(listed) != want || n != 9 {
		t.Errorf("listed %d policies:\n%s\nnfct list timeout:\n%s", n, listed, want)
	}
}

// NEW on an existing name: EBUSY without flags (what nfct gets), EEXIST with
// NLM_F_EXCL (what Add sends).
func TestAddExisting(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	p := cttimeout.Policy{Name: "dup", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: resolve(t, unix.IPPROTO_TCP, "established", "100")}
	if err := cttimeout.Add(c, p); err != nil {
		t.Fatal(err)
	}
	err := cttimeout.Add(c, p)
	if !errors.Is(err, ctnl.ErrExists) || !strings.Contains(err.Error(), "add timeout policy dup: EEXIST") || strings.Contains(err.Error(), "gonfct") {
		t.Errorf("second add: %v", err)
	}
	out, nerr := ns.Run("nfct", "add", "timeout", "dup", "inet", "tcp", "established", "100")
	if nerr == nil || !strings.Contains(out, "Device or resource busy") {
		t.Errorf("nfct on an existing name: %v %s", nerr, out)
	}
}

// REPLACE resets the states it does not carry to the defaults (which is why
// Update sends them all); Update keeps them, works while a rule uses the
// policy, and refuses another family.
func TestUpdateSemantics(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	p := cttimeout.Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: resolve(t, unix.IPPROTO_TCP, "established", "100", "syn_sent", "5")}
	if err := cttimeout.Add(c, p); err != nil {
		t.Fatal(err)
	}
	// The raw kernel behaviour.
	if err := cttimeout.Replace(c, cttimeout.Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP,
		Timeouts: resolve(t, unix.IPPROTO_TCP, "established", "200")}); err != nil {
		t.Fatal(err)
	}
	got, err := cttimeout.Get(c, "web")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Timeouts.Get(1); v != 120 {
		t.Fatalf("after a bare REPLACE syn_sent = %d: the kernel no longer resets to the default 120; Update's read-merge could go", v)
	}
	// Update, while a rule holds the policy.
	if err := cttimeout.Replace(c, p); err != nil {
		t.Fatal(err)
	}
	ns.MustRun("iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "-j", "CT", "--timeout", "web")
	if _, err := cttimeout.Update(c, "web", 0, 0, settings(t, "ESTABLISHED", "300")); err != nil {
		t.Fatal(err)
	}
	out := nfct(ns, "get", "timeout", "web")
	if !strings.Contains(out, ".SYN_SENT = 5,") || !strings.Contains(out, ".ESTABLISHED = 300,") {
		t.Errorf("after update nfct says\n%s", out)
	}
	_, err = cttimeout.Update(c, "web", unix.AF_INET6, unix.IPPROTO_TCP, settings(t, "established", "1"))
	if !errors.Is(err, cttimeout.ErrMismatch) {
		t.Errorf("update with another family: %v", err)
	}
	// The kernel's own answer to a REPLACE of another protocol.
	err = cttimeout.Replace(c, cttimeout.Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Timeouts: resolve(t, unix.IPPROTO_UDP, "replied", "1")})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "delete it and add it again") {
		t.Errorf("replace with another protocol: %v", err)
	}
}

// A policy a CT --timeout rule uses cannot be deleted; flush keeps it; an
// nft `ct timeout` object of the same name is a different thing entirely.
func TestDeleteInUse(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	for _, n := range []string{"used", "free"} {
		if err := cttimeout.Add(c, cttimeout.Policy{Name: n, Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Timeouts: resolve(t, unix.IPPROTO_UDP, "replied", "10")}); err != nil {
			t.Fatal(err)
		}
	}
	ns.MustRun("iptables", "-t", "raw", "-A", "PREROUTING", "-p", "udp", "-j", "CT", "--timeout", "used")
	ns.MustRun("iptables", "-t", "raw", "-A", "OUTPUT", "-p", "udp", "-j", "CT", "--timeout", "used")
	p, err := cttimeout.Get(c, "used")
	if err != nil || p.Use != 3 {
		t.Fatalf("use = %d, %v; want 3 (the policy and two rules)", p.Use, err)
	}
	err = cttimeout.Delete(c, "used")
	if !errors.Is(err, ctnl.ErrBusy) || !strings.Contains(err.Error(), "in use by 2 rule(s)") {
		t.Errorf("delete of a used policy: %v", err)
	}
	if out, err := ns.Run("nfct", "delete", "timeout", "used"); err == nil || !strings.Contains(out, "busy") {
		t.Errorf("nfct deleted a used policy: %s", out)
	}
	kept, err := cttimeout.Flush(c)
	if err != nil || len(kept) != 1 || kept[0] != "used" {
		t.Errorf("flush = %v, %v; want [used] kept", kept, err)
	}
	ns.MustRun("iptables", "-t", "raw", "-F")
	if err := cttimeout.Delete(c, "used"); err != nil {
		t.Errorf("delete after the rules went: %v", err)
	}
	if err := cttimeout.Delete(c, "used"); !errors.Is(err, ctnl.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}

	// nft's ct timeout objects live in nf_tables: not listed here, and they
	// do not hold a cttimeout policy of the same name.
	if err := cttimeout.Add(c, cttimeout.Policy{Name: "agg", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: resolve(t, unix.IPPROTO_TCP, "established", "10")}); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "*.nft")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("table ip t {\n ct timeout agg {\n  protocol tcp; l3proto ip\n  policy = { established: 120 }\n }\n chain pre {\n  type filter hook prerouting priority -300; policy accept;\n  ct timeout set \"agg\"\n }\n}\n")
	f.Close()
	ns.MustRun("nft", "-f", f.Name())
	p, err = cttimeout.Get(c, "agg")
	if err != nil || p.Use != 1 {
		t.Errorf("policy agg next to an nft ct timeout object: use %d, %v", p.Use, err)
	}
	if err := cttimeout.Delete(c, "agg"); err != nil {
		t.Errorf("delete next to an nft ct timeout object: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	if err := cttimeout.DefaultSet(c, unix.AF_INET, unix.IPPROTO_TCP, resolve(t, unix.IPPROTO_TCP, "established", "3600", "close", "7")); err != nil {
		t.Fatal(err)
	}
	got, err := cttimeout.DefaultGet(c, unix.AF_INET, unix.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Timeouts.Get(3); v != 3600 {
		t.Errorf("established = %d", v)
	}
	if v, _ := got.Timeouts.Get(1); v != 120 {
		t.Errorf("syn_sent = %d: DEFAULT_SET changed a state it was not given", v)
	}
	if want := nfct(ns, "default-get", "timeout", "inet", "tcp"); string(cttimeout.AppendNfct(nil, got)) != want {
		t.Errorf("ours\n%s\nnfct\n%s", cttimeout.AppendNfct(nil, got), want)
	}
	// The defaults are the namespace's sysctls.
	if out := strings.TrimSpace(ns.MustRun("sysctl", "-n", "net.netfilter.nf_conntrack_tcp_timeout_established")); out != "3600" {
		t.Errorf("sysctl established = %s", out)
	}
	// udplite shares udp's defaults.
	if err := cttimeout.DefaultSet(c, unix.AF_INET, unix.IPPROTO_UDP, resolve(t, unix.IPPROTO_UDP, "replied", "99")); err != nil {
		t.Fatal(err)
	}
	lite, err := cttimeout.DefaultGet(c, unix.AF_INET6, unix.IPPROTO_UDPLITE)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lite.Timeouts.Get(2); v != 99 {
		t.Errorf("udplite replied = %d, want udp's 99", v)
	}
	// A new policy takes the namespace's current defaults for what it omits.
	if err := cttimeout.Add(c, cttimeout.Policy{Name: "p", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: resolve(t, unix.IPPROTO_TCP, "syn_sent", "1")}); err != nil {
		t.Fatal(err)
	}
	p, _ := cttimeout.Get(c, "p")
	if v, _ := p.Timeouts.Get(8); v != 7 {
		t.Errorf("new policy close = %d, want the namespace default 7", v)
	}
	// Other namespaces are untouched.
	other := nstest.New(t)
	if out := nfct(other, "default-get", "timeout", "inet", "tcp"); !strings.Contains(out, ".ESTABLISHED = 432000,") {
		t.Errorf("another namespace's defaults changed:\n%s", out)
	}
	if out := nfct(other, "list", "timeout"); out != "" {
		t.Errorf("another namespace lists policies:\n%s", out)
	}
}

// DCCP conntrack left Linux in 6.16: the kernel says EOPNOTSUPP and we say
// why.
func TestUntrackedProtocol(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	err := cttimeout.Add(c, cttimeout.Policy{Name: "d", Family: unix.AF_INET, Proto: unix.IPPROTO_DCCP, Timeouts: resolve(t, unix.IPPROTO_DCCP, "open", "10")})
	if !errors.Is(err, ctnl.ErrNotSupported) || !strings.Contains(err.Error(), "does not track dccp") {
		t.Errorf("dccp policy: %v", err)
	}
	if _, err := cttimeout.DefaultGet(c, unix.AF_INET, unix.IPPROTO_DCCP); !errors.Is(err, ctnl.ErrNotSupported) {
		t.Errorf("dccp defaults: %v", err)
	}
}
