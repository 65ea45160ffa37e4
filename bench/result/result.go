// Package result is the common schema of gonfct's benchmarks: every
// benchmark program writes one JSON file per case to bench/results/, and
// bench/report merges them into bench/results.json and renders
// docs/performance.md from them.
//
// A case measures gonfct and its anchor (the conntrack-tools program it
// replaces) in the same run on the same data; each row holds one tool's
// runs of one metric, and the target is checked on the ratio of the
// medians (gonfct / anchor) or on gonfct's own median.
package result

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Verdicts of a case.
const (
	Met         = "met"
	Missed      = "missed"
	NotMeasured = "not measured"
	NoTarget    = "no target"
)

// Case is one benchmark case: bench/results/<ID>.json.
type Case struct {
	ID        string  `json:"id"`
	Section   string  `json:"section"` // heading it is rendered under
	Order     int     `json:"order"`   // position within the section
	Title     string  `json:"title"`
	Measured  string  `json:"how_measured"` // Markdown prose
	Reproduce string  `json:"reproduce"`    // shell command
	Env       Env     `json:"env"`
	Rows      []Row   `json:"rows"`
	Target    *Target `json:"target,omitempty"`
	// Value is what the target is checked on: the ratio of the medians
	// (gonfct / anchor) of Target.Metric, or gonfct's median of it.
	Value   *float64 `json:"value,omitempty"`
	Verdict string   `json:"verdict"`
	Reason  string   `json:"reason"`
	Notes   string   `json:"notes,omitempty"` // Markdown shown under the table
	// RatioMetrics lists the metrics whose gonfct/anchor ratio means
	// something (default: wall time, peak RSS, throughput).
	RatioMetrics []string `json:"ratio_metrics,omitempty"`
}

// Env is where and when a case was measured.
type Env struct {
	When     string            `json:"when"`
	Kernel   string            `json:"kernel"`
	CPUs     int               `json:"cpus"`
	LoadAvg  string            `json:"loadavg"` // 1, 5, 15 minutes, at the end of the case
	Versions map[string]string `json:"versions,omitempty"`
}

// Row is one tool's runs of one metric.
type Row struct {
	Tool   string `json:"tool"`
	Anchor bool   `json:"anchor,omitempty"` // the conntrack-tools side
	// Reference rows are neither side (e.g. the same load with no helper):
	// shown for scale, never in a ratio or a target.
	Reference bool      `json:"reference,omitempty"`
	Metric    string    `json:"metric"`
	Unit      string    `json:"unit"`
	Runs      []float64 `json:"runs"`
	Median    float64   `json:"median"`
	Min       float64   `json:"min"`
	Max       float64   `json:"max"`
	// Spread is (max - min) / median: how far to trust the median.
	Spread float64 `json:"spread"`
	Note   string  `json:"note,omitempty"`
}

// Target is the goal for a case.
type Target struct {
	Text   string `json:"text"`
	Metric string `json:"metric"`
	On     string `json:"on"`             // "ratio" (gonfct/anchor medians) or "value" (gonfct median)
	Tool   string `json:"tool,omitempty"` // gonfct row checked; default: the first non-anchor row of Metric
	Op     string `json:"op"`             // "<=" or ">="
	// Worst checks gonfct's worst run instead of its median (with On
	// "value"): for targets such as zero loss, which one bad run breaks.
	Worst     bool    `json:"worst,omitempty"`
	Threshold float64 `json:"threshold"`
	// WhyMissed explains a miss (rendered only when missed).
	WhyMissed string `json:"why_missed,omitempty"`
}

// NewEnv describes this machine now; versions maps a tool to its version.
func NewEnv(versions map[string]string) Env {
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	return Env{
		When:     time.Now().UTC().Format("2006-01-02T15:04Z"),
		Kernel:   string(rel),
		CPUs:     runtime.NumCPU(),
		LoadAvg:  LoadAvg(),
		Versions: versions,
	}
}

// LoadAvg is the 1, 5 and 15 minute load average.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Summarize fills median, min, max and spread from the runs.
func (r *Row) Summarize() {
	if len(r.Runs) == 0 {
		r.Median, r.Min, r.Max, r.Spread = 0, 0, 0, 0
		return
	}
	s := slices.Clone(r.Runs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		r.Median = s[n/2]
	} else {
		r.Median = (s[n/2-1] + s[n/2]) / 2
	}
	r.Min, r.Max = s[0], s[n-1]
	if r.Median != 0 {
		r.Spread = (r.Max - r.Min) / math.Abs(r.Median)
	} else {
		r.Spread = 0
	}
}

