//go:build hosttest

package e2e

import (
	"bytes"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// conntrack(8)'s words under `gonfct ct`, checked against conntrack 1.4.7
// itself in the same namespace: same selection, same bytes.

// conntrackOut runs conntrack in the namespace and returns its stdout and
// stderr apart (its count line goes to stderr).
func conntrackOut(t *testing.T, ns *nstest.NS, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, "conntrack"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("conntrack %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

var (
	// What ticks between two listings: the timeout (after the protocol
	// number, or -t in save lines) and delta-time.
	tickingTimeout = regexp.MustCompile(`^((?:ipv[46] +\d+ )?[a-z]+ +\d+ )\d+ `)
	tickingSave    = regexp.MustCompile(`^(-[AIU] -t )\d+ `)
	tickingDelta   = regexp.MustCompile(`delta-time=\d+ `)
)

// sameLines compares two listings line by line, in sorted order, with
// the ticking numbers masked.
func sameLines(t *testing.T, what, got, want string) {
	t.Helper()
	norm := func(s string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			if l == "" {
				continue
			}
			l = tickingTimeout.ReplaceAllString(l, "${1}T ")
			l = tickingSave.ReplaceAllString(l, "${1}T ")
			l = tickingDelta.ReplaceAllString(l, "delta-time=D ")
			out = append(out, l)
		}
		sort.Strings(out)
		return out
	}
	g, w := norm(got), norm(want)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("%s differs from conntrack's\ngonfct:\n%s\nconntrack:\n%s", what, got, want)
	}
}

// compatFlows fills the namespace with flows of several kinds.
func compatFlows(t *testing.T, ns *nstest.NS) {
	t.Helper()
	for _, args := range [][]string{
		{"tcp", "10.0.0.1", "10.0.0.2", "40000", "21", "-t", "500", "--state", "ESTABLISHED", "--status", "assured,seen-reply", "--helper", "ftp"},
		{"tcp", "10.0.0.1", "10.0.0.2", "40001", "80", "-t", "500", "--state", "SYN_SENT", "--mark", "7"},
		{"udp", "10.0.0.5", "10.0.0.6", "5000", "69", "-t", "300", "--zone", "3"},
		{"udp", "10.0.0.5", "10.0.0.6", "5001", "53", "-t", "300", "--status", "seen-reply"},
		{"icmp", "10.0.0.1", "10.0.0.9", "8", "0", "77", "-t", "30"},
		{"tcp", "fd00::1", "fd00::2", "1000", "22", "-t", "100", "--state", "TIME_WAIT", "--status", "seen-reply"},
		{"udp", "fd00::1", "fd00::2", "1000", "53", "-t", "100"},
	} {
		mustCtCLI(t, ns, "", append([]string{"ct", "add"}, args...)...)
	}
}

// -u/--status with conntrack's words and negation selects what conntrack
// -L -u selects; the count line is conntrack's.
func TestCtListStatusMatchesConntrack(t *testing.T) {
	ns := nstest.New(t)
	compatFlows(t, ns)
	for _, st := range []string{"UNREPLIED", "SEEN_REPLY", "ASSURED", "!ASSURED", "assured", "!ASSURED,UNREPLIED", "!EXPECTED"} {
		want, wantErr := conntrackOut(t, ns, "-L", "-u", st)
		r := mustCtCLI(t, ns, "", "ct", "list", "-u", st)
		sameLines(t, "ct list -u "+st, r.out, want)
		if strings.TrimPrefix(wantErr, "conntrack v1.4.7 (conntrack-tools): ") != strings.TrimPrefix(r.err, "gonfct: ") {
			t.Errorf("-u %s: count line %q, conntrack %q", st, r.err, wantErr)
		}
	}
	// A set bit and a clear one together: conntrack 1.4.7 selects nothing
	// (docs/migration.md), gonfct what the words say.
	if n := strings.Count(mustCtCLI(t, ns, "", "ct", "list", "-q", "--status", "seen-reply,!assured").out, "\n"); n != 2 {
		t.Errorf("--status seen-reply,!assured: %d flows, want 2", n)
	}
	r := ctCLI(t, ns, "", "ct", "list", "-u", "assured,!assured")
	if r.code != 2 || !strings.Contains(r.err, "nothing can match") {
		t.Errorf("contradiction: exit %d %q", r.code, r.err)
	}
	r = ctCLI(t, ns, "", "ct", "list", "-u", "unassured")
	if r.code != 2 || !strings.Contains(r.err, "leading ! means") {
		t.Errorf("unknown status: exit %d %q", r.code, r.err)
	}
}

// ct count is conntrack -C; ct stats is conntrack -S (the counters move
// between the two reads only if packets flow, and none do here).
func TestCtCountStatsMatchConntrack(t *testing.T) {
	ns := nstest.New(t)
	compatFlows(t, ns)
	want, _ := conntrackOut(t, ns, "-C")
	if r := mustCtCLI(t, ns, "", "ct", "count"); r.out != want || want != "7\n" || r.err != "" {
		t.Errorf("ct count %q (stderr %q), conntrack -C %q", r.out, r.err, want)
	}
	if r := mustCtCLI(t, ns, "", "ct", "count", "-u", "unreplied"); r.out != "4\n" {
		t.Errorf("ct count -u unreplied: %q", r.out)
	}
	want, _ = conntrackOut(t, ns, "-S")
	if r := mustCtCLI(t, ns, "", "ct", "stats"); r.out != want || !strings.Contains(want, "insert=") {
		t.Errorf("ct stats:\n%s\nconntrack -S:\n%s", r.out, want)
	}
}

// ct list dying / unconfirmed read the kernel's other lists, as conntrack
// -L dying / unconfirmed do. Deleted conntracks whose destroy events a
// reliable listener (NETLINK_BROADCAST_ERROR, as conntrackd's reliable
// mode) could not take wait on the dying list: both tools show them, the
// same lines. Linux 6.x keeps no unconfirmed list: both show nothing.
func TestCtListDyingUnconfirmed(t *testing.T) {
	ns := nstest.New(t)
	// A listener to NFNLGRP_CONNTRACK_DESTROY that asks for delivery
	// errors and never reads: its one-byte buffer fills at once.
	listener := exec.Command("ip", "netns", "exec", ns.Name, "/usr/bin/python3", "-c", `
import socket, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.setsockopt(270, 4, 1)  # SOL_NETLINK, NETLINK_BROADCAST_ERROR
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind((0, 1 << 2))  # NFNLGRP_CONNTRACK_DESTROY
print("ready", flush=True)
sys.stdin.read()
`)
	stdin, err := listener.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := listener.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = listener.Wait() }()
	if _, err := stdout.Read(make([]byte, 6)); err != nil {
		t.Fatalf("listener: %v", err)
	}
	for port := 1; port <= 20; port++ {
		mustCtCLI(t, ns, "", "ct", "add", "udp", "10.0.1.1", "10.0.1.2", strconv.Itoa(port), "53", "-t", "300")
	}
	mustCtCLI(t, ns, "", "ct", "add", "tcp", "10.0.1.1", "10.0.1.2", "1", "80", "-t", "300")
	mustCtCLI(t, ns, "", "ct", "delete", "-q", "-p", "udp", "--dport", "53")

	want, wantErr := conntrackOut(t, ns, "-L", "dying")
	r := mustCtCLI(t, ns, "", "ct", "list", "dying")
	if n := strings.Count(want, "dport=53 "); n < 10 {
		t.Fatalf("conntrack -L dying shows %d of the 20 deleted conntracks:\n%s", n, want)
	}
	sameLines(t, "ct list dying", r.out, want)
	if strings.TrimPrefix(wantErr, "conntrack v1.4.7 (conntrack-tools): ") != strings.TrimPrefix(r.err, "gonfct: ") {
		t.Errorf("count lines %q, conntrack %q", r.err, wantErr)
	}
	if r := mustCtCLI(t, ns, "", "ct", "list", "-q"); strings.Contains(r.out, "dport=53 ") || !strings.Contains(r.out, "dport=80 ") {
		t.Errorf("main table after the delete: %s", r.out)
	}
	// The first few destroy events fit the listener's buffer and leave
	// the dying list: filter on a port conntrack shows there.
	sport := regexp.MustCompile(`sport=(\d+) dport=53 `).FindStringSubmatch(want)[1]
	if r := mustCtCLI(t, ns, "", "ct", "list", "dying", "-q", "--sport", sport); strings.Count(r.out, "\n") != 1 || !strings.Contains(r.out, "sport="+sport+" dport=53 ") {
		t.Errorf("ct list dying --sport %s: %q", sport, r.out)
	}

	want, wantErr = conntrackOut(t, ns, "-L", "unconfirmed")
	r = mustCtCLI(t, ns, "", "ct", "list", "unconfirmed")
	if r.out != want || r.err != "gonfct: 0 flow entries have been shown.\n" || !strings.Contains(wantErr, ": 0 flow entries") {
		t.Errorf("ct list unconfirmed: %q %q; conntrack %q %q", r.out, r.err, want, wantErr)
	}
	if r := ctCLI(t, ns, "", "ct", "list", "expect"); r.code != 2 || !strings.Contains(r.err, "gonfct expect list") {
		t.Errorf("ct list expect: exit %d %q", r.code, r.err)
	}
}

