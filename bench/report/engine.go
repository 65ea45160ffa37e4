package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gonfct/gonfct/bench/result"
)

// engineRow is one line of bench/engine/run.sh's JSON lines: one helper,
// one round.
type engineRow struct {
	Helper       string   `json:"helper"`
	Load         string   `json:"load"` // "ftp" (default) or "rpc"
	Round        int      `json:"round"`
	Conns        int      `json:"conns"`
	Seconds      float64  `json:"seconds"`
	Exchanges    float64  `json:"exchanges_per_s"`
	QueuePackets float64  `json:"queue_packets_per_s"`
	QueueDrops   float64  `json:"queue_drops"`
	Expectations float64  `json:"expectations_per_s"`
	Errors       float64  `json:"errors"`
	RTTMedian    float64  `json:"rtt_median_us"`
	RTTP99       float64  `json:"rtt_p99_us"`
	LoadedMedian float64  `json:"loaded_rtt_median_us"`
	LoadedP99    float64  `json:"loaded_rtt_p99_us"`
	CPUPerPacket *float64 `json:"cpu_us_per_packet"` // the helper process's user+sys per queued packet
}

// engineMetrics are the rows a case gets per helper, in order.
var engineMetrics = []struct {
	metric, unit string
	get          func(r engineRow) (float64, bool)
}{
	{"throughput", "exchanges/s", func(r engineRow) (float64, bool) { return r.Exchanges, true }},
	{"queue packets/s", "packets/s", func(r engineRow) (float64, bool) { return r.QueuePackets, true }},
	{"expectations/s", "expectations/s", func(r engineRow) (float64, bool) { return r.Expectations, true }},
	{"round trip, median (one connection)", "µs", func(r engineRow) (float64, bool) { return r.RTTMedian, true }},
	{"round trip, p99 (one connection)", "µs", func(r engineRow) (float64, bool) { return r.RTTP99, true }},
	{"round trip under load, median", "µs", func(r engineRow) (float64, bool) { return r.LoadedMedian, true }},
	{"round trip under load, p99", "µs", func(r engineRow) (float64, bool) { return r.LoadedP99, true }},
	{"CPU per packet (user+sys)", "µs", func(r engineRow) (float64, bool) {
		if r.CPUPerPacket == nil {
			return 0, false
		}
		return *r.CPUPerPacket, true
	}},
	{"queue drops", "packets", func(r engineRow) (float64, bool) { return r.QueueDrops, true }},
	{"client errors", "errors", func(r engineRow) (float64, bool) { return r.Errors, true }},
}

// engine turns the engine benchmark's JSON lines into cases: per load,
// gonfct run against conntrackd (target: at least 2x its throughput) and
// against the kernel's own helper (target: within 3x of it).
func engine(args []string) error {
	fs := flag.NewFlagSet("engine", flag.ExitOnError)
	in := fs.String("in", "bench/tmp/engine-results.jsonl", "JSON lines of bench/engine/run.sh")
	dir := fs.String("results", result.Dir(), "results directory")
	how := fs.String("how", "", "how it was measured (Markdown), shared by the cases")
	repro := fs.String("reproduce", "sudo make bench-engine", "command that reproduces the cases")
	version := versionsFlag{}
	fs.Var(version, "version", "tool=version (repeatable)")
	_ = fs.Parse(args)
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	byLoad := map[string]map[string][]engineRow{}
	var loads []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r engineRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		if r.Load == "" {
			r.Load = "ftp"
		}
		if byLoad[r.Load] == nil {
			byLoad[r.Load] = map[string][]engineRow{}
			loads = append(loads, r.Load)
		}
		byLoad[r.Load][r.Helper] = append(byLoad[r.Load][r.Helper], r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for li, load := range loads {
		helpers := byLoad[load]
		find := func(prefix string) string {
			for h := range helpers {
				if strings.HasPrefix(h, prefix) {
					return h
				}
			}
			return ""
		}
		gon, ctd, kern, base := find("gonfct"), find("conntrackd"), find("kernel"), find("baseline")
		if gon == "" {
			return fmt.Errorf("%s: no gonfct rows for the %s load", *in, load)
		}
		rows := func(order ...string) []result.Row {
			var rs []result.Row
			for _, m := range engineMetrics {
				for i, h := range order {
					if h == "" {
						continue
					}
					r := result.Row{Tool: h, Anchor: i > 0, Metric: m.metric, Unit: m.unit}
					for _, er := range helpers[h] {
						if v, ok := m.get(er); ok {
							r.Runs = append(r.Runs, v)
						}
					}
					if len(r.Runs) > 0 {
						rs = append(rs, r)
					}
				}
			}
			return rs
		}
		conns := helpers[gon][0].Conns
		secs := helpers[gon][0].Seconds
		env := result.NewEnv(version)
		env.Kernel = "Debian 6.1 (VM)"
		section := sectionVM
		upper := strings.ToUpper(load)
		ratios := []string{"throughput", "queue packets/s", "expectations/s", "CPU per packet (user+sys)"}
		if ctd != "" {
			c := result.Case{ID: "engine-" + load + "-conntrackd", Section: section, Order: 10 + 10*li,
				Title:    fmt.Sprintf("`gonfct run` vs `conntrackd` helper mode, %s load (%d connections, %.0f s)", upper, conns, secs),
				Measured: *how, Reproduce: *repro, Env: env, Rows: rows(gon, ctd, base), RatioMetrics: ratios,
				Target: &result.Target{Text: "at least 2x conntrackd's throughput", Metric: "throughput", Tool: gon, On: "ratio", Op: ">=", Threshold: 2},
				Notes:  "The `baseline` rows are the same load with no helper (nothing queued): the router's own cost."}
			if err := c.Write(*dir); err != nil {
				return err
			}
			fmt.Printf("wrote %s/%s.json: %s (%s)\n", *dir, c.ID, c.Verdict, c.Reason)
		}
		if kern != "" {
			c := result.Case{ID: "engine-" + load + "-kernel", Section: section, Order: 15 + 10*li,
				Title:    fmt.Sprintf("`gonfct run` vs the kernel's own %s helper (upper bound), %s load", load, upper),
				Measured: *how, Reproduce: *repro, Env: env, Rows: rows(gon, kern, base), RatioMetrics: ratios,
				Target: &result.Target{Text: "within 3x of the in-kernel helper's throughput (ratio at least 0.333)", Metric: "throughput", Tool: gon,
					On: "ratio", Op: ">=", Threshold: 1.0 / 3},
				Notes: "The kernel helper parses in softirq context, with no queue, no copy to user space and no verdict: " +
					"the upper bound any user-space helper is measured against."}
			if err := c.Write(*dir); err != nil {
				return err
			}
			fmt.Printf("wrote %s/%s.json: %s (%s)\n", *dir, c.ID, c.Verdict, c.Reason)
		}
	}
	return nil
}
