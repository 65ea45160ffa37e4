//go:build hosttest

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/expect"
	"golang.org/x/sys/unix"
)

// The first scenario: a conntrack injected with helper ftp shows
// helper=ftp to gonfct and to conntrack(8), and accepts an expectation.
func TestCtAddWithHelperFTPThenExpectation(t *testing.T) {
	ns := nstest.New(t)
	mustCtCLI(t, ns, "", "ct", "add", "tcp", "10.9.0.1", "10.9.0.2", "40000", "21", "--timeout", "600",
		"--state", "ESTABLISHED", "--status", "assured,seen-reply", "--helper", "ftp")
	got := mustCtCLI(t, ns, "", "ct", "get", "tcp", "10.9.0.1", "10.9.0.2", "40000", "21")
	if !strings.Contains(got.out, " helper=ftp ") || !strings.Contains(got.out, "[ASSURED]") || !strings.HasPrefix(got.out, "tcp      6 ") {
		t.Errorf("ct get: %q", got.out)
	}
	if got.err != "gonfct: 1 flow entries have been shown.\n" {
		t.Errorf("ct get stderr %q", got.err)
	}
	if l := ns.MustRun("conntrack", "-L", "-p", "tcp", "--dport", "21"); !strings.Contains(l, "helper=ftp") {
		t.Errorf("conntrack -L does not show the helper:\n%s", l)
	}
	j := mustCtCLI(t, ns, "", "ct", "get", "-o", "json", "tcp", "10.9.0.1", "10.9.0.2", "40000", "21")
	var fj ctflow.FlowJSON
	if err := json.Unmarshal([]byte(j.out), &fj); err != nil || fj.Helper != "ftp" || fj.State != "ESTABLISHED" {
		t.Errorf("ct get -o json: %v %+v", err, fj)
	}

	// Now an expectation on that master succeeds (it needs the helper).
	mustCtCLI(t, ns, "", "expect", "add", "--master", "tcp 10.9.0.1 10.9.0.2 40000 21",
		"--tuple", "tcp 10.9.0.2 10.9.0.1 0 50000", "--mask", "src=/32 sport=0")
	if l := ns.MustRun("conntrack", "-L", "expect"); !strings.Contains(l, "dport=50000") || !strings.Contains(l, "helper=ftp") {
		t.Errorf("conntrack -L expect:\n%s", l)
	}
	// Without a helper the same request fails: the helper is what made it work.
	mustCtCLI(t, ns, "", "ct", "add", "tcp", "10.9.0.1", "10.9.0.2", "40001", "21", "-t", "600")
	r := ctCLI(t, ns, "", "expect", "add", "--master", "tcp 10.9.0.1 10.9.0.2 40001 21", "--tuple", "tcp 10.9.0.2 10.9.0.1 0 50001")
	if r.code != 1 || !strings.Contains(r.err, "operation not supported") {
		t.Errorf("expectation on a master without helper: exit %d, %q", r.code, r.err)
	}
}

// timeoutField splits a conntrack line into its timeout and the rest.
func timeoutField(t *testing.T, line string) (int, string) {
	f := strings.Split(line, " ")
	// "tcp      6 431999 ...": the protocol name is padded, so find the
	// third non-empty field.
	idx, n := -1, 0
	for i, w := range f {
		if w != "" {
			n++
			if n == 3 {
				idx = i
				break
			}
		}
	}
	v, err := strconv.Atoi(f[idx])
	if err != nil {
		t.Fatalf("no timeout in %q", line)
	}
	f[idx] = "T"
	return v, strings.Join(f, " ")
}

