//go:build hosttest

package e2e

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctflow"
)

// formatFlows are flows of every kind -o save and -o extended print
// differently, with kernel timestamps on (-o ktimestamp) and labels.
func formatFlows(t *testing.T, ns *nstest.NS) {
	t.Helper()
	ns.MustRun("sysctl", "-qw", "net.netfilter.nf_conntrack_timestamp=1")
	useLabels(t, ns)
	compatFlows(t, ns)
	mustCtCLI(t, ns, "", "ct", "add", "tcp", "10.0.3.1", "10.0.3.2", "1", "2", "-t", "300", "--label", "1,5,100",
		"--state", "ESTABLISHED", "--status", "seen-reply,assured,fixed-timeout", "--zone", "4", "--mark", "9")
	ns.MustRun("conntrack", "-I", "-p", "sctp", "-s", "10.0.0.1", "-d", "10.0.0.2", "--sport", "7", "--dport", "8", "-t", "30",
		"--state", "ESTABLISHED", "--orig-vtag", "5", "--reply-vtag", "6")
	ns.MustRun("conntrack", "-I", "-p", "gre", "-s", "10.0.0.1", "-d", "10.0.0.2", "--srckey", "1", "--dstkey", "2", "-t", "30")
	ns.MustRun("conntrack", "-I", "-p", "udp", "-s", "10.0.0.1", "-d", "10.0.0.2", "--sport", "51", "--dport", "4", "-t", "100",
		"--orig-zone", "5", "-r", "192.0.2.1", "-q", "10.0.0.1", "--reply-port-src", "4", "--reply-port-dst", "51")
}

