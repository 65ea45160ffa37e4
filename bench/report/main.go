// Command report merges the benchmark cases in bench/results/ into
// bench/results.json and renders docs/performance.md from them, with the
// Go microbenchmarks (bench/micro.txt) and their benchstat comparison
// against the previous run (bench/micro.benchstat.txt).
//
//	report render [-results DIR] [-run DIR] [-json FILE] [-md FILE] [-micro FILE] [-benchstat FILE]
//	report engine -in bench/tmp/engine-results.jsonl [-how TEXT] [-version tool=v ...]
//	report add -id ID -section S -title T -how TEXT -reproduce CMD \
//	    -row 'tool|metric|unit|v1 v2 ...' -anchor-row 'tool|metric|unit|v1 ...' \
//	    [-target TEXT -target-metric M -target-on ratio|value -target-op '<=' -target-threshold X] ...
//
// add is for benchmark scripts that are not Go programs: it writes one
// case in the common schema (bench/result) to the results directory.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gonfct/gonfct/bench/result"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "render":
		err = render(os.Args[2:])
	case "add":
		err = add(os.Args[2:])
	case "engine":
		err = engine(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: report render|add|engine [flags] (report <cmd> -h for flags)")
	os.Exit(2)
}

type rowsFlag struct {
	rows   *[]result.Row
	anchor bool
}

func (f rowsFlag) String() string { return "" }

// Set parses "tool|metric|unit|v1 v2 ...|note" (note optional).
func (f rowsFlag) Set(s string) error {
	p := strings.Split(s, "|")
	if len(p) < 4 || len(p) > 5 {
		return fmt.Errorf("row %q: want tool|metric|unit|runs[|note]", s)
	}
	r := result.Row{Tool: p[0], Anchor: f.anchor, Metric: p[1], Unit: p[2]}
	for _, w := range strings.Fields(p[3]) {
		v, err := strconv.ParseFloat(w, 64)
		if err != nil {
			return fmt.Errorf("row %q: run %q is not a number", s, w)
		}
		r.Runs = append(r.Runs, v)
	}
	if len(p) == 5 {
		r.Note = p[4]
	}
	*f.rows = append(*f.rows, r)
	return nil
}

type versionsFlag map[string]string

func (v versionsFlag) String() string { return "" }
func (v versionsFlag) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("version %q: want tool=version", s)
	}
	v[k] = val
	return nil
}

func add(args []string) error {
	fs := flag.NewFlagSet("add", flag.ExitOnError)
	var c result.Case
	var t result.Target
	versions := versionsFlag{}
	dir := fs.String("results", result.Dir(), "results directory")
	fs.StringVar(&c.ID, "id", "", "case id (file name)")
	fs.StringVar(&c.Section, "section", "", "section heading")
	fs.IntVar(&c.Order, "order", 0, "position in the section")
	fs.StringVar(&c.Title, "title", "", "title (Markdown)")
	fs.StringVar(&c.Measured, "how", "", "how it was measured (Markdown)")
	fs.StringVar(&c.Reproduce, "reproduce", "", "command that reproduces it")
	fs.StringVar(&c.Notes, "notes", "", "notes under the table (Markdown)")
	ratio := fs.String("ratio", "", "metric whose gonfct/anchor ratio is shown (default: wall time, peak RSS, throughput)")
	fs.Var(rowsFlag{&c.Rows, false}, "row", "gonfct row: tool|metric|unit|runs[|note] (repeatable)")
	fs.Var(rowsFlag{&c.Rows, true}, "anchor-row", "anchor row: tool|metric|unit|runs[|note] (repeatable)")
	fs.Var(versions, "version", "tool=version (repeatable)")
	fs.StringVar(&t.Text, "target", "", "target text; no target without it")
	fs.StringVar(&t.Metric, "target-metric", "", "metric the target is on")
	fs.StringVar(&t.On, "target-on", "ratio", "ratio (gonfct/anchor medians) or value (gonfct median)")
	fs.StringVar(&t.Tool, "target-tool", "", "gonfct row the target is on (default: first)")
	fs.StringVar(&t.Op, "target-op", "<=", "<= or >=")
	fs.Float64Var(&t.Threshold, "target-threshold", 1, "threshold")
	fs.StringVar(&t.WhyMissed, "why-missed", "", "why the target is missed, if it is")
	_ = fs.Parse(args)
	if c.ID == "" || c.Title == "" || c.Section == "" {
		return fmt.Errorf("add: -id, -section and -title are needed")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("add: unexpected arguments %q", fs.Args())
	}
	if t.Text != "" {
		if t.Metric == "" || (t.Op != "<=" && t.Op != ">=") || (t.On != "ratio" && t.On != "value") {
			return fmt.Errorf("add: a target needs -target-metric, -target-on ratio|value, -target-op <=|>=")
		}
		c.Target = &t
	}
	if *ratio != "" {
		c.RatioMetrics = []string{*ratio}
	}
	c.Env = result.NewEnv(versions)
	if err := c.Write(*dir); err != nil {
		return err
	}
	fmt.Printf("wrote %s/%s.json: %s", *dir, c.ID, c.Verdict)
	if c.Reason != "" {
		fmt.Printf(" (%s)", c.Reason)
	}
	fmt.Println()
	return nil
}

