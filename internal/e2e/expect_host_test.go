//go:build hosttest

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
)

// newMasterCT creates a conntrack with a helper by raw ctnetlink
// (IPCTNL_MSG_CT_NEW with CTA_HELP), which conntrack -I cannot do.
func newMasterCT(t testing.TB, ns *nstest.NS, words, helper string) ctnetlink.Tuple {
	t.Helper()
	const ctaTupleOrig, ctaTupleReply, ctaHelp, ctaTimeout, ctaHelpName = 1, 2, 5, 7, 1
	orig, err := ctnetlink.ParseTuple(strings.Fields(words))
	if err != nil {
		t.Fatal(err)
	}
	reply := ctnetlink.Tuple{Src: orig.Dst, Dst: orig.Src, Proto: orig.Proto, SrcPort: orig.DstPort, DstPort: orig.SrcPort}
	enc := ctnl.NewEncoder(nil)
	orig.Encode(enc, ctaTupleOrig)
	reply.Encode(enc, ctaTupleReply)
	enc.Uint32(ctaTimeout, 600)
	if helper != "" {
		h := enc.Nest(ctaHelp)
		enc.String(ctaHelpName, helper)
		enc.End(h)
	}
	err = ns.Dial().Do(ctnl.Request{Op: "create master", Subsys: netfilter.NFSubsysCTNetlink, Type: 0,
		Family: netfilter.ProtoFamily(orig.Family()), Flags: netlink.Create | netlink.Excl, Attrs: enc.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	return orig
}

type expectResult struct {
	code     int
	out, err string
}

func expectRun(ns *nstest.NS, args ...string) expectResult {
	var out, errb bytes.Buffer
	code := run(append([]string{"--netns", ns.Name}, args...), strings.NewReader(""), &out, &errb)
	return expectResult{code, out.String(), errb.String()}
}

func mustExpectRun(t *testing.T, ns *nstest.NS, args ...string) expectResult {
	t.Helper()
	r := expectRun(ns, args...)
	if r.code != 0 {
		t.Fatalf("gonfct %q: exit %d, stderr %q", args, r.code, r.err)
	}
	return r
}

// noTimeout drops the leading seconds-left field of listing lines.
func expectNoTimeout(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		_, rest, _ := strings.Cut(l, " ")
		lines = append(lines, rest)
	}
	slices.Sort(lines)
	return lines
}

func TestExpectCommandsEndToEnd(t *testing.T) {
	ns := nstest.New(t)
	newMasterCT(t, ns, "tcp 10.0.0.1 10.0.0.2 40000 21", "ftp")
	newMasterCT(t, ns, "tcp 10.0.0.1 10.0.0.4 40000 21", "ftp")
	newMasterCT(t, ns, "tcp fd00::1 fd00::2 40001 21", "ftp")
	newMasterCT(t, ns, "udp 10.0.0.1 10.0.0.3 5060 5060", "sip")
	newMasterCT(t, ns, "tcp 10.0.0.1 10.0.0.9 1 80", "")

	mustExpectRun(t, ns, "expect", "add", "--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "tcp 10.0.0.2 10.0.0.1 0 50000",
		"--mask", "src=/32 sport=0", "--flags", "permanent")
	mustExpectRun(t, ns, "expect", "-I", "--master", "tcp 10.0.0.1 10.0.0.4 40000 21", "--tuple", "tcp 10.0.0.4 10.0.0.1 0 50001",
		"--expectfn", "nat-follow-master", "--nat-dir", "reply", "--nat-tuple", "192.0.2.1 1234")
	mustExpectRun(t, ns, "expect", "add", "--master", "tcp fd00::1 fd00::2 40001 21", "--tuple", "tcp fd00::2 fd00::1 0 50002",
		"--mask", "src=:: sport=0")
	mustExpectRun(t, ns, "expect", "add", "--master", "udp 10.0.0.1 10.0.0.3 5060 5060", "--tuple", "udp 10.0.0.3 10.0.0.1 0 5004",
		"--mask", "src=/32 sport=0", "--class", "2", "--helper", "sip")

	// The kernel's reasons, said plainly.
	r := expectRun(ns, "expect", "add", "--master", "tcp 10.0.0.1 10.0.0.9 1 80", "--tuple", "tcp 10.0.0.9 10.0.0.1 0 50003")
	if r.code != 1 || !strings.Contains(r.err, "master conntrack has no helper: attach one with `gonfct ct add --helper`") ||
		strings.Count(r.err, "\n") != 1 {
		t.Errorf("add to a master without helper: exit %d, %q", r.code, r.err)
	}
	r = expectRun(ns, "expect", "add", "--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "tcp 10.0.0.2 10.0.0.1 0 50009", "--class", "1")
	if r.code != 1 || !strings.Contains(r.err, "EINVAL") || !strings.Contains(r.err, "class") {
		t.Errorf("class beyond ftp's: exit %d, %q", r.code, r.err)
	}

	// list: conntrack -L expect's lines, for both families.
	r = mustExpectRun(t, ns, "expect", "list")
	if r.err != "gonfct: 4 expectations have been shown.\n" {
		t.Errorf("list stderr %q", r.err)
	}
	var theirs string
	for _, f := range []string{"ipv4", "ipv6"} {
		out, err := exec.Command("ip", "netns", "exec", ns.Name, "conntrack", "-L", "expect", "-f", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		theirs += string(out)
	}
	if ours, want := expectNoTimeout(r.out), expectNoTimeout(theirs); !slices.Equal(ours, want) {
		t.Errorf("list vs conntrack -L expect:\nours:   %q\ntheirs: %q", ours, want)
	}
	// Filters.
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"-f", "ipv6"}, 1},
		{[]string{"-p", "udp"}, 1},
		{[]string{"--helper", "ftp"}, 3},
		{[]string{"--class", "2"}, 1},
		{[]string{"--dport", "50001"}, 1},
		{[]string{"-d", "10.0.0.1", "--master-dport", "21"}, 2},
		{[]string{"--master", "tcp 10.0.0.1 10.0.0.2 40000 21"}, 1},
		{[]string{"--zone", "0"}, 4},
		{[]string{"--zone", "1"}, 0},
	} {
		r := mustExpectRun(t, ns, append([]string{"expect", "count"}, tt.args...)...)
		if r.out != fmt.Sprintf("%d\n", tt.want) {
			t.Errorf("count %q = %q, want %d", tt.args, r.out, tt.want)
		}
		r = mustExpectRun(t, ns, append([]string{"expect", "list"}, tt.args...)...)
		if n := strings.Count(r.out, "\n"); n != tt.want {
			t.Errorf("list %q printed %d lines, want %d", tt.args, n, tt.want)
		}
	}

	// JSON.
	r = mustExpectRun(t, ns, "-o", "json", "expect", "list")
	var objs []map[string]any
	if err := json.Unmarshal([]byte(r.out), &objs); err != nil || len(objs) != 4 {
		t.Fatalf("list -o json: %v, %q", err, r.out)
	}
	if r.err != "gonfct: 4 expectations have been shown.\n" {
		t.Errorf("list -o json said %q on stderr", r.err)
	}
	ids := map[string]float64{}
	for _, o := range objs {
		tu := o["tuple"].(map[string]any)
		ids[fmt.Sprint(tu["dport"])] = o["id"].(float64)
		if tu["dport"] == 50001.0 {
			nat, _ := o["nat"].(map[string]any)
			if o["expectfn"] != "nat-follow-master" || nat == nil || nat["src"] != "192.0.2.1" || nat["dir"] != "reply" {
				t.Errorf("NAT expectation in JSON: %v", o)
			}
		}
		if tu["dport"] == 50000.0 && (fmt.Sprint(o["flags"]) != "[permanent]" || o["helper"] != "ftp") {
			t.Errorf("flags/helper in JSON: %v", o)
		}
	}
	r = mustExpectRun(t, ns, "-o", "table", "expect", "list")
	if !strings.Contains(r.out, "TIMEOUT") || !strings.Contains(r.out, "10.0.0.2:0 -> 10.0.0.1:50000") {
		t.Errorf("table: %q", r.out)
	}

	// get.
	r = mustExpectRun(t, ns, "expect", "get", "proto=udp", "src=10.0.0.3", "dst=10.0.0.1", "sport=0", "dport=5004")
	if !strings.Contains(r.out, "class=2 helper=sip") || strings.Count(r.out, "\n") != 1 {
		t.Errorf("get: %q", r.out)
	}
	r = mustExpectRun(t, ns, "-o", "json", "expect", "get", "tcp", "fd00::2", "fd00::1", "0", "50002")
	var one map[string]any
	if err := json.Unmarshal([]byte(r.out), &one); err != nil || one["family"] != "ipv6" {
		t.Errorf("get -o json: %v, %q", err, r.out)
	}
	r = expectRun(ns, "expect", "get", "tcp", "10.0.0.2", "10.0.0.1", "0", "1")
	if r.code != 1 || !strings.Contains(r.err, "no such expectation") {
		t.Errorf("get of a missing one: exit %d, %q", r.code, r.err)
	}

	// stats: one line per possible CPU, as conntrack -S expect.
	r = mustExpectRun(t, ns, "expect", "stats")
	if n := strings.Count(r.out, "expect_create="); n < runtime.NumCPU() {
		t.Errorf("stats: %d lines for %d CPUs: %q", n, runtime.NumCPU(), r.out)
	}

	// delete, each way.
	r = mustExpectRun(t, ns, "expect", "delete", "--id", fmt.Sprint(uint32(ids["50002"])))
	if r.err != "gonfct: 1 expectations have been deleted.\n" {
		t.Errorf("delete --id: %q", r.err)
	}
	mustExpectRun(t, ns, "expect", "delete", "tcp", "10.0.0.2", "10.0.0.1", "0", "50000")
	r = expectRun(ns, "expect", "delete", "tcp", "10.0.0.2", "10.0.0.1", "0", "50000")
	if r.code != 1 || !strings.Contains(r.err, "ENOENT") {
		t.Errorf("second delete: exit %d, %q", r.code, r.err)
	}
	mustExpectRun(t, ns, "expect", "delete", "--master", "tcp 10.0.0.1 10.0.0.4 40000 21")
	r = mustExpectRun(t, ns, "expect", "delete", "--helper", "sip")
	if r.err != "gonfct: 1 expectations have been deleted.\n" {
		t.Errorf("delete --helper: %q", r.err)
	}
	if r := mustExpectRun(t, ns, "expect", "count"); r.out != "0\n" {
		t.Errorf("after deleting each: %q left", r.out)
	}

	// flush, whole and by helper.
	add := func() {
		mustExpectRun(t, ns, "expect", "add", "--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "tcp 10.0.0.2 10.0.0.1 0 50000")
		mustExpectRun(t, ns, "expect", "add", "--master", "udp 10.0.0.1 10.0.0.3 5060 5060", "--tuple", "udp 10.0.0.3 10.0.0.1 0 5004")
	}
	add()
	r = mustExpectRun(t, ns, "expect", "flush", "--helper", "ftp")
	if c := mustExpectRun(t, ns, "expect", "count"); c.out != "1\n" || r.err != "gonfct: 1 expectations have been deleted.\n" {
		t.Errorf("flush --helper ftp: %q, %q left", r.err, c.out)
	}
	r = mustExpectRun(t, ns, "expect", "-F")
	if c := mustExpectRun(t, ns, "expect", "count"); c.out != "0\n" || r.err != "gonfct: expectation table has been emptied.\n" {
		t.Errorf("flush: %q, %q left", r.err, c.out)
	}
	add()
	mustExpectRun(t, ns, "expect", "flush", "-p", "udp")
	if c := mustExpectRun(t, ns, "expect", "list"); !strings.Contains(c.out, "helper=ftp") || strings.Count(c.out, "\n") != 1 {
		t.Errorf("flush -p udp left %q", c.out)
	}
}

func TestExpectWatchCommand(t *testing.T) {
	ns := nstest.New(t)
	newMasterCT(t, ns, "tcp 10.0.0.1 10.0.0.2 40000 21", "ftp")
	newMasterCT(t, ns, "udp 10.0.0.1 10.0.0.3 5060 5060", "sip")

	type watchRun struct {
		args []string
		done chan expectResult
	}
	start := func(args ...string) watchRun {
		w := watchRun{args: args, done: make(chan expectResult, 1)}
		go func() { w.done <- expectRun(ns, args...) }()
		return w
	}
	jsonAll := start("-o", "json", "expect", "watch", "--count", "4")
	textUDP := start("expect", "-E", "-p", "udp", "--timeout", "3s")
	newOnly := start("expect", "watch", "-e", "new", "--count", "1")
	time.Sleep(500 * time.Millisecond)

	mustExpectRun(t, ns, "expect", "add", "--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "tcp 10.0.0.2 10.0.0.1 0 50000")
	mustExpectRun(t, ns, "expect", "add", "--master", "udp 10.0.0.1 10.0.0.3 5060 5060", "--tuple", "udp 10.0.0.3 10.0.0.1 0 5004")
	mustExpectRun(t, ns, "expect", "flush")

	wait := func(w watchRun) expectResult {
		select {
		case r := <-w.done:
			if r.code != 0 {
				t.Errorf("%q: exit %d, %q", w.args, r.code, r.err)
			}
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("%q did not end", w.args)
		}
		return expectResult{}
	}
	r := wait(jsonAll)
	var types []string
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("watch -o json line %q: %v", l, err)
		}
		types = append(types, fmt.Sprint(o["event"], " ", o["helper"]))
	}
	slices.Sort(types)
	if want := []string{"destroy ftp", "destroy sip", "new ftp", "new sip"}; !slices.Equal(types, want) {
		t.Errorf("json events %q, want %q", types, want)
	}
	r = wait(textUDP)
	lines := strings.Split(strings.TrimRight(r.out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "    [NEW] ") || !strings.HasPrefix(lines[1], "[DESTROY] ") ||
		!strings.Contains(r.out, "proto=17") || strings.Contains(r.out, "proto=6 ") {
		t.Errorf("-E -p udp printed %q", r.out)
	}
	if r.err != "gonfct: 2 expectation events have been shown.\n" {
		t.Errorf("-E stderr %q", r.err)
	}
	r = wait(newOnly)
	if !strings.HasPrefix(r.out, "    [NEW] ") || strings.Count(r.out, "\n") != 1 {
		t.Errorf("-e new --count 1 printed %q", r.out)
	}
}

// Ctrl-C ends watch cleanly: exit 0, output flushed, the summary said.
func TestExpectWatchInterrupt(t *testing.T) {
	ns := nstest.New(t)
	newMasterCT(t, ns, "tcp 10.0.0.1 10.0.0.2 40000 21", "ftp")
	done := make(chan expectResult, 1)
	go func() { done <- expectRun(ns, "expect", "watch") }()
	time.Sleep(500 * time.Millisecond) // subscribed, SIGINT handler installed
	mustExpectRun(t, ns, "expect", "add", "--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "tcp 10.0.0.2 10.0.0.1 0 50000")
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.code != 0 || !strings.HasPrefix(r.out, "    [NEW] ") || r.err != "gonfct: 1 expectation events have been shown.\n" {
			t.Errorf("after SIGINT: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not end on SIGINT")
	}
}