// withLabelNames makes sure connlabel.conf names bits 1 and 5 as conntrack
// reads it (its path is built in): if the host has none, one is written
// for the test and removed after.
func withLabelNames(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(ctflow.ConnlabelConf); err == nil {
		names := ctflow.ParseConnlabels(string(must(os.ReadFile(ctflow.ConnlabelConf))))
		for _, bit := range names {
			if bit == 1 || bit == 5 {
				return
			}
		}
		t.Fatalf("%s exists and names neither bit 1 nor 5", ctflow.ConnlabelConf)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	dir := ctflow.ConnlabelConf[:strings.LastIndexByte(ctflow.ConnlabelConf, '/')]
	_, derr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ctflow.ConnlabelConf, []byte("1 one\n5 five\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(ctflow.ConnlabelConf)
		if derr != nil {
			os.Remove(dir)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// ct list -o WORDS prints conntrack -L -o WORDS's lines, byte for byte
// (up to the ticking timeout and delta-time), for every -o conntrack has
// but xml, alone and combined.
func TestCtListOutputFormatsMatchConntrack(t *testing.T) {
	withLabelNames(t)
	ns := nstest.New(t)
	formatFlows(t, ns)
	for _, o := range []string{"extended", "id", "ktimestamp", "labels", "save", "extended,id,ktimestamp,labels", "id,extended", "timestamp", "userspace"} {
		want, wantErr := conntrackOut(t, ns, "-L", "-o", o)
		r := mustCtCLI(t, ns, "", "ct", "list", "-o", o)
		sameLines(t, "ct list -o "+o, r.out, want)
		if !strings.Contains(wantErr, "flow entries have been shown") ||
			strings.TrimPrefix(wantErr[strings.LastIndex(wantErr, "conntrack v"):], "conntrack v1.4.7 (conntrack-tools): ") != strings.TrimPrefix(r.err, "gonfct: ") {
			t.Errorf("-o %s: count line %q, conntrack %q", o, r.err, wantErr)
		}
	}
	// What the formats are made of is really there, not only equal.
	all := mustCtCLI(t, ns, "", "ct", "list", "-q", "-o", "extended,id,ktimestamp,labels").out
	for _, part := range []string{"ipv4     2 tcp", "ipv6     10 udp", " id=", " [start=", " labels=one,five\n"} {
		if !strings.Contains(all, part) {
			t.Errorf("-o extended,id,ktimestamp,labels lacks %q:\n%s", part, all)
		}
	}
	save := mustCtCLI(t, ns, "", "ct", "list", "-q", "-o", "save").out
	for _, part := range []string{"-u SEEN_REPLY,ASSURED,FIXED_TIMEOUT -w 4 ", "--orig-zone 5 ", "-r 192.0.2.1 ", "--reply-key-dst 1\n",
		"--state ESTABLISHED --orig-vtag 5 --reply-vtag 6\n", "--icmp-type 8 --icmp-code 0 --icmp-id 77\n", "-u UNSET "} {
		if !strings.Contains(save, part) {
			t.Errorf("-o save lacks %q:\n%s", part, save)
		}
	}
	// ct get takes them too.
	want, _ := conntrackOut(t, ns, "-G", "-p", "tcp", "-s", "10.0.0.1", "-d", "10.0.0.2", "--sport", "40000", "--dport", "21", "-o", "extended,id,ktimestamp")
	r := mustCtCLI(t, ns, "", "ct", "get", "-o", "extended,id,ktimestamp", "tcp", "10.0.0.1", "10.0.0.2", "40000", "21")
	sameLines(t, "ct get -o extended,id,labels", r.out, want)

	for _, bad := range [][]string{{"-o", "save,id"}, {"-o", "extended,bogus"}} {
		if r := ctCLI(t, ns, "", append([]string{"ct", "list"}, bad...)...); r.code != 2 || r.out != "" {
			t.Errorf("ct list %v: exit %d %q", bad, r.code, r.err)
		}
	}
}

// ct watch -o timestamp,extended,id,ktimestamp prints conntrack -E -o
// ...'s lines: the same events, the same fields, the read time as
// conntrack prints it ("[SECONDS.MICROSECONDS]\t").
func TestCtWatchOutputFormatsMatchConntrack(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun("sysctl", "-qw", "net.netfilter.nf_conntrack_timestamp=1")
	const o = "timestamp,extended,id,ktimestamp"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ce := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "conntrack", "-E", "-p", "udp", "-o", o)
	var ceOut bytes.Buffer
	ce.Stdout = &ceOut
	ce.Cancel = func() error { return ce.Process.Signal(os.Interrupt) }
	if err := ce.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan ctResult, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run([]string{"--netns", ns.Name, "ct", "watch", "-p", "udp", "-o", o, "--count", "2", "--timeout", "50s"}, strings.NewReader(""), &out, &errb)
		done <- ctResult{out.String(), errb.String(), code}
	}()
	time.Sleep(1500 * time.Millisecond) // both subscribe
	tu := []string{"udp", "10.7.1.1", "10.7.1.2", "4000", "53"}
	mustCtCLI(t, ns, "", append([]string{"ct", "add", "-t", "100"}, tu...)...)
	mustCtCLI(t, ns, "", append([]string{"ct", "delete"}, tu...)...)
	r := <-done
	time.Sleep(300 * time.Millisecond)
	cancel()
	_ = ce.Wait()
	if r.code != 0 {
		t.Fatalf("watch: exit %d %q", r.code, r.err)
	}
	stamp := regexp.MustCompile(`^\[(\d+)\.\d{6}\]\t`)
	strip := func(s string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			m := stamp.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("no read time: %q", l)
				continue
			}
			if d := time.Since(time.Unix(must(strconv.ParseInt(m[1], 10, 64)), 0)); d < 0 || d > time.Minute {
				t.Errorf("read time %s is %v away", m[1], d)
			}
			l = stamp.ReplaceAllString(l, "[T]\t")
			if i := strings.Index(l, " progname="); i >= 0 {
				l = l[:i]
			}
			if i := strings.Index(l, " [USERSPACE] portid="); i >= 0 {
				l = l[:i]
			}
			out = append(out, l)
		}
		return out
	}
	got, want := strip(r.out), strip(ceOut.String())
	if len(got) != 2 || len(want) != 2 {
		t.Fatalf("gonfct:\n%s\nconntrack -E:\n%s", r.out, ceOut.String())
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("event %d:\n gonfct    %q\n conntrack %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[1], "[DESTROY] ipv4     2 udp") || !strings.Contains(got[1], "[stop=") || !strings.Contains(got[1], " id=") {
		t.Errorf("destroy event lacks what -o asked for: %q", got[1])
	}
	if r := ctCLI(t, ns, "", "ct", "watch", "-o", "save"); r.code != 2 {
		t.Errorf("ct watch -o save: exit %d %q", r.code, r.err)
	}
}