// expected lists every case the issue asks for, so that a case nobody
// measured shows up as such instead of disappearing.
var expected = []result.Case{
	{ID: "ct-list-10000", Section: sectionCT, Order: 10, Title: "`gonfct ct list` vs `conntrack -L`, 10,000 flows",
		Target: &result.Target{Text: "at most 1.0x conntrack's wall time", Metric: "wall time", On: "ratio", Op: "<=", Threshold: 1}},
	{ID: "ct-list-100000", Section: sectionCT, Order: 11, Title: "`gonfct ct list` vs `conntrack -L`, 100,000 flows",
		Target: &result.Target{Text: "at most 1.0x conntrack's wall time", Metric: "wall time", On: "ratio", Op: "<=", Threshold: 1}},
	{ID: "ct-list-1000000", Section: sectionCT, Order: 12, Title: "`gonfct ct list` vs `conntrack -L`, 1,000,000 flows",
		Target: &result.Target{Text: "at most 1.0x conntrack's wall time", Metric: "wall time", On: "ratio", Op: "<=", Threshold: 1}},
	{ID: "ct-list-rss-flat", Section: sectionCT, Order: 19, Title: "`gonfct ct list` peak RSS from 10,000 to 1,000,000 flows",
		Target: &result.Target{Text: "flat (streaming): RSS at 1,000,000 flows at most 1.5x RSS at 10,000", Metric: "RSS growth", On: "value", Op: "<=", Threshold: 1.5}},
	{ID: "ct-watch-burst", Section: sectionCT, Order: 20, Title: "`gonfct ct watch` vs `conntrack -E` under a conntrack event burst",
		Target: &result.Target{Text: "zero events lost where `conntrack -E` loses", Metric: "events lost", On: "value", Op: "<=", Threshold: 0, Worst: true}},
	{ID: "expect-list-4000", Section: sectionExpect, Order: 10, Title: "`gonfct expect list` vs `conntrack -L expect`, 4,000 expectations",
		Target: &result.Target{Text: "at most 1.0x conntrack's wall time", Metric: "wall time", On: "ratio", Op: "<=", Threshold: 1}},
	{ID: "expect-watch-burst", Section: sectionExpect, Order: 20, Title: "`gonfct expect watch` vs `conntrack -E expect` under a burst",
		Target: &result.Target{Text: "zero events lost where `conntrack -E expect` loses", Metric: "events lost", On: "value", Op: "<=", Threshold: 0, Worst: true}},
	{ID: "engine-ftp-conntrackd-4", Section: sectionVM, Order: 14, Title: "`gonfct run` vs `conntrackd` helper mode, FTP load (4 connections)",
		Target: &result.Target{Text: "at least 2x conntrackd's throughput", Metric: "throughput", On: "ratio", Op: ">=", Threshold: 2}},
	{ID: "engine-ftp-conntrackd-32", Section: sectionVM, Order: 42, Title: "`gonfct run` vs `conntrackd` helper mode, FTP load (32 connections)",
		Target: &result.Target{Text: "at least 2x conntrackd's throughput", Metric: "throughput", On: "ratio", Op: ">=", Threshold: 2}},
	{ID: "engine-rpc-conntrackd-4", Section: sectionVM, Order: 1014, Title: "`gonfct run` vs `conntrackd` helper mode, RPC load (4 connections)",
		Target: &result.Target{Text: "at least 2x conntrackd's throughput", Metric: "throughput", On: "ratio", Op: ">=", Threshold: 2}},
	{ID: "engine-rpc-conntrackd-32", Section: sectionVM, Order: 1042, Title: "`gonfct run` vs `conntrackd` helper mode, RPC load (32 connections)",
		Target: &result.Target{Text: "at least 2x conntrackd's throughput", Metric: "throughput", On: "ratio", Op: ">=", Threshold: 2}},
	{ID: "pattern-lobby", Section: sectionParsers, Order: 10, Title: "Pattern helper vs the hand-written Go parser, lobby capture, per packet"},
	{ID: "engine-ftp-kernel-4", Section: sectionVM, Order: 54, Title: "`gonfct run` vs the in-kernel ftp helper (upper bound, 4 connections)",
		Target: &result.Target{Text: "at least 0.5x the in-kernel helper's throughput", Metric: "throughput", On: "ratio", Op: ">=", Threshold: 0.5}},
	{ID: "engine-ftp-kernel-32", Section: sectionVM, Order: 82, Title: "`gonfct run` vs the in-kernel ftp helper (upper bound, 32 connections)",
		Target: &result.Target{Text: "at least 0.5x the in-kernel helper's throughput", Metric: "throughput", On: "ratio", Op: ">=", Threshold: 0.5}},
}

