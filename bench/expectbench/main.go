// Command expectbench measures gonfct's expectation commands against
// conntrack(8) on the same kernel table, in a network namespace of its own:
//
//   - list: `gonfct expect list` vs `conntrack -L expect` on a table of
//     -n expectations (default 4,000), both run through `ip netns exec`,
//     interleaved, -runs times each; median, min and max wall time and
//     peak RSS.
//   - watch: `gonfct expect watch` and `conntrack -E expect` listen side
//     by side while a burst of -events expectation events (default 50,000)
//     is made as fast as the kernel takes it; lines printed and loss
//     reports of each.
//
// It needs root. Masters are TCP conntracks with the ftp helper (one
// expectation each: ftp's limit is 1, so a new one evicts the old, which
// the burst uses to make NEW and DESTROY events).
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
)

func main() {
	var (
		gonfct  = flag.String("gonfct", "bin/gonfct", "gonfct binary")
		n       = flag.Int("n", 4000, "expectations in the table for the list benchmark")
		runs    = flag.Int("runs", 11, "timed runs of each list command")
		events  = flag.Int("events", 50000, "expectation events in the watch burst")
		skipLst = flag.Bool("no-list", false, "skip the list benchmark")
		skipW   = flag.Bool("no-watch", false, "skip the watch benchmark")
	)
	flag.Parse()
	if os.Geteuid() != 0 {
		fail("needs root (network namespaces, SO_RCVBUFFORCE)")
	}
	ns := newNS()
	cleanup = func() { _ = exec.Command("ip", "netns", "del", ns).Run() }
	defer cleanup()
	c, err := ctnl.Dial(ctnl.DialOptions{NetNS: ns})
	check(err)
	defer c.Close()

	fmt.Printf("kernel %s, %s, %s\n\n", uname(), strings.TrimSpace(out("conntrack", "--version")), strings.TrimSpace(out(*gonfct, "--version")))
	masters := makeMasters(c, *n)
	if !*skipLst {
		benchList(c, ns, *gonfct, masters, *runs)
	}
	if !*skipW {
		benchWatch(c, ns, *gonfct, masters, *events)
	}
}

// cleanup removes the namespace; fail runs it too, as os.Exit skips defers.
var cleanup = func() {}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "expectbench: "+format+"\n", args...)
	cleanup()
	os.Exit(1)
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func out(name string, args ...string) string {
	b, _ := exec.Command(name, args...).CombinedOutput()
	return string(b)
}

func stdout(name string, args ...string) string {
	b, err := exec.Command(name, args...).Output()
	check(err)
	return string(b)
}

func uname() string {
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func newNS() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "gonfct-bench-" + hex.EncodeToString(b)
	if o, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		fail("ip netns add: %v: %s", err, o)
	}
	_ = exec.Command("ip", "netns", "exec", name, "conntrack", "-C").Run()
	// Events for every master, whoever listens when it is made.
	_ = exec.Command("ip", "netns", "exec", name, "sysctl", "-qw", "net.netfilter.nf_conntrack_events=1").Run()
	return name
}

// makeMasters creates n TCP conntracks with the ftp helper.
func makeMasters(c *ctnl.Conn, n int) []ctnl.Tuple {
	const ctaTupleOrig, ctaTupleReply, ctaHelp, ctaTimeout, ctaHelpName = 1, 2, 5, 7, 1
	masters := make([]ctnl.Tuple, n)
	enc := ctnl.NewEncoder(nil)
	for i := range masters {
		m := ctnl.Tuple{Src: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Dst: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}),
			Proto: 6, SrcPort: 40000, DstPort: 21}
		r := ctnl.Tuple{Src: m.Dst, Dst: m.Src, Proto: 6, SrcPort: 21, DstPort: 40000}
		enc.Reset()
		m.Encode(enc, ctaTupleOrig)
		r.Encode(enc, ctaTupleReply)
		enc.Uint32(ctaTimeout, 3600)
		h := enc.Nest(ctaHelp)
		enc.String(ctaHelpName, "ftp")
		enc.End(h)
		check(c.Do(ctnl.Request{Op: "create master", Subsys: netfilter.NFSubsysCTNetlink, Type: 0,
			Family: netfilter.ProtoIPv4, Flags: netlink.Create | netlink.Excl, Attrs: enc.Bytes()}))
		masters[i] = m
	}
	return masters
}

func expectation(m ctnl.Tuple, port uint16) *expect.Expectation {
	t := ctnl.Tuple{Src: m.Dst, Dst: m.Src, Proto: 6, DstPort: port}
	mask := expect.ExactMask(t)
	mask.SrcPort = 0
	return &expect.Expectation{Master: m, Tuple: t, Mask: mask}
}