// Row returns the row of tool and metric, or nil.
func (c *Case) Row(tool, metric string) *Row {
	for i := range c.Rows {
		if c.Rows[i].Tool == tool && c.Rows[i].Metric == metric {
			return &c.Rows[i]
		}
	}
	return nil
}

func (c *Case) first(metric string, anchor bool) *Row {
	for i := range c.Rows {
		if c.Rows[i].Metric == metric && c.Rows[i].Anchor == anchor && !c.Rows[i].Reference {
			return &c.Rows[i]
		}
	}
	return nil
}

// Ratio is gonfct's median over the anchor's of metric (the first rows of
// each side), and false when either is missing or the anchor's is zero.
func (c *Case) Ratio(metric string) (float64, bool) {
	g, a := c.first(metric, false), c.first(metric, true)
	if g == nil || a == nil || a.Median == 0 {
		return 0, false
	}
	return g.Median / a.Median, true
}

// Finalize summarizes every row and checks the target: Value, Verdict
// and Reason. It is idempotent; a case without rows is not measured.
func (c *Case) Finalize() {
	for i := range c.Rows {
		c.Rows[i].Summarize()
	}
	c.Value = nil
	if len(c.Rows) == 0 {
		c.Verdict = NotMeasured
		if c.Reason == "" {
			c.Reason = "no numbers"
		}
		return
	}
	t := c.Target
	if t == nil {
		c.Verdict, c.Reason = NoTarget, ""
		return
	}
	var v float64
	switch t.On {
	case "ratio":
		g := c.first(t.Metric, false)
		if t.Tool != "" {
			g = c.Row(t.Tool, t.Metric)
		}
		a := c.first(t.Metric, true)
		if g == nil || a == nil || a.Median == 0 {
			c.Verdict, c.Reason = NotMeasured, fmt.Sprintf("no gonfct/anchor pair of %q", t.Metric)
			return
		}
		v = g.Median / a.Median
	case "value":
		g := c.first(t.Metric, false)
		if t.Tool != "" {
			g = c.Row(t.Tool, t.Metric)
		}
		if g == nil {
			c.Verdict, c.Reason = NotMeasured, fmt.Sprintf("no gonfct row of %q", t.Metric)
			return
		}
		v = g.Median
		if t.Worst {
			v = g.Max
			if t.Op == ">=" {
				v = g.Min
			}
		}
	default:
		c.Verdict, c.Reason = NotMeasured, fmt.Sprintf("target on %q: want ratio or value", t.On)
		return
	}
	c.Value = &v
	ok := v <= t.Threshold
	if t.Op == ">=" {
		ok = v >= t.Threshold
	}
	what := "ratio"
	if t.On == "value" {
		what = t.Metric
		if t.Worst {
			what += " (worst run)"
		}
	}
	if ok {
		c.Verdict = Met
		c.Reason = fmt.Sprintf("%s %s %s %s", what, Num(v), t.Op, Num(t.Threshold))
		return
	}
	c.Verdict = Missed
	c.Reason = fmt.Sprintf("%s %s, target %s %s: %s", what, Num(v), t.Op, Num(t.Threshold), by(v, t))
	if t.WhyMissed != "" {
		c.Reason += ". " + t.WhyMissed
	}
}

// by says how far v misses the threshold.
func by(v float64, t *Target) string {
	if t.Threshold == 0 {
		return fmt.Sprintf("off by %s", Num(math.Abs(v)))
	}
	pct := (v/t.Threshold - 1) * 100
	if t.Op == ">=" {
		return fmt.Sprintf("%.0f%% short", -pct)
	}
	return fmt.Sprintf("%.0f%% over", pct)
}

// Num formats a number with up to three significant decimals.
func Num(v float64) string {
	switch a := math.Abs(v); {
	case a == math.Trunc(a) && a < 1e15:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// Thousands formats n with thousands separators: 1000000 -> "1,000,000".
func Thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Write finalizes c and writes it to dir/<ID>.json.
func (c *Case) Write(dir string) error {
	c.Finalize()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, c.ID+".json"), append(b, '\n'), 0o644)
}

// Read reads every case in dir and finalizes it.
func Read(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var cs []Case
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var c Case
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		c.Finalize()
		cs = append(cs, c)
	}
	return cs, nil
}

// Dir is where cases go: $GONFCT_BENCH_RESULTS, or bench/results.
func Dir() string {
	if d := os.Getenv("GONFCT_BENCH_RESULTS"); d != "" {
		return d
	}
	return "bench/results"
}