// gonfct ct list prints conntrack -L's lines byte for byte (timeouts tick,
// so they may differ by a second), for the kinds of entries it shows.
func TestCtListMatchesConntrackL(t *testing.T) {
	ns := nstest.New(t)
	for _, args := range [][]string{
		{"tcp", "10.0.0.1", "10.0.0.2", "40000", "21", "-t", "500", "--state", "ESTABLISHED", "--status", "assured,seen-reply", "--helper", "ftp"},
		{"tcp", "10.0.0.1", "10.0.0.2", "40001", "80", "-t", "500", "--state", "SYN_SENT", "--mark", "4294967295"},
		{"udp", "10.0.0.5", "10.0.0.6", "5000", "69", "-t", "300", "--mark", "7", "--zone", "3", "--helper", "tftp"},
		{"udp", "10.0.0.5", "10.0.0.6", "5001", "53", "-t", "300", "--status", "seen-reply", "--reply", "udp 192.0.2.9 10.0.0.5 53 5001"},
		{"icmp", "10.0.0.1", "10.0.0.9", "8", "0", "77", "-t", "30"},
		{"tcp", "fd00::1", "fd00::2:0:0:3", "1000", "22", "-t", "100", "--state", "TIME_WAIT", "--status", "seen-reply"},
		{"icmpv6", "fd00::1", "fd00::2", "128", "0", "9", "-t", "30"},
		{"sctp", "10.0.0.1", "10.0.0.2", "7", "8", "-t", "30"},
		{"gre", "10.0.0.1", "10.0.0.2", "-t", "30"},
	} {
		mustCtCLI(t, ns, "", append([]string{"ct", "add"}, args...)...)
	}
	// And entries conntrack(8) made itself.
	ns.MustRun("conntrack", "-I", "-p", "tcp", "-s", "172.16.0.1", "-d", "172.16.0.2", "--sport", "1", "--dport", "2",
		"--state", "CLOSE_WAIT", "-t", "90", "-u", "ASSURED,SEEN_REPLY", "-m", "42", "-w", "9")
	ns.MustRun("conntrack", "-I", "-p", "udplite", "-s", "172.16.0.1", "-d", "172.16.0.2", "--sport", "1", "--dport", "2", "-t", "90")

	ctOut := ns.MustRun("conntrack", "-L")
	r := mustCtCLI(t, ns, "", "ct", "list")
	want := strings.Split(strings.TrimSpace(ctOut), "\n")
	// conntrack's own stderr line is in the combined output.
	var wantLines []string
	summaryLine := ""
	for _, l := range want {
		if strings.HasPrefix(l, "conntrack v") {
			summaryLine = l
			continue
		}
		wantLines = append(wantLines, l)
	}
	gotLines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if len(gotLines) != len(wantLines) || len(gotLines) != 11 {
		t.Fatalf("gonfct shows %d lines, conntrack %d (want 11)\ngonfct:\n%s\nconntrack:\n%s", len(gotLines), len(wantLines), r.out, ctOut)
	}
	norm := func(lines []string) (map[string]int, []string) {
		m := map[string]int{}
		var keys []string
		for _, l := range lines {
			v, k := timeoutField(t, l)
			m[k] = v
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return m, keys
	}
	gm, gk := norm(gotLines)
	wm, wk := norm(wantLines)
	for i := range gk {
		if gk[i] != wk[i] {
			t.Errorf("line differs:\n gonfct    %q\n conntrack %q", gk[i], wk[i])
			continue
		}
		if d := gm[gk[i]] - wm[wk[i]]; d < -1 || d > 1 {
			t.Errorf("timeouts %d vs %d for %s", gm[gk[i]], wm[wk[i]], gk[i])
		}
	}
	// The summary: conntrack's words, gonfct's name.
	if wantSum := strings.TrimPrefix(summaryLine, "conntrack v1.4.7 (conntrack-tools): "); r.err != "gonfct: "+wantSum+"\n" {
		t.Errorf("summary %q, conntrack says %q", r.err, summaryLine)
	}
}

func TestCtListFilters(t *testing.T) {
	ns := nstest.New(t)
	for _, args := range [][]string{
		{"tcp", "10.1.0.1", "10.1.0.2", "1000", "21", "-t", "500", "--helper", "ftp", "--mark", "0x11", "--state", "ESTABLISHED", "--status", "assured,seen-reply"},
		{"tcp", "10.1.0.1", "10.1.0.3", "1001", "80", "-t", "500", "--mark", "0x21", "--state", "SYN_SENT"},
		{"udp", "10.1.1.1", "10.1.0.2", "1002", "53", "-t", "500", "--zone", "7"},
		{"tcp", "fd00::1", "fd00::2", "1003", "22", "-t", "500", "--state", "ESTABLISHED"},
		{"tcp", "fd00::1", "fd00::3", "1004", "22", "-t", "500"},
	} {
		mustCtCLI(t, ns, "", append([]string{"ct", "add"}, args...)...)
	}
	for _, tc := range []struct {
		filter []string
		want   int
	}{
		{nil, 5},
		{[]string{"-p", "tcp"}, 4},
		{[]string{"-f", "ipv6"}, 2},
		{[]string{"-s", "10.1.0.1"}, 2},
		{[]string{"-s", "10.1.0.0/16"}, 3},
		{[]string{"-p", "tcp", "--dport", "21"}, 1},
		{[]string{"--dport", "22"}, 2},
		{[]string{"-p", "tcp", "--reply-sport", "80"}, 1},
		{[]string{"-d", "fd00::2"}, 1}, // user space: the kernel's IPv6 filter is inverted
		{[]string{"--reply-src", "fd00::3"}, 1},
		{[]string{"--helper", "ftp"}, 1},
		{[]string{"--helper", "none"}, 4},
		{[]string{"--mark", "0x1/0xf"}, 2},
		{[]string{"--mark", "0x21"}, 1},
		{[]string{"--zone", "7"}, 1},
		{[]string{"--zone", "0"}, 4},
		{[]string{"--status", "assured"}, 1},
		{[]string{"--state", "ESTABLISHED"}, 2},
		{[]string{"-f", "ipv4", "-p", "tcp", "-s", "10.1.0.1", "--sport", "1001"}, 1},
	} {
		r := mustCtCLI(t, ns, "", append([]string{"ct", "list", "-q"}, tc.filter...)...)
		n := strings.Count(r.out, "\n")
		if n != tc.want {
			t.Errorf("ct list %v: %d entries, want %d\n%s", tc.filter, n, tc.want, r.out)
		}
	}
}

func TestCtUpdateDeleteFlush(t *testing.T) {
	ns := nstest.New(t)
	tu := []string{"tcp", "10.2.0.1", "10.2.0.2", "1000", "21"}
	mustCtCLI(t, ns, "", append([]string{"ct", "add", "-t", "500", "--mark", "0x0f", "--helper", "ftp"}, tu...)...)
	mustCtCLI(t, ns, "", append([]string{"ct", "update", "-t", "50", "--mark", "0x30/0xf0", "--status", "seen-reply"}, tu...)...)
	r := mustCtCLI(t, ns, "", append([]string{"ct", "get", "-o", "json"}, tu...)...)
	var fj ctflow.FlowJSON
	if err := json.Unmarshal([]byte(r.out), &fj); err != nil {
		t.Fatal(err)
	}
	if fj.Mark != 0x3f || *fj.Timeout > 50 || !strings.Contains(strings.Join(fj.Status, ","), "SEEN_REPLY") || fj.Helper != "ftp" {
		t.Errorf("after update: mark %#x timeout %d status %v helper %q", fj.Mark, *fj.Timeout, fj.Status, fj.Helper)
	}
	// The kernel's helper rules, explained.
	tu2 := []string{"tcp", "10.2.0.1", "10.2.0.2", "1001", "21"}
	mustCtCLI(t, ns, "", append([]string{"ct", "add", "-t", "500"}, tu2...)...)
	r = ctCLI(t, ns, "", append([]string{"ct", "update", "--helper-info", "00"}, tu2...)...)
	if r.code != 1 || !strings.Contains(r.err, "only at creation") {
		t.Errorf("helper-info on a conntrack without helper: exit %d %q", r.code, r.err)
	}
	// Setting or changing a helper after creation: the kernel's refusals,
	// explained; naming the helper it has is a no-op.
	r = ctCLI(t, ns, "", append([]string{"ct", "update", "--helper", "ftp"}, tu2...)...)
	if r.code != 1 || !strings.Contains(r.err, "operation not supported") || !strings.Contains(r.err, "only when a conntrack is created") {
		t.Errorf("update --helper on a conntrack without helper: exit %d %q", r.code, r.err)
	}
	r = ctCLI(t, ns, "", append([]string{"ct", "update", "--helper", "sip"}, tu...)...)
	if r.code != 1 || !strings.Contains(r.err, "EBUSY") || !strings.Contains(r.err, "never changes a conntrack's helper") {
		t.Errorf("update --helper sip on an ftp conntrack: exit %d %q", r.code, r.err)
	}
	mustCtCLI(t, ns, "", append([]string{"ct", "update", "--helper", "ftp"}, tu...)...)
	r = ctCLI(t, ns, "", append([]string{"ct", "add", "-t", "500", "--helper", "ftp"}, tu2...)...)
	if r.code != 1 || !strings.Contains(r.err, "EEXIST") {
		t.Errorf("add over an existing conntrack: exit %d %q", r.code, r.err)
	}
	r = ctCLI(t, ns, "", "ct", "update", "-t", "5", "tcp", "10.2.0.1", "10.2.0.2", "9", "9")
	if r.code != 1 || !strings.Contains(r.err, "ENOENT") {
		t.Errorf("update of a missing conntrack: exit %d %q", r.code, r.err)
	}

	mustCtCLI(t, ns, "", append([]string{"ct", "delete"}, tu...)...)
	if n := ctCount(t, ns); n != 1 {
		t.Fatalf("after delete: %d conntracks", n)
	}
	for i := 0; i < 5; i++ {
		mustCtCLI(t, ns, "", "ct", "add", "-t", "500", "udp", "10.3.0.1", "10.3.0.2", strconv.Itoa(2000+i), "53", "--mark", strconv.Itoa(i%2))
	}
	r = mustCtCLI(t, ns, "", "ct", "delete", "-p", "udp", "--mark", "1")
	if r.err != "gonfct: 2 flow entries have been deleted.\n" || ctCount(t, ns) != 4 {
		t.Errorf("delete by filter: %q, %d left", r.err, ctCount(t, ns))
	}
	r = mustCtCLI(t, ns, "", "ct", "flush", "--helper", "none", "-p", "udp")
	if r.err != "gonfct: 3 flow entries have been deleted.\n" || ctCount(t, ns) != 1 {
		t.Errorf("flush by filter: %q, %d left", r.err, ctCount(t, ns))
	}
	r = mustCtCLI(t, ns, "", "ct", "flush")
	if !strings.Contains(r.err, "emptied") || ctCount(t, ns) != 0 {
		t.Errorf("flush: %q, %d left", r.err, ctCount(t, ns))
	}
}

func TestCtBadInput(t *testing.T) {
	ns := nstest.New(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ct", "get", "tcp", "10.0.0.1", "10.0.0.2", "1"}, 2, "want PROTO SRC DST SPORT DPORT"},
		{[]string{"ct", "add", "tcp", "10.0.0.300", "10.0.0.2", "1", "2", "-t", "5"}, 2, "bad address"},
		{[]string{"ct", "add", "tcp", "10.0.0.1", "fd00::2", "1", "2", "-t", "5"}, 2, "mixes IPv4 and IPv6"},
		{[]string{"ct", "add", "tcp", "10.0.0.1", "10.0.0.2", "1", "2"}, 2, "needs --timeout"},
		{[]string{"ct", "add", "tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--helper-info", "00"}, 2, "needs --helper"},
		{[]string{"ct", "add", "tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--helper", "averyveryverylongname"}, 2, "at most 15"},
		{[]string{"ct", "add", "tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--helper", "ftp", "--helper-info", "xyz"}, 2, "hex"},
		{[]string{"ct", "add", "tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--status", "expected"}, 2, "only seen-reply"},
		{[]string{"ct", "add", "tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--reply", "udp 10.0.0.2 10.0.0.1 2 1"}, 2, "protocol and family"},
		{[]string{"ct", "add", "tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--helper", "nosuchhelper"}, 1, `no helper "nosuchhelper" is registered for ipv4/tcp`},
		{[]string{"ct", "add", "udp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--helper", "ftp"}, 1, `no helper "ftp" is registered for ipv4/udp`},
		{[]string{"ct", "delete"}, 2, "use ct flush"},
		{[]string{"ct", "delete", "tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-p", "udp"}, 2, "not both"},
		{[]string{"ct", "list", "--mark", "zz"}, 2, "MARK/MASK"},
		{[]string{"ct", "list", "-s", "10.0.0.1", "-d", "fd00::1"}, 2, "mix IPv4 and IPv6"},
		{[]string{"ct", "watch", "-e", "bogus"}, 2, "want new, update, destroy"},
	} {
		r := ctCLI(t, ns, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.err, tc.want) || strings.Count(r.err, "\n") != 1 {
			t.Errorf("gonfct %s: exit %d, stderr %q; want exit %d and one line with %q", strings.Join(tc.args, " "), r.code, r.err, tc.code, tc.want)
		}
	}
	if n := ctCount(t, ns); n != 0 {
		t.Fatalf("bad input left %d conntracks behind", n)
	}

	// Save files: truncated, corrupt, a bad entry: nothing applied.
	good := mustSaveFile(t)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"truncated", good[:len(good)/2], "line "},
		{"corrupt", strings.Replace(good, `"mark":`, `"mark"`, 1), "column"},
		{"bad entry", strings.Replace(good, `"src":"10.4.0.2"`, `"src":"10.4.0.256"`, 1), "conntracks[1]"},
		{"empty", "", "ends early"},
		{"other json", `[1,2,3]`, "not a gonfct ct save file"},
	} {
		r := ctCLI(t, ns, tc.in, "ct", "restore")
		if r.code != 2 || !strings.Contains(r.err, tc.want) {
			t.Errorf("restore %s: exit %d, %q; want exit 2 with %q", tc.name, r.code, r.err, tc.want)
		}
		if n := ctCount(t, ns); n != 0 {
			t.Fatalf("restore %s applied %d conntracks", tc.name, n)
		}
	}
	// --continue applies the good entries, names the bad one, exits 1.
	bad := strings.Replace(good, `"src":"10.4.0.2"`, `"src":"10.4.0.256"`, 1)
	r := ctCLI(t, ns, bad, "ct", "restore", "--continue")
	if r.code != 1 || !strings.Contains(r.err, "restored 2, updated 0, skipped 1") || !strings.Contains(r.err, "skipped conntracks[1]") {
		t.Errorf("restore --continue: exit %d %q", r.code, r.err)
	}
	if n := ctCount(t, ns); n != 2 {
		t.Errorf("restore --continue applied %d conntracks, want 2", n)
	}
}

