package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
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
	CPUPerPacket *float64 `json:"cpu_us_per_packet"`       // the helper process's user+sys per queued packet
	VMCPU        *float64 `json:"vm_cpu_us_per_exchange"`  // the whole VM's busy time per exchange
	CtxSwitches  *float64 `json:"ctx_switches_per_packet"` // the helper's threads' context switches per queued packet
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
	{"VM CPU per exchange (all processes and softirq)", "µs", func(r engineRow) (float64, bool) {
		if r.VMCPU == nil {
			return 0, false
		}
		return *r.VMCPU, true
	}},
	{"context switches per packet (all threads)", "switches", func(r engineRow) (float64, bool) {
		if r.CtxSwitches == nil {
			return 0, false
		}
		return *r.CtxSwitches, true
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
	how := fs.String("how", "", "how it was measured (Markdown), shared by the cases (default: bench/engine/run.sh's method)")
	repro := fs.String("reproduce", "sudo make bench-engine", "command that reproduces the cases")
	notesFile := fs.String("notes", "", "Markdown file (profiles, analysis) appended to the notes of the FTP case with the most connections")
	version := versionsFlag{}
	fs.Var(version, "version", "tool=version (repeatable)")
	_ = fs.Parse(args)
	extra := ""
	if *notesFile != "" {
		b, err := os.ReadFile(*notesFile)
		if err != nil {
			return err
		}
		extra = "\n\n" + strings.TrimSpace(string(b))
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	// One group per load and connection count: "ftp 32".
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
		g := fmt.Sprintf("%s %d", r.Load, r.Conns)
		if byLoad[g] == nil {
			byLoad[g] = map[string][]engineRow{}
			loads = append(loads, g)
		}
		byLoad[g][r.Helper] = append(byLoad[g][r.Helper], r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.SliceStable(loads, func(i, j int) bool { return groupOrder(loads[i]) < groupOrder(loads[j]) })
	for _, group := range loads {
		helpers := byLoad[group]
		load, connsText, _ := strings.Cut(group, " ")
		find := func(prefix string) string {
			for h := range helpers {
				if strings.HasPrefix(h, prefix) {
					return h
				}
			}
			return ""
		}
		gon, ctd, kern, base := "gonfct run", find("conntrackd"), find("kernel"), find("baseline")
		if helpers[gon] == nil {
			gon = ""
		}
		// gonfct run as built from earlier commits (BENCH_VARIANTS), in
		// the order of their labels.
		var variants []string
		for h := range helpers {
			if strings.HasPrefix(h, "gonfct run @") {
				variants = append(variants, h)
			}
		}
		sort.Strings(variants)
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
					r := result.Row{Tool: h, Anchor: i == 1, Reference: i == 2, Metric: m.metric, Unit: m.unit}
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
		conns, _ := strconv.Atoi(connsText)
		li := groupOrder(group)
		secs := helpers[gon][0].Seconds
		measured := *how
		if measured == "" {
			measured = engineHow(load, conns, secs, len(helpers[gon]))
		}
		env := result.NewEnv(version)
		env.Kernel = "Debian 6.1 (VM)"
		section := sectionVM
		upper := strings.ToUpper(load)
		ratios := []string{"throughput", "queue packets/s", "expectations/s", "CPU per packet (user+sys)",
			"VM CPU per exchange (all processes and softirq)"}
		med := func(h string, metric string) (float64, bool) {
			for _, m := range engineMetrics {
				if m.metric != metric {
					continue
				}
				r := result.Row{}
				for _, er := range helpers[h] {
					if v, ok := m.get(er); ok {
						r.Runs = append(r.Runs, v)
					}
				}
				if len(r.Runs) == 0 {
					return 0, false
				}
				r.Summarize()
				return r.Median, true
			}
			return 0, false
		}
		const vmCPU = "VM CPU per exchange (all processes and softirq)"
		if ctd != "" {
			why := ""
			gc, ok1 := med(gon, "CPU per packet (user+sys)")
			cc, ok2 := med(ctd, "CPU per packet (user+sys)")
			if ok1 && ok2 {
				gv, _ := med(gon, vmCPU)
				cv, _ := med(ctd, vmCPU)
				gt, _ := med(gon, "throughput")
				ct, _ := med(ctd, "throughput")
				why = fmt.Sprintf("gonfct run spent %s µs of CPU per queued packet against conntrackd's %s µs (medians); the VM's "+
					"busy time per exchange was %s µs against %s µs (about %.0f%% against %.0f%% of its 2 vCPUs busy during the runs)",
					result.Num(gc), result.Num(cc), result.Num(gv), result.Num(cv), gv*gt/1e6/2*100, cv*ct/1e6/2*100)
				gr, _ := med(gon, "round trip, median (one connection)")
				cr, _ := med(ctd, "round trip, median (one connection)")
				why += fmt.Sprintf("; one exchange at a time, gonfct run's round trip is %s µs against conntrackd's %s µs (medians). "+
					"Where gonfct run's CPU goes: see the profile in the notes of the FTP case with the most connections",
					result.Num(gr), result.Num(cr))
			}
			c := result.Case{ID: fmt.Sprintf("engine-%s-conntrackd-%d", load, conns), Section: section, Order: 10 + li,
				Title:    fmt.Sprintf("`gonfct run` vs `conntrackd` helper mode, %s load (%d connections, %.0f s)", upper, conns, secs),
				Measured: measured, Reproduce: *repro, Env: env, Rows: rows(append([]string{gon, ctd, base}, variants...)...), RatioMetrics: ratios,
				Target: &result.Target{Text: "at least 2x conntrackd's throughput", Metric: "throughput", Tool: gon, On: "ratio", Op: ">=", Threshold: 2,
					WhyMissed: why},
				Notes: "The `baseline` rows (reference) are the same load with no helper (nothing queued): the router's own cost. " +
					"Rows `gonfct run @label` are gonfct run as built from an earlier commit (`BENCH_VARIANTS`), run " +
					"in the same rounds: what each change bought."}
			if load == "ftp" && conns == maxConns(loads, load) {
				c.Notes += extra
			}
			if err := c.Write(*dir); err != nil {
				return err
			}
			fmt.Printf("wrote %s/%s.json: %s (%s)\n", *dir, c.ID, c.Verdict, c.Reason)
		}
		if kern != "" {
			why := ""
			if gv, ok := med(gon, vmCPU); ok {
				kv, _ := med(kern, vmCPU)
				why = fmt.Sprintf("The kernel helper parses in softirq with no queue, no copy to user space and no verdict: the whole "+
					"VM spent %s µs per exchange with it against %s µs with gonfct run (medians)", result.Num(kv), result.Num(gv))
			}
			c := result.Case{ID: fmt.Sprintf("engine-%s-kernel-%d", load, conns), Section: section, Order: 50 + li,
				Title:    fmt.Sprintf("`gonfct run` vs the kernel's own %s helper (upper bound), %s load (%d connections)", load, upper, conns),
				Measured: measured, Reproduce: *repro, Env: env, Rows: rows(gon, kern, base), RatioMetrics: ratios,
				Target: &result.Target{Text: "at least 0.5x the in-kernel helper's throughput", Metric: "throughput", Tool: gon,
					On: "ratio", Op: ">=", Threshold: 0.5, WhyMissed: why},
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

// engineHow describes bench/engine/run.sh's method.
func engineHow(load string, conns int, secs float64, rounds int) string {
	exchange := "an FTP `PASV` answered by a `227 Entering Passive Mode` naming a fresh port"
	if load == "rpc" {
		exchange = "a portmapper v2 GETPORT call over TCP (one record) answered with a fresh port"
	}
	return fmt.Sprintf("`make bench-engine` boots one VM (Debian's 6.1 kernel, qemu with TCG software emulation, 2 vCPUs on "+
		"this shared 2-CPU host, `scripts/vmtest`) "+
		"and runs `bench/engine/run.sh` in it: a client, a router and a server namespace, the router forwarding with a "+
		"stateful nftables ruleset that assigns the helper to the control port. `bench/engine/loadgen` makes the load: "+
		"each exchange is %s, so every exchange costs the helper under test one queued packet to parse and one "+
		"expectation to create. Contenders, in interleaved rounds (%d here): no helper (baseline), `gonfct run` "+
		"(`--helper %s:inet:tcp:queue=5:queuelen=10240`), Debian's conntrackd in helper mode (same queue and policy), "+
		"and for FTP the kernel's own nf_conntrack_ftp, loaded last (it holds the name ftp once loaded). "+
		"Throughput: exchanges/s with %d connections for %.0f s; queue packets/s from the queue's id sequence "+
		"(/proc/net/netfilter/nfnetlink_queue); expectations/s from the conntrack table's expect_create counter; "+
		"round trips: one connection, one exchange at a time (median, p99), and under the full load. CPU per packet: the "+
		"helper process's user+system time (/proc/PID/stat) over the throughput run divided by the packets queued; VM CPU "+
		"per exchange: the whole VM's busy time (/proc/stat: user, nice, system, irq, softirq) over the run divided by "+
		"the exchanges, which counts load generator and router too and so also covers the kernel helper. The VM shares "+
		"the host's 2 CPUs with other work, so absolute numbers are low and noisy; the contenders are compared within one boot.",
		exchange, rounds, load, conns, secs)
}

// groupOrder sorts the groups "ftp 4", "ftp 32", "rpc 4", ...: by load,
// then by connections.
func groupOrder(group string) int {
	load, conns, _ := strings.Cut(group, " ")
	n, _ := strconv.Atoi(conns)
	if load == "rpc" {
		n += 1000
	}
	return n
}

// maxConns is the most connections any group of load ran with.
func maxConns(groups []string, load string) int {
	most := 0
	for _, g := range groups {
		l, conns, _ := strings.Cut(g, " ")
		if n, _ := strconv.Atoi(conns); l == load && n > most {
			most = n
		}
	}
	return most
}