type sample struct {
	wall time.Duration
}

// peakRSS runs the command once under /usr/bin/time in the namespace and
// returns its peak resident set in KiB (not in the timed runs: time's own
// fork would blur them).
func peakRSS(ns string, args ...string) string {
	f, err := os.CreateTemp("", "expectbench-rss")
	check(err)
	f.Close()
	defer os.Remove(f.Name())
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "/usr/bin/time", "-f", "%M", "-o", f.Name()}, args...)...)
	if err := cmd.Run(); err != nil {
		return "?"
	}
	b, _ := os.ReadFile(f.Name())
	return strings.TrimSpace(string(b)) + " KiB"
}

func timeRun(name string, args ...string) sample {
	cmd := exec.Command(name, args...)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	check(err)
	defer devnull.Close()
	cmd.Stdout, cmd.Stderr = devnull, devnull
	start := time.Now()
	check(cmd.Run())
	return sample{time.Since(start)}
}

func stats(s []sample) (med, lo, hi time.Duration) {
	w := make([]time.Duration, len(s))
	for i, x := range s {
		w[i] = x.wall
	}
	slices.Sort(w)
	return w[len(w)/2], w[0], w[len(w)-1]
}

func benchList(c *ctnl.Conn, ns, gonfct string, masters []ctnl.Tuple, runs int) {
	for _, m := range masters {
		check(expect.Create(c, expectation(m, 50000)))
	}
	count := strings.TrimSpace(out("ip", "netns", "exec", ns, "conntrack", "-C", "expect"))
	if count != fmt.Sprint(len(masters)) {
		fail("table holds %s expectations, want %d (net.netfilter.nf_conntrack_expect_max is %s)", count, len(masters),
			strings.TrimSpace(out("sysctl", "-n", "net.netfilter.nf_conntrack_expect_max")))
	}
	// Same lines (timeouts apart) before timing anything.
	ours := strings.Split(strings.TrimSpace(stdout("ip", "netns", "exec", ns, gonfct, "expect", "list")), "\n")
	theirs := strings.Split(strings.TrimSpace(stdout("ip", "netns", "exec", ns, "conntrack", "-L", "expect")), "\n")
	strip := func(ls []string) []string {
		var r []string
		for _, l := range ls {
			if _, rest, ok := strings.Cut(l, " "); ok && strings.Contains(l, "proto=") {
				r = append(r, rest)
			}
		}
		slices.Sort(r)
		return r
	}
	if so, st := strip(ours), strip(theirs); !slices.Equal(so, st) {
		i := 0
		for i < min(len(so), len(st)) && so[i] == st[i] {
			i++
		}
		fail("gonfct expect list (%d lines) and conntrack -L expect (%d lines) differ at sorted line %d:\n%s\n%s", len(so), len(st), i, so[i], st[i])
	}
	gon := []string{"netns", "exec", ns, gonfct, "expect", "list"}
	ct := []string{"netns", "exec", ns, "conntrack", "-L", "expect"}
	var gs, cs []sample
	timeRun("ip", gon...) // warm caches
	timeRun("ip", ct...)
	for range runs {
		gs = append(gs, timeRun("ip", gon...))
		cs = append(cs, timeRun("ip", ct...))
	}
	gm, gl, gh := stats(gs)
	cm, cl, ch := stats(cs)
	gr, cr := peakRSS(ns, gon[3:]...), peakRSS(ns, ct[3:]...)
	fmt.Printf("### list: %d expectations, %d runs each, interleaved, stdout to /dev/null, both through `ip netns exec`\n\n", len(masters), runs)
	fmt.Println("| command | median | min | max | peak RSS |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| `gonfct expect list` | %s | %s | %s | %s |\n", ms(gm), ms(gl), ms(gh), gr)
	fmt.Printf("| `conntrack -L expect` | %s | %s | %s | %s |\n", ms(cm), ms(cl), ms(ch), cr)
	fmt.Printf("\nratio gonfct/conntrack: %.2fx (medians), %.2fx (minimums); load average %s\n\n",
		float64(gm)/float64(cm), float64(gl)/float64(cl), loadavg())
	check(expect.Flush(c))
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

type listener struct {
	name   string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
}

func startListener(name string, args ...string) *listener {
	l := &listener{name: name, cmd: exec.Command("ip", args...)}
	l.cmd.Stdout, l.cmd.Stderr = &l.stdout, &l.stderr
	check(l.cmd.Start())
	return l
}

func lines(b *bytes.Buffer) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

func benchWatch(c *ctnl.Conn, ns, gonfct string, masters []ctnl.Tuple, events int) {
	// events = creates + evictions: the first len(masters) creates make one
	// NEW each, every later one a NEW and the DESTROY of the one it evicts.
	creates := (events + len(masters)) / 2
	if creates < len(masters) {
		creates = events
	}
	want := creates + max(0, creates-len(masters))
	gon := startListener("gonfct", "netns", "exec", ns, gonfct, "expect", "watch", "--count", fmt.Sprint(want), "--timeout", "120s")
	small := startListener("gonfct-small", "netns", "exec", ns, gonfct, "expect", "watch", "-b", "64K", "--timeout", "120s", "-o", "json")
	ctE := startListener("conntrack", "netns", "exec", ns, "conntrack", "-E", "expect")
	time.Sleep(time.Second) // both subscribed

	start := time.Now()
	const workers = 2
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc, err := ctnl.Dial(ctnl.DialOptions{NetNS: ns})
			check(err)
			defer wc.Close()
			for i := w; i < creates; i += workers {
				m := masters[i%len(masters)]
				check(expect.Create(wc, expectation(m, uint16(1024+i/len(masters)))))
			}
		}()
	}
	wg.Wait()
	burst := time.Since(start)
	time.Sleep(2 * time.Second) // let both drain
	_ = ctE.cmd.Process.Signal(syscall.SIGINT)
	_ = ctE.cmd.Wait()
	_ = small.cmd.Process.Signal(syscall.SIGINT)
	_ = small.cmd.Wait()
	done := make(chan error, 1)
	go func() { done <- gon.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = gon.cmd.Process.Signal(syscall.SIGINT)
		<-done
	}

	fmt.Printf("### watch: burst of %d expectation events (%d creates over %d ftp masters, each evicting the previous) in %s (%.0f events/s)\n\n",
		want, creates, len(masters), burst.Round(time.Millisecond), float64(want)/burst.Seconds())
	fmt.Println("| listener | events printed | of | loss reports |")
	fmt.Println("|---|---|---|---|")
	gl := strings.Count(gon.stderr.String(), "WARNING")
	fmt.Printf("| `gonfct expect watch` (8 MiB buffer) | %d | %d | %d |\n", lines(&gon.stdout), want, gl)
	sl := strings.Count(small.stderr.String(), "WARNING")
	// Replaying what the small-buffer watcher printed (events and resync
	// events) must give the table as it is.
	view := map[uint32]bool{}
	sc := bufio.NewScanner(bytes.NewReader(small.stdout.Bytes()))
	for sc.Scan() {
		var ev struct {
			Event string `json:"event"`
			ID    uint32 `json:"id"`
		}
		check(json.Unmarshal(sc.Bytes(), &ev))
		if ev.Event == "new" {
			view[ev.ID] = true
		} else {
			delete(view, ev.ID)
		}
	}
	table := map[uint32]bool{}
	check(expect.List(c, expect.Filter{}, func(e *expect.Expectation) error { table[e.ID] = true; return nil }))
	consistent := len(view) == len(table)
	missing, extra := 0, 0
	for id := range table {
		if !view[id] {
			missing++
		}
	}
	for id := range view {
		if !table[id] {
			extra++
		}
	}
	consistent = missing == 0 && extra == 0
	if !consistent {
		fmt.Printf("small-buffer watcher: %d in the table never reported, %d reported but gone\n", missing, extra)
	}
	fmt.Printf("| `gonfct expect watch -b 64K` | %d (incl. resync events) | %d | %d (each: exact drop count, resync); replayed events = table (%d): %v |\n",
		lines(&small.stdout), want, sl, len(table), consistent)
	ctState := "kept running"
	if strings.Contains(ctE.stderr.String(), "No buffer space") {
		ctState = fmt.Sprintf("exited (status %d) on ENOBUFS: %q", ctE.cmd.ProcessState.ExitCode(),
			strings.TrimSpace(strings.SplitN(ctE.stderr.String(), "\n", 2)[0]))
	}
	fmt.Printf("| `conntrack -E expect` | %d | %d | none; %s |\n", lines(&ctE.stdout), want, ctState)
	fmt.Printf("\ngonfct stderr: %q\ngonfct -b 64K stderr (first line): %q\n", strings.TrimSpace(gon.stderr.String()),
		strings.SplitN(small.stderr.String(), "\n", 2)[0])
}