// ct update with filters changes every conntrack they select, as
// conntrack -U does, and says how many; labels are added and deleted bit
// by bit, and -l/--label selects by label in list, update and delete.
func TestCtUpdateByFilterAndLabels(t *testing.T) {
	withLabelNames(t)
	a, b := nstest.New(t), nstest.New(t)
	for _, ns := range []*nstest.NS{a, b} {
		useLabels(t, ns)
		compatFlows(t, ns)
	}
	// The same bulk change by both tools gives the same table.
	_, wantErr := conntrackOut(t, a, "-U", "-s", "10.0.0.0/24", "-p", "tcp", "-m", "42")
	r := mustCtCLI(t, b, "", "ct", "update", "-s", "10.0.0.0/24", "-p", "tcp", "-m", "42")
	if r.err != "gonfct: 2 flow entries have been updated.\n" || !strings.Contains(wantErr, "2 flow entries have been updated") {
		t.Errorf("count lines %q, conntrack %q", r.err, wantErr)
	}
	wantL, _ := conntrackOut(t, a, "-L")
	gotL, _ := conntrackOut(t, b, "-L")
	sameLines(t, "table after ct update -s -p -m", gotL, wantL)
	if n := strings.Count(mustCtCLI(t, b, "", "ct", "list", "-q", "--mark", "42").out, "\n"); n != 2 {
		t.Errorf("%d conntracks got mark 42, want 2", n)
	}

	// Labels: conntrack -U --label-add, then gonfct's, then the filter.
	// (conntrack 1.4.7's -U --label-add fails with EOPNOTSUPP on IPv4
	// conntracks on Linux 6.18: compared on IPv6.)
	conntrackOut(t, a, "-U", "-f", "ipv6", "-p", "tcp", "--label-add", "one")
	mustCtCLI(t, b, "", "ct", "update", "-q", "-f", "ipv6", "-p", "tcp", "--label-add", "one")
	wantL, _ = conntrackOut(t, a, "-L", "-o", "labels")
	gotL = mustCtCLI(t, b, "", "ct", "list", "-q", "-o", "labels").out
	sameLines(t, "labels after --label-add", gotL, wantL)
	mustCtCLI(t, b, "", "ct", "update", "-q", "-p", "tcp", "--label-add", "one")
	gotL = mustCtCLI(t, b, "", "ct", "list", "-q", "-o", "labels").out
	if strings.Count(gotL, "labels=one") != 3 {
		t.Errorf("--label-add one on the 3 tcp conntracks:\n%s", gotL)
	}
	mustCtCLI(t, b, "", "ct", "update", "-q", "-l", "one", "--dport", "21", "--label-add", "five")
	want, _ := conntrackOut(t, b, "-L", "-l", "five")
	got := mustCtCLI(t, b, "", "ct", "list", "-q", "-l", "five").out
	sameLines(t, "ct list -l five", got, want)
	if strings.Count(got, "\n") != 1 || !strings.Contains(got, "dport=21 ") {
		t.Errorf("ct list -l five: %q", got)
	}
	mustCtCLI(t, b, "", "ct", "update", "-q", "-l", "five", "--label-del", "one")
	if got := mustCtCLI(t, b, "", "ct", "list", "-q", "-o", "labels", "-l", "five").out; !strings.Contains(got, " labels=five\n") {
		t.Errorf("after --label-del one: %q", got)
	}
	mustCtCLI(t, b, "", "ct", "update", "-q", "-p", "tcp", "--label-del", "all")
	if got := mustCtCLI(t, b, "", "ct", "list", "-q", "-o", "labels").out; strings.Contains(got, "labels=") {
		t.Errorf("after --label-del all: %q", got)
	}
	if r := mustCtCLI(t, b, "", "ct", "delete", "-l", "one"); r.err != "gonfct: 0 flow entries have been deleted.\n" {
		t.Errorf("delete -l one: %q", r.err)
	}
	// conntrack -U cannot reach a conntrack in a zone; gonfct can.
	if r := mustCtCLI(t, b, "", "ct", "update", "-p", "udp", "--dport", "69", "-m", "43"); r.err != "gonfct: 1 flow entries have been updated.\n" {
		t.Errorf("update of a zoned conntrack: %q", r.err)
	}
	for _, bad := range [][]string{
		{"update", "tcp", "10.0.0.1", "10.0.0.2", "40000", "21", "-l", "one", "-m", "1"},
		{"update", "-m", "1"},
		{"update", "-p", "tcp", "--label-add", "one", "--label-del", "one"},
	} {
		if r := ctCLI(t, b, "", append([]string{"ct"}, bad...)...); r.code != 2 {
			t.Errorf("ct %v: exit %d %q", bad, r.code, r.err)
		}
	}
}