// mustSaveFile makes a three-entry save file in a scratch namespace.
func mustSaveFile(t *testing.T) string {
	ns := nstest.New(t)
	for i := 1; i <= 3; i++ {
		mustCtCLI(t, ns, "", "ct", "add", "-t", "500", "tcp", "10.4.0."+strconv.Itoa(i), "10.4.0.100", "1000", "80")
	}
	// Entries are streamed in table order: sort them for a stable index.
	r := mustCtCLI(t, ns, "", "ct", "save", "-q", "-s", "10.4.0.1")
	r2 := mustCtCLI(t, ns, "", "ct", "save", "-q", "-s", "10.4.0.2")
	r3 := mustCtCLI(t, ns, "", "ct", "save", "-q", "-s", "10.4.0.3")
	line := func(s string) string {
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(strings.TrimPrefix(l, ","), `{"family"`) {
				return strings.TrimPrefix(l, ",")
			}
		}
		t.Fatalf("no entry in %s", s)
		return ""
	}
	return `{"version":1,"conntracks":[` + "\n" + line(r.out) + ",\n" + line(r2.out) + ",\n" + line(r3.out) + "\n" + `],"expectations":[]}` + "\n"
}

// Restore refuses to change a helper in place; --replace re-creates.
func TestCtRestoreHelperConflict(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	mustCtCLI(t, a, "", "ct", "add", "-t", "500", "--helper", "ftp", "tcp", "10.5.0.1", "10.5.0.2", "1000", "21")
	save := mustCtCLI(t, a, "", "ct", "save").out
	mustCtCLI(t, b, "", "ct", "add", "-t", "500", "tcp", "10.5.0.1", "10.5.0.2", "1000", "21")
	r := ctCLI(t, b, save, "ct", "restore")
	if r.code != 1 || !strings.Contains(r.err, "only at creation") || !strings.Contains(r.err, "--replace") {
		t.Errorf("restore over a helperless conntrack: exit %d %q", r.code, r.err)
	}
	r = mustCtCLI(t, b, save, "ct", "restore", "--replace")
	if !strings.Contains(r.err, "restored 0, updated 1, skipped 0") {
		t.Errorf("restore --replace: %q", r.err)
	}
	if got := mustCtCLI(t, b, "", "ct", "list", "--helper", "ftp", "-q").out; strings.Count(got, "\n") != 1 {
		t.Errorf("after --replace: %q", got)
	}
}

