package result

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		runs                     []float64
		median, min, max, spread float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3, 1},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 1.2},
		{[]float64{0, 0}, 0, 0, 0, 0},
		{nil, 0, 0, 0, 0},
	} {
		r := Row{Runs: tc.runs}
		r.Summarize()
		if r.Median != tc.median || r.Min != tc.min || r.Max != tc.max || r.Spread != tc.spread {
			t.Errorf("%v: median %v min %v max %v spread %v", tc.runs, r.Median, r.Min, r.Max, r.Spread)
		}
	}
}

func wall(g, a []float64) []Row {
	return []Row{{Tool: "gonfct", Metric: "wall time", Runs: g}, {Tool: "conntrack", Anchor: true, Metric: "wall time", Runs: a}}
}

func TestFinalizeVerdicts(t *testing.T) {
	atMost1 := &Target{Metric: "wall time", On: "ratio", Op: "<=", Threshold: 1}
	for _, tc := range []struct {
		name    string
		c       Case
		verdict string
		reason  string
	}{
		{"ratio met", Case{Rows: wall([]float64{1, 2, 3}, []float64{4, 4, 4}), Target: atMost1}, Met, "ratio 0.5 <= 1"},
		{"ratio missed by 25%", Case{Rows: wall([]float64{5, 5, 5}, []float64{4, 4, 4}), Target: atMost1}, Missed, "25% over"},
		{"at least 2x, short", Case{Rows: wall([]float64{3}, []float64{2}),
			Target: &Target{Metric: "wall time", On: "ratio", Op: ">=", Threshold: 2}}, Missed, "25% short"},
		{"no anchor", Case{Rows: wall([]float64{1}, nil)[:1], Target: atMost1}, NotMeasured, "no gonfct/anchor pair"},
		{"no rows", Case{Target: atMost1}, NotMeasured, "no numbers"},
		{"no target", Case{Rows: wall([]float64{1}, []float64{1})}, NoTarget, ""},
		{"worst run breaks zero loss", Case{Rows: []Row{{Tool: "gonfct", Metric: "events lost", Runs: []float64{0, 0, 7}}},
			Target: &Target{Metric: "events lost", On: "value", Op: "<=", Threshold: 0, Worst: true, WhyMissed: "buffer"}},
			Missed, "events lost (worst run) 7, target <= 0: off by 7. buffer"},
		{"median hides it without Worst", Case{Rows: []Row{{Tool: "gonfct", Metric: "events lost", Runs: []float64{0, 0, 7}}},
			Target: &Target{Metric: "events lost", On: "value", Op: "<=", Threshold: 0}}, Met, "events lost 0 <= 0"},
	} {
		tc.c.Finalize()
		if tc.c.Verdict != tc.verdict || !strings.Contains(tc.c.Reason, tc.reason) {
			t.Errorf("%s: %s (%s), want %s (%s)", tc.name, tc.c.Verdict, tc.c.Reason, tc.verdict, tc.reason)
		}
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	c := Case{ID: "x-1", Title: "x", Rows: wall([]float64{1, 3}, []float64{4}),
		Target: &Target{Metric: "wall time", On: "ratio", Op: "<=", Threshold: 1}}
	if err := c.Write(dir); err != nil {
		t.Fatal(err)
	}
	cs, err := Read(dir)
	if err != nil || len(cs) != 1 {
		t.Fatalf("read %d cases: %v", len(cs), err)
	}
	if got := cs[0]; got.Verdict != Met || got.Rows[0].Median != 2 || *got.Value != 0.5 {
		t.Errorf("read back %+v", got)
	}
}