const (
	sectionCT      = "Conntracks (host network namespace)"
	sectionExpect  = "Expectations (host network namespace)"
	sectionVM      = "Helper engine (VM, Debian 6.1 kernel)"
	sectionParsers = "Helper parsers (Go benchmarks)"
)

var sectionOrder = []string{sectionCT, sectionExpect, sectionVM, sectionParsers}

// notMeasured says why a case has no file, by id prefix.
var notMeasured = map[string]string{
	"ct-":      "the conntrack benchmark (`make bench-ct`) did not write this case",
	"expect-":  "the expectation benchmark (`make bench-expect`) did not write this case",
	"engine-":  "the helper-engine benchmark (`make bench-engine`, VM) did not write this case",
	"pattern-": "the pattern helper benchmark (`make bench-pattern`) did not write this case",
}

// notMeasuredCase says why one case has no file, before notMeasured.
var notMeasuredCase = map[string]string{
	"engine-rpc-conntrackd-32": "`bench/engine/run.sh` runs the RPC load only when `gonfct run --check --helper rpc:inet:tcp:queue=5` " +
		"passes in the VM, and it did not in this run (the bench log says why)",
}

func render(args []string) error {
	fs := flag.NewFlagSet("render", flag.ExitOnError)
	dir := fs.String("results", result.Dir(), "results directory")
	runDir := fs.String("run", ".cache/bench/run", "stamps of the last full run (make bench-steps)")
	jsonOut := fs.String("json", "bench/results.json", "merged results")
	mdOut := fs.String("md", "docs/performance.md", "Markdown report")
	micro := fs.String("micro", "bench/micro.txt", "go test -bench output")
	stat := fs.String("benchstat", "bench/micro.benchstat.txt", "benchstat of the previous run against this one")
	_ = fs.Parse(args)

	cases, err := result.Read(*dir)
	if err != nil {
		return err
	}
	prev, prevNote := previous(*jsonOut)
	loadNote := runNote(*runDir, cases, prevNote)
	cases = derive(cases)
	have := map[string]bool{}
	for _, c := range cases {
		have[c.ID] = true
	}
	for _, e := range expected {
		if !have[e.ID] {
			for p, why := range notMeasured {
				if strings.HasPrefix(e.ID, p) {
					e.Reason = why
				}
			}
			if why, ok := notMeasuredCase[e.ID]; ok && have["engine-ftp-conntrackd-32"] {
				e.Reason = why
			}
			e.Finalize()
			cases = append(cases, e)
		}
	}
	rank := func(s string) int {
		if i := slices.Index(sectionOrder, s); i >= 0 {
			return i
		}
		return len(sectionOrder)
	}
	slices.SortFunc(cases, func(a, b result.Case) int {
		return cmp.Or(cmp.Compare(rank(a.Section), rank(b.Section)), cmp.Compare(a.Section, b.Section),
			cmp.Compare(a.Order, b.Order), cmp.Compare(a.ID, b.ID))
	})
	benches, err := readMicro(*micro)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	statText, _ := os.ReadFile(*stat)

	merged := struct {
		Note  string        `json:"note"`
		Run   string        `json:"run"`
		Cases []result.Case `json:"cases"`
		Micro []microBench  `json:"micro"`
	}{"Generated by bench/report from bench/results/*.json and bench/micro.txt (make bench); do not edit.", loadNote, cases, benches}
	b, err := json.MarshalIndent(merged, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
		return err
	}
	md := markdown(cases, benches, string(statText), loadNote, prev)
	return os.WriteFile(*mdOut, []byte(md), 0o644)
}