// conntrack's command letters and long option words under `gonfct ct`
// select what they select in conntrack; -q ADDR, conntrack's reply
// destination, is refused with the fix instead of meaning --quiet.
func TestCtConntrackWords(t *testing.T) {
	ns := nstest.New(t)
	compatFlows(t, ns)
	for _, args := range [][]string{
		{"-L", "-p", "tcp", "--orig-port-dst", "21"},
		{"-L", "--orig-src", "10.0.0.5", "-p", "udp", "--reply-port-src", "53"},
		{"-L", "-r", "10.0.0.6", "-p", "udp", "--reply-port-dst", "5000"},
		{"--dump", "--orig-dst", "fd00::2", "-w", "0"},
		{"-L", "-w", "3"},
		{"-C"},
		{"-S"},
	} {
		want, wantErr := conntrackOut(t, ns, args...)
		r := mustCtCLI(t, ns, "", append([]string{"ct"}, args...)...)
		sameLines(t, "ct "+strings.Join(args, " "), r.out, want)
		if strings.TrimPrefix(wantErr, "conntrack v1.4.7 (conntrack-tools): ") != strings.TrimPrefix(r.err, "gonfct: ") {
			t.Errorf("ct %v: count line %q, conntrack %q", args, r.err, wantErr)
		}
		if args[0] == "-L" && strings.Contains(wantErr, " 0 flow") {
			t.Errorf("conntrack %v selects nothing: a weak comparison", args)
		}
	}
	// -D and -U with filters, by letter.
	if r := mustCtCLI(t, ns, "", "ct", "-U", "-p", "icmp", "-m", "5"); r.err != "gonfct: 1 flow entries have been updated.\n" {
		t.Errorf("ct -U: %q", r.err)
	}
	if r := mustCtCLI(t, ns, "", "ct", "-D", "-m", "5"); r.err != "gonfct: 1 flow entries have been deleted.\n" {
		t.Errorf("ct -D: %q", r.err)
	}
	for _, args := range [][]string{{"-L", "-q", "10.0.0.5"}, {"-D", "-q", "10.0.0.5"}, {"list", "-p", "udp", "-q", "fd00::1"}, {"-E", "-q", "10.0.0.5"}} {
		r := ctCLI(t, ns, "", append([]string{"ct"}, args...)...)
		if r.code != 2 || !strings.Contains(r.err, "--reply-dst "+args[len(args)-1]) {
			t.Errorf("ct %v: exit %d %q", args, r.code, r.err)
		}
	}
	if n := ctCount(t, ns); n != 6 {
		t.Errorf("%d conntracks left, want 6: a refused -q deleted something", n)
	}
}