// The failover scenario: fill namespace A with conntracks (some with
// helpers, one expected connection) and expectations, save, restore into a
// fresh namespace B, and B's table equals A's in every saved field.
func TestCtFailoverSaveRestore(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	// Both firewalls' rulesets use conntrack labels, so both keep them.
	for _, ns := range []*nstest.NS{a, b} {
		useLabels(t, ns)
	}
	mustCtCLI(t, a, "", "ct", "add", "-t", "3000", "--label", "1,5,100", "--mark", "7", "udp", "10.6.9.1", "10.6.9.2", "53", "53")
	for i := 0; i < 20; i++ {
		mustCtCLI(t, a, "", "ct", "add", "-t", "3000", "--state", "ESTABLISHED", "--status", "assured,seen-reply",
			"--helper", "ftp", "--mark", strconv.Itoa(i), "tcp", "10.6.0."+strconv.Itoa(i+1), "10.6.1.1", strconv.Itoa(30000+i), "21")
		mustCtCLI(t, a, "", "ct", "add", "-t", "2000", "--state", "SYN_SENT", "tcp", "10.6.2."+strconv.Itoa(i+1), "10.6.1.1", strconv.Itoa(30000+i), "443")
	}
	mustCtCLI(t, a, "", "ct", "add", "-t", "2000", "--helper", "ftp", "--state", "ESTABLISHED", "--status", "seen-reply", "tcp", "fd00::1", "fd00::21", "40000", "21")
	mustCtCLI(t, a, "", "ct", "add", "-t", "900", "--helper", "tftp", "--zone", "5", "--mark", "99", "udp", "10.6.3.1", "10.6.3.2", "5000", "69")
	mustCtCLI(t, a, "", "ct", "add", "-t", "900", "--helper", "sip", "udp", "10.6.3.1", "10.6.3.3", "5060", "5060")
	mustCtCLI(t, a, "", "ct", "add", "-t", "60", "icmp", "10.6.4.1", "10.6.4.2", "8", "0", "1234")
	mustCtCLI(t, a, "", "ct", "add", "-t", "60", "gre", "10.6.5.1", "10.6.5.2")

	// Expectations on some masters (IPv4, IPv6, and the zoned tftp master).
	for i := 0; i < 5; i++ {
		mustCtCLI(t, a, "", "expect", "add", "--master", fmt.Sprintf("tcp 10.6.0.%d 10.6.1.1 %d 21", i+1, 30000+i),
			"--tuple", fmt.Sprintf("tcp 10.6.1.1 10.6.0.%d 0 %d", i+1, 50000+i), "--mask", "src=/32 sport=0")
	}
	mustCtCLI(t, a, "", "expect", "add", "--master", "tcp fd00::1 fd00::21 40000 21", "--tuple", "tcp fd00::21 fd00::1 0 50100",
		"--mask", "src=/128 sport=0")
	mustCtCLI(t, a, "", "expect", "add", "--master", "udp 10.6.3.1 10.6.3.2 5000 69", "--zone", "5",
		"--tuple", "udp 10.6.3.2 10.6.3.1 0 5000", "--mask", "src=/32 sport=0")
	// An expected connection: a conntrack whose master is an ftp control
	// connection (as the kernel makes when the data channel arrives).
	ca := a.Dial()
	related := ctflow.Flow{Family: unix.AF_INET, Timeout: 700, Set: ctflow.HasTimeout | ctflow.HasMaster,
		Orig:   ctnetlink.Tuple{Src: netip.MustParseAddr("10.6.1.1"), Dst: netip.MustParseAddr("10.6.0.10"), Proto: 6, SrcPort: 20, DstPort: 50009},
		Master: ctnetlink.Tuple{Src: netip.MustParseAddr("10.6.0.10"), Dst: netip.MustParseAddr("10.6.1.1"), Proto: 6, SrcPort: 30009, DstPort: 21}}
	related.Reply = ctflow.Invert(related.Orig)
	if err := ctflow.NewClient(ca).Create(&related); err != nil {
		t.Fatalf("create expected conntrack: %v", err)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")
	r := mustCtCLI(t, a, "", "ct", "save", "--file", file)
	if r.err != "gonfct: 47 flow entries and 7 expectations have been saved.\n" {
		t.Fatalf("save: %q", r.err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r = mustCtCLI(t, b, string(data), "ct", "restore")
	if r.err != "gonfct: restored 54, updated 0, skipped 0\n" {
		t.Fatalf("restore: %q", r.err)
	}
	compareTables(t, a, b)

	// Idempotent: a second restore updates, creates nothing, changes nothing.
	r = mustCtCLI(t, b, string(data), "ct", "restore", file)
	if r.err != "gonfct: restored 0, updated 54, skipped 0\n" {
		t.Fatalf("second restore: %q", r.err)
	}
	compareTables(t, a, b)
	// A dry run reports and changes nothing.
	mustCtCLI(t, b, "", "ct", "flush")
	r = mustCtCLI(t, b, "", "ct", "restore", "--dry-run", file)
	if !strings.Contains(r.err, "would restore 54, would update 0") || strings.Count(r.out, "would create") != 47 || ctCount(t, b) != 0 {
		t.Errorf("dry run: %q, %d lines, %d conntracks", r.err, strings.Count(r.out, "\n"), ctCount(t, b))
	}
	// Its actions through -o: one JSON array, or a table.
	r = mustCtCLI(t, b, "", "-o", "json", "ct", "restore", "--dry-run", "-q", file)
	var actions []struct {
		Action      string          `json:"action"`
		DryRun      bool            `json:"dry_run"`
		Conntrack   json.RawMessage `json:"conntrack"`
		Expectation json.RawMessage `json:"expectation"`
	}
	if err := json.Unmarshal([]byte(r.out), &actions); err != nil || len(actions) != 54 || r.err != "" {
		t.Fatalf("dry run -o json -q: %v, %d actions, stderr %q", err, len(actions), r.err)
	}
	kinds := map[string]int{}
	for _, a := range actions {
		if !a.DryRun || (a.Conntrack == nil) == (a.Expectation == nil) {
			t.Errorf("action %+v", a)
		}
		kinds[a.Action]++
	}
	if kinds["create"] != 47 || kinds["restore"] != 7 {
		t.Errorf("actions %v, want 47 create and 7 restore", kinds)
	}
	r = mustCtCLI(t, b, "", "-o", "table", "ct", "restore", "--dry-run", file)
	if !strings.Contains(r.out, "ACTION") || strings.Count(r.out, "would create") != 47 || ctCount(t, b) != 0 {
		t.Errorf("dry run -o table:\n%s", r.out)
	}
}

func flowKey(f *ctflow.Flow) string { return f.Orig.String() + fmt.Sprintf(" zone=%d", f.Zone) }

func compareTables(t *testing.T, a, b *nstest.NS) {
	t.Helper()
	read := func(ns *nstest.NS) map[string]ctflow.Flow {
		m := map[string]ctflow.Flow{}
		if err := ctflow.NewClient(ns.Dial()).List(ctflow.Filter{}, func(f *ctflow.Flow) error {
			m[flowKey(f)] = *f
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	fa, fb := read(a), read(b)
	if len(fa) != len(fb) {
		t.Errorf("A has %d conntracks, B %d", len(fa), len(fb))
	}
	for k, x := range fa {
		y, ok := fb[k]
		if !ok {
			t.Errorf("B lacks %s", k)
			continue
		}
		if d := ctflow.SameState(&x, &y); d != "" {
			t.Errorf("%s differs:\n%s", k, d)
		}
		if math.Abs(float64(x.Timeout)-float64(y.Timeout)) > 5 {
			t.Errorf("%s: timeout %d in A, %d in B", k, x.Timeout, y.Timeout)
		}
	}
	readExp := func(ns *nstest.NS) map[string]expect.Expectation {
		m := map[string]expect.Expectation{}
		if err := expect.NewClient(ns.Dial()).Dump(expect.ListOptions{}, func(e *expect.Expectation) error {
			m[e.Tuple.String()] = *e
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ea, eb := readExp(a), readExp(b)
	if len(ea) != len(eb) || len(ea) != 7 {
		t.Errorf("A has %d expectations, B %d (want 7)", len(ea), len(eb))
	}
	for k, x := range ea {
		y, ok := eb[k]
		if !ok {
			t.Errorf("B lacks expectation %s", k)
			continue
		}
		if x.Mask != y.Mask || x.Master != y.Master || x.Flags != y.Flags || x.Class != y.Class || x.Helper != y.Helper || x.NAT != y.NAT || x.Fn != y.Fn {
			t.Errorf("expectation %s differs:\nA %+v\nB %+v", k, x, y)
		}
		if math.Abs(float64(x.Timeout)-float64(y.Timeout)) > 5 {
			t.Errorf("expectation %s: timeout %d in A, %d in B", k, x.Timeout, y.Timeout)
		}
	}
}

func TestCtWatchEvents(t *testing.T) {
	ns := nstest.New(t)
	done := make(chan ctResult, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run([]string{"--netns", ns.Name, "ct", "watch", "--count", "6", "--timeout", "20s", "-p", "udp", "-b", "8M"}, strings.NewReader(""), &out, &errb)
		done <- ctResult{out.String(), errb.String(), code}
	}()
	// The watcher subscribes asynchronously: repeat the add/update/delete
	// cycle (of flows it must see, behind one it must not) until it has
	// seen three events.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r ctResult
	for i := 0; ; i++ {
		port := strconv.Itoa(3000 + i)
		mustCtCLI(t, ns, "", "ct", "add", "-t", "100", "tcp", "10.7.0.1", "10.7.0.2", port, "80")
		mustCtCLI(t, ns, "", "ct", "add", "-t", "100", "udp", "10.7.0.1", "10.7.0.2", port, "53")
		mustCtCLI(t, ns, "", "ct", "update", "-t", "50", "udp", "10.7.0.1", "10.7.0.2", port, "53")
		mustCtCLI(t, ns, "", "ct", "delete", "udp", "10.7.0.1", "10.7.0.2", port, "53")
		select {
		case r = <-done:
		case <-time.After(200 * time.Millisecond):
			if ctx.Err() != nil {
				t.Fatal("watch saw no events")
			}
			continue
		}
		break
	}
	// -b takes a size with a unit, as expect watch's does.
	if r.code != 0 || r.err != "gonfct: 6 flow events have been shown.\n" {
		t.Fatalf("watch -b 8M: exit %d %q", r.code, r.err)
	}
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if len(lines) != 6 || strings.Contains(r.out, "tcp ") {
		t.Fatalf("watch printed:\n%s", r.out)
	}
	// The watcher may subscribe in the middle of a cycle; within six
	// events there is a whole one: NEW, UPDATE, DESTROY of one flow, in
	// conntrack -E's format.
	want := []string{"    [NEW] udp      17 100 ", " [UPDATE] udp      17 50 ", "[DESTROY] udp      17 "}
	whole := false
	for i := 0; i+3 <= len(lines) && !whole; i++ {
		sport := strings.Fields(lines[i])
		whole = true
		for j, p := range want {
			if !strings.HasPrefix(lines[i+j], p) || len(sport) < 7 || !strings.Contains(lines[i+j], sport[6]+" ") {
				whole = false
			}
		}
	}
	if !whole {
		t.Errorf("no NEW, UPDATE, DESTROY of one flow with prefixes %q in:\n%s", want, r.out)
	}
}

// Overflow the event socket: watch reports the exact loss on stderr,
// resyncs from a dump and goes on. The burst comes from `conntrack -R`, a
// process of its own at full speed whatever instruments this test binary
// (under the race detector an in-process restore is slow enough for the
// watcher to keep up).
func TestCtWatchLossResync(t *testing.T) {
	ns := nstest.New(t)
	var sb strings.Builder
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&sb, "-I -s 10.8.%d.%d -d 10.9.0.1 -p udp --sport 1000 --dport 53 -t 600\n", i/256, i%256)
	}
	burst := filepath.Join(t.TempDir(), "burst")
	if err := os.WriteFile(burst, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan ctResult, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run([]string{"--netns", ns.Name, "ct", "watch", "-e", "new", "-b", "1", "--timeout", "8s"}, strings.NewReader(""), &out, &errb)
		done <- ctResult{out.String(), errb.String(), code}
	}()
	time.Sleep(time.Second)
	ns.MustRun("conntrack", "-R", burst)
	r := <-done
	if r.code != 0 {
		t.Fatalf("watch: exit %d %q", r.code, r.err)
	}
	lost, shown := 0, -1
	for _, l := range strings.Split(strings.TrimSpace(r.err), "\n") {
		var n int
		if _, err := fmt.Sscanf(l, "gonfct: lost %d conntrack events", &n); err == nil {
			lost += n
		} else if _, err := fmt.Sscanf(l, "gonfct: %d flow events have been shown.", &shown); err != nil {
			t.Fatalf("unexpected stderr line %q", l)
		}
	}
	news, resyncs := strings.Count(r.out, "    [NEW] "), strings.Count(r.out, " [RESYNC] ")
	if shown != news+resyncs {
		t.Errorf("count line says %d events shown, %d printed", shown, news+resyncs)
	}
	if lost == 0 || resyncs == 0 {
		t.Fatalf("a 20000-event burst into a minimal buffer: lost %d, resync lines %d", lost, resyncs)
	}
	// Every event is either printed or counted as lost.
	if news+lost != 20000 {
		t.Errorf("printed %d NEW events and counted %d lost: want 20000 together", news, lost)
	}
	t.Logf("%d events printed, %d lost and reported, %d entries resynced", news, lost, resyncs)
}

// ct watch prints what conntrack -E prints for the same events (up to the
// "progname=", which each tool looks up when it sees the event).
func TestCtWatchMatchesConntrackE(t *testing.T) {
	ns := nstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ce := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "conntrack", "-E", "-p", "tcp")
	var ceOut bytes.Buffer
	ce.Stdout = &ceOut
	ce.Cancel = func() error { return ce.Process.Signal(os.Interrupt) }
	if err := ce.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan ctResult, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run([]string{"--netns", ns.Name, "ct", "watch", "-p", "tcp", "--count", "3", "--timeout", "15s"}, strings.NewReader(""), &out, &errb)
		done <- ctResult{out.String(), errb.String(), code}
	}()
	time.Sleep(1500 * time.Millisecond) // both subscribe
	tu := []string{"tcp", "10.7.1.1", "10.7.1.2", "4000", "21"}
	mustCtCLI(t, ns, "", append([]string{"ct", "add", "-t", "100", "--helper", "ftp", "--state", "ESTABLISHED", "--mark", "3"}, tu...)...)
	mustCtCLI(t, ns, "", append([]string{"ct", "update", "-t", "50", "--status", "seen-reply"}, tu...)...)
	mustCtCLI(t, ns, "", append([]string{"ct", "delete"}, tu...)...)
	r := <-done
	time.Sleep(300 * time.Millisecond)
	cancel()
	_ = ce.Wait()
	if r.code != 0 {
		t.Fatalf("watch: exit %d %q", r.code, r.err)
	}
	strip := func(s string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			if i := strings.Index(l, " progname="); i >= 0 {
				l = l[:i]
			}
			out = append(out, l)
		}
		return out
	}
	got, want := strip(r.out), strip(ceOut.String())
	if len(got) != 3 || len(want) != 3 {
		t.Fatalf("gonfct:\n%s\nconntrack -E:\n%s", r.out, ceOut.String())
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("event %d:\n gonfct    %q\n conntrack %q", i, got[i], want[i])
		}
		if !strings.Contains(got[i], "[USERSPACE] portid=") {
			t.Errorf("event %d lacks the requester: %q", i, got[i])
		}
	}
}

// useLabels loads a ruleset that uses conntrack labels: only then does the
// kernel give conntracks a label extension.
func useLabels(t *testing.T, ns *nstest.NS) {
	t.Helper()
	ns.MustRun("nft", "add table inet gonfct_t; add chain inet gonfct_t c; add rule inet gonfct_t c ct label set 0")
}

// Without a label user the kernel drops labels silently: ct add says so
// and takes the conntrack back; restore keeps the conntrack and warns.
func TestCtLabelsNeedARuleset(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	r := ctCLI(t, b, "", "ct", "add", "-t", "100", "--label", "3", "udp", "10.6.9.1", "10.6.9.2", "53", "53")
	if r.code != 1 || !strings.Contains(r.err, "labels") || !strings.Contains(r.err, "nothing was added") || ctCount(t, b) != 0 {
		t.Errorf("ct add --label without label users: exit %d %q, %d conntracks", r.code, r.err, ctCount(t, b))
	}
	useLabels(t, a)
	mustCtCLI(t, a, "", "ct", "add", "-t", "100", "--label", "3", "udp", "10.6.9.1", "10.6.9.2", "53", "53")
	if out := mustCtCLI(t, a, "", "ct", "list", "-o", "json", "-q").out; !strings.Contains(out, `"labels":[3]`) {
		t.Fatalf("labels not kept with a label user: %s", out)
	}
	save := mustCtCLI(t, a, "", "ct", "save").out
	r = mustCtCLI(t, b, save, "ct", "restore")
	if !strings.Contains(r.err, "restored 1, updated 0, skipped 0") || !strings.Contains(r.err, "warning: conntracks[0]") || ctCount(t, b) != 1 {
		t.Errorf("restore without label users: %q", r.err)
	}
}