// runNote describes the whole `make bench` run from the stamps bench-steps
// leaves in runDir (outside git): start, duration, load, failed steps, and
// a re-run note written by hand. Stamps of a run none of the cases comes
// from (another machine's, an older run's) describe nothing here: the note
// of the report being replaced (prevNote) is kept instead, so that a
// render from the committed results alone reproduces the committed report.
func runNote(runDir string, cases []result.Case, prevNote string) string {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(runDir, name))
		return strings.TrimSpace(string(b))
	}
	start, err := strconv.ParseInt(read("started"), 10, 64)
	if err != nil {
		return prevNote
	}
	t0 := time.Unix(start, 0).UTC()
	t1, load0, load1 := time.Now(), read("loadavg-start"), result.LoadAvg()
	if end, err := strconv.ParseInt(read("ended"), 10, 64); err == nil {
		t1, load1 = time.Unix(end, 0), read("loadavg-end")
	}
	if !slices.ContainsFunc(cases, func(c result.Case) bool { return measuredIn(c, t0, t1) }) {
		return prevNote
	}
	note := fmt.Sprintf("Last full run: started %s, %.0f minutes, on a machine shared with other engineers' builds and tests: "+
		"load average (1, 5, 15 min) %s at the start and %s at the end, on %d CPUs. Numbers were taken under that load; "+
		"each case gives the load at its end, and the spreads show the noise.",
		t0.Format("2006-01-02 15:04 UTC"), t1.Sub(t0).Minutes(), load0, load1, runtime.NumCPU())
	if f := read("failed"); f != "" {
		note += fmt.Sprintf(" **Failed steps: %s** (their cases show as not measured).", strings.Join(strings.Fields(f), ", "))
	}
	// A step re-run alone after the full run says so here (free text).
	if r := read("rerun"); r != "" {
		note += " " + r
	}
	return note
}

// measuredIn says whether c was measured between t0 and t1, at the
// minute resolution of Env.When.
func measuredIn(c result.Case, t0, t1 time.Time) bool {
	when, err := time.Parse("2006-01-02T15:04Z", c.Env.When)
	return err == nil && !when.Before(t0.Truncate(time.Minute)) && !when.After(t1)
}

// derive adds the cases computed from others: how gonfct's ct list RSS
// grows from the smallest to the largest table measured.
func derive(cases []result.Case) []result.Case {
	var small, big *result.Case
	var lo, hi int
	for i := range cases {
		n, err := strconv.Atoi(strings.TrimPrefix(cases[i].ID, "ct-list-"))
		if err != nil || !strings.HasPrefix(cases[i].ID, "ct-list-") {
			continue
		}
		if small == nil || n < lo {
			small, lo = &cases[i], n
		}
		if big == nil || n > hi {
			big, hi = &cases[i], n
		}
	}
	if small == nil || lo == hi {
		return cases
	}
	var rows []result.Row
	var g [2]float64
	for i, c := range []*result.Case{small, big} {
		for _, r := range c.Rows {
			if r.Metric != "peak RSS" {
				continue
			}
			r.Metric = fmt.Sprintf("peak RSS, %s flows", result.Thousands(lo))
			if i == 1 {
				r.Metric = fmt.Sprintf("peak RSS, %s flows", result.Thousands(hi))
			}
			rows = append(rows, r)
			if !r.Anchor {
				g[i] = r.Median
			}
		}
	}
	if g[0] == 0 {
		return cases
	}
	rows = append(rows, result.Row{Tool: "gonfct ct list", Metric: "RSS growth", Unit: "x", Runs: []float64{g[1] / g[0]},
		Note: fmt.Sprintf("median at %s / median at %s", result.Thousands(hi), result.Thousands(lo))})
	d := result.Case{ID: "ct-list-rss-flat", Section: sectionCT, Order: 19,
		Title: fmt.Sprintf("`gonfct ct list` peak RSS from %s to %s flows", result.Thousands(lo), result.Thousands(hi)),
		Measured: fmt.Sprintf("Derived by `bench/report` from the peak RSS rows of the %s and %s flow `ct list` cases "+
			"(`/usr/bin/time -f %%M`, one per timed run). conntrack's rows show its own (C, also streaming) footprint.", result.Thousands(lo), result.Thousands(hi)),
		Reproduce: "sudo make bench-ct-sizes && make bench-report",
		Env:       big.Env,
		Rows:      rows,
		Target: &result.Target{Text: fmt.Sprintf("flat (streaming): RSS at %s flows at most 1.5x RSS at %s", result.Thousands(hi), result.Thousands(lo)),
			Metric: "RSS growth", On: "value", Op: "<=", Threshold: 1.5},
	}
	d.Finalize()
	return append(cases, d)
}

type microBench struct {
	Pkg    string    `json:"package"`
	Name   string    `json:"name"`
	NsOp   []float64 `json:"ns_per_op"`
	BOp    []float64 `json:"bytes_per_op"`
	Allocs []float64 `json:"allocs_per_op"`
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// readMicro parses go test -bench -benchmem output.
func readMicro(path string) ([]microBench, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []microBench
	idx := map[string]int{}
	pkg := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), "github.com/gonfct/gonfct/")
			continue
		}
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		key := pkg + " " + m[1]
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, microBench{Pkg: pkg, Name: m[1]})
		}
		f := strings.Fields(m[2])
		for j := 0; j+1 < len(f); j += 2 {
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil {
				continue
			}
			switch f[j+1] {
			case "ns/op":
				out[i].NsOp = append(out[i].NsOp, v)
			case "B/op":
				out[i].BOp = append(out[i].BOp, v)
			case "allocs/op":
				out[i].Allocs = append(out[i].Allocs, v)
			}
		}
	}
	return out, sc.Err()
}

func median(v []float64) float64 {
	r := result.Row{Runs: v}
	r.Summarize()
	return r.Median
}

// previous reads the verdicts and the run note of the report about to be
// replaced, so that the new one can show how each target fared last time
// and keep the note when no stamps describe its run.
func previous(path string) (map[string]result.Case, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, ""
	}
	var old struct {
		Run   string        `json:"run"`
		Cases []result.Case `json:"cases"`
	}
	if json.Unmarshal(b, &old) != nil {
		return nil, ""
	}
	m := map[string]result.Case{}
	for _, c := range old.Cases {
		m[c.ID] = c
	}
	return m, old.Run
}

func measuredText(c result.Case) string {
	if c.Value == nil || c.Target == nil {
		return "-"
	}
	s := result.Num(*c.Value)
	if c.Target.On == "ratio" {
		return s + "x"
	}
	s += " " + c.Target.Metric
	if c.Target.Worst {
		s += " (worst run)"
	}
	return s
}
