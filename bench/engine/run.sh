#!/bin/bash
# bench/engine/run.sh — the helper engine benchmark, run inside the VM
# (make bench-engine boots it): the same FTP control-channel load (PASV →
# 227, one expectation per exchange) through a router namespace whose
# helper is, in turn, none (baseline), `gonfct run`, Debian's conntrackd in
# helper mode, and the kernel's own nf_conntrack_ftp (upper bound); then
# the same with an RPC load (portmapper GETPORT over TCP → a port, one
# expectation per exchange) for gonfct run and conntrackd (the kernel has
# no rpc helper), when gonfct has the rpc helper.
#
# CPU: the helper process's user+system time per queued packet
# (/proc/PID/stat), and the whole VM's busy time per exchange (/proc/stat:
# load generator, router and helper together, so comparable with the
# kernel helper and the baseline).
#
# For each: exchanges per second with each of $CONNS (a list, "4 32")
# connections for $SECS seconds,
# packets per second through the queue (nfnetlink_queue id sequence),
# expectations per second (the conntrack table's expect_create counter),
# and the round trip of one exchange at a time ($COUNT exchanges, one
# connection): median and p99, and what the helper adds to the baseline.
#
# $PROFILE (a path prefix) takes a CPU profile of gonfct run after the
# rounds, in a run of its own at the largest of $CONNS
# ($PROFILE-$LOAD-$CONNS.pprof, through the GONFCT_PPROF endpoints of its
# metrics listener; its row in $PROFILE-$LOAD.jsonl, not in $OUT: on this
# emulated machine the profiler's signals cost gonfct several times its
# throughput) and the queue's kernel counters before and after
# ($PROFILE-$LOAD-$CONNS.nfq). With PROFILER=perf the profile is perf's
# cpu-clock sampling from outside the process instead (no signals into
# it, so the profiled run keeps its speed), of gonfct run and of
# conntrackd alike: $PROFILE-[conntrackd-]$LOAD-$CONNS.perf.txt holds the
# top symbols (the binaries need their symbol tables).
#
# $VARIANTS_FILE holds "label=binary ..." (make bench-engine's
# BENCH_VARIANTS): each runs as "gonfct run @label" beside the others at
# the largest of $CONNS, so that what each change bought is measured in
# the same boot.
#
# Needs bin/gonfct and bin/loadgen (built by make bench-engine), conntrackd,
# nft, nfct. Results: a markdown table on stdout and JSON lines in
# $OUT (default bench/tmp/engine-results.jsonl).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS_LIST=${CONNS:-"4 32"}
PROFILE=${PROFILE:-}
PROFILER=${PROFILER:-pprof}
if [[ -n $PROFILE && $PROFILER == perf ]] && ! command -v perf >/dev/null; then
	echo "run.sh: PROFILER=perf needs perf on this machine: apt-get install linux-perf" >&2
	exit 2
fi
VARIANTS=
[[ -n ${VARIANTS_FILE:-} && -r $VARIANTS_FILE ]] && VARIANTS=$(cat "$VARIANTS_FILE")
CONNS=
SECS=${SECS:-10}
COUNT=${COUNT:-2000}
OUT=${OUT:-bench/tmp/engine-results.jsonl}
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
GONFCT=$PWD/bin/gonfct
PROFILE_BIN=${PROFILE_BIN:-$GONFCT} # the profiled run's binary: perf wants one with its symbol table
LOADGEN=$PWD/bin/loadgen
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns del bcli 2>/dev/null || true
	ip netns del brtr 2>/dev/null || true
	ip netns del bsrv 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
note() { echo "bench-engine: $*" >&2; }

# ------------------------------------------------------------ topology
for n in bcli brtr bsrv; do ip netns add $n; ip -n $n link set lo up; done
ip -n brtr link add rc type veth peer name cr netns bcli
ip -n brtr link add rs type veth peer name sr netns bsrv
ip -n brtr addr add 10.79.1.1/24 dev rc; ip -n brtr link set rc up
ip -n brtr addr add 10.79.2.1/24 dev rs; ip -n brtr link set rs up
ip -n bcli addr add 10.79.1.2/24 dev cr; ip -n bcli link set cr up
ip -n bsrv addr add 10.79.2.2/24 dev sr; ip -n bsrv link set sr up
ip -n bcli route add default via 10.79.1.1
ip -n bsrv route add default via 10.79.2.1
ip netns exec brtr sysctl -qw net.ipv4.ip_forward=1
ip netns exec brtr conntrack -C >/dev/null

ip netns exec bsrv "$LOADGEN" server -listen 10.79.2.2:21 >"$tmp/server.out" 2>&1 &
pids+=($!)
ip netns exec bsrv "$LOADGEN" server -proto rpc -listen 10.79.2.2:111 >"$tmp/server-rpc.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$tmp/server.out" && grep -q ready "$tmp/server-rpc.out" && break; sleep 0.1; done

# The load under test: ftp on port 21 or rpc on port 111.
LOAD=ftp
PORT=21

# The router tracks connections (a forward rule that matches state) and,
# with $1 = yes, assigns the $LOAD helper to port $PORT.
ruleset() {
	ip netns exec brtr nft flush ruleset
	{
		echo 'table inet bench {'
		[[ $1 == yes ]] && echo "  ct helper $LOAD-std { type \"$LOAD\" protocol tcp; l3proto ip; }"
		echo '  chain pre { type filter hook prerouting priority 0;'
		[[ $1 == yes ]] && echo "    tcp dport $PORT ct helper set \"$LOAD-std\""
		echo '  }'
		echo "  chain forward_chain { type filter hook forward priority 0; policy drop; ct state established,related accept; tcp dport $PORT ct state new accept; }"
		echo '}'
	} | ip netns exec brtr nft -f -
}

queue_counters() { # id_sequence and drops of queue 5, or "0 0"
	ip netns exec brtr awk '$1 == 5 { print $8, $6 + $7; found = 1 } END { if (!found) print 0, 0 }' /proc/net/netfilter/nfnetlink_queue
}
expect_creates() { # expect_create summed over CPUs (hex per CPU)
	ip netns exec brtr python3 -c '
rows = [l.split() for l in open("/proc/net/stat/nf_conntrack")]
c = rows[0].index("expect_create")
print(sum(int(r[c], 16) for r in rows[1:]))'
}

HZ=$(getconf CLK_TCK)
proc_ticks() { # user+system clock ticks of process $1 (empty without one)
	[[ -n ${1:-} && -r /proc/$1/stat ]] || return 0
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
ctx_switches() { # voluntary+involuntary context switches of every thread of process $1
	[[ -n ${1:-} && -d /proc/$1/task ]] || return 0
	cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}
vm_busy_ticks() { # user+nice+system+irq+softirq ticks of every CPU
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

measure() { # $1 label, $2 the helper's pid (none for baseline and kernel)
	local label=$1 pid=${2:-} c0 c1 q0 d0 e0 q1 d1 e1 p0 p1 b0 b1 tput lat
	local prof= profpid= perfrec=()
	if [[ $label == *"(profiled)" ]]; then
		prof=$PROFILE-$LOAD-$CONNS
		[[ $label == conntrackd* ]] && prof=$PROFILE-conntrackd-$LOAD-$CONNS
		ip netns exec brtr cat /proc/net/netfilter/nfnetlink_queue >"$prof.nfq"
		if [[ $PROFILER == perf ]]; then
			# perf samples the throughput run, from outside the process;
			# in the foreground, around the load generator (started in the
			# background, it recorded nothing here).
			perfrec=(perf record -q -e cpu-clock -F 999 -g -p "$pid" -o "$prof.perf.data" --)
		else
			curl -s -o "$prof.pprof" "http://127.0.0.1:19470/debug/pprof/profile?seconds=$((SECS > 2 ? SECS - 1 : 1))" &
			profpid=$! # not $! later: a process substitution sets it too
		fi
	fi
	read -r q0 d0 < <(queue_counters)
	e0=$(expect_creates)
	p0=$(proc_ticks "$pid"); b0=$(vm_busy_ticks); c0=$(ctx_switches "$pid")
	tput=$("${perfrec[@]}" ip netns exec bcli "$LOADGEN" client -proto "$LOAD" -addr 10.79.2.2:$PORT -conns "$CONNS" -duration "${SECS}s")
	p1=$(proc_ticks "$pid"); b1=$(vm_busy_ticks); c1=$(ctx_switches "$pid")
	if [[ -n $prof ]]; then
		if [[ -n $profpid ]]; then wait "$profpid" || note "profile $prof failed"; fi
		ip netns exec brtr cat /proc/net/netfilter/nfnetlink_queue >>"$prof.nfq"
		if [[ $PROFILER == perf ]]; then
			perf report -i "$prof.perf.data" --stdio --no-children --sort dso,sym -g none --percent-limit 1 2>/dev/null |
				grep -E '^ +[0-9.]+%' | head -30 >"$prof.perf.txt" || true
		fi
	fi
	read -r q1 d1 < <(queue_counters)
	e1=$(expect_creates)
	lat=$(ip netns exec bcli "$LOADGEN" client -proto "$LOAD" -addr 10.79.2.2:$PORT -conns 1 -count "$COUNT")
	python3 - "$label" "$tput" "$lat" "$((q1 - q0))" "$((d1 - d0))" "$((e1 - e0))" "$ROUND" "$OUT" "$LOAD" \
		"${p0:+$((p1 - p0))}" "$((b1 - b0))" "$HZ" "${c0:+$((c1 - c0))}" <<'PY'
import json, sys
label, tput, lat, qpk, drops, exps, rnd, out, load, pticks, bticks, hz, ctxsw = sys.argv[1:]
t, l = json.loads(tput), json.loads(lat)
us = lambda ticks: int(ticks) * 1e6 / int(hz)
row = {"helper": label, "load": load, "round": int(rnd), "conns": t["conns"], "seconds": round(t["seconds"], 2),
       "exchanges_per_s": round(t["exchanges_per_second"]), "queue_packets_per_s": round(int(qpk) / t["seconds"]),
       "queue_drops": int(drops), "expectations_per_s": round(int(exps) / t["seconds"]), "errors": t["errors"],
       "rtt_median_us": round(l["rtt_median_us"]), "rtt_p99_us": round(l["rtt_p99_us"]),
       "loaded_rtt_median_us": round(t["rtt_median_us"]), "loaded_rtt_p99_us": round(t["rtt_p99_us"]),
       "vm_cpu_us_per_exchange": round(us(bticks) / max(t["exchanges"], 1), 1)}
if pticks and int(qpk) > 0:
    row["cpu_us_per_packet"] = round(us(pticks) / int(qpk), 2)
if ctxsw and int(qpk) > 0:
    row["ctx_switches_per_packet"] = round(int(ctxsw) / int(qpk), 3)
open(out, "a").write(json.dumps(row) + "\n")
print(json.dumps(row))
PY
}

wait_queue() { # wait until queue 5 is bound
	for _ in $(seq 300); do
		ip netns exec brtr awk '$1 == 5 { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_queue && return 0
		sleep 0.1
	done
	note "queue 5 never bound"; return 1
}

run_baseline() {
	note "round $ROUND: baseline, no helper"
	ruleset no
	measure baseline
}

run_gonfct() { # $1 the binary (default bin/gonfct), $2 the label
	local bin=${1:-$GONFCT} label=${2:-gonfct run}
	note "round $ROUND: $label"
	local pprof=
	[[ $label == "gonfct run (profiled)" ]] && pprof=1
	GONFCT_PPROF=$pprof "$bin" --netns brtr run --helper "$LOAD:inet:tcp:queue=5:queuelen=10240" --cleanup delete --log-level warn \
		--metrics 127.0.0.1:19470 2>"$tmp/gonfct.log" &
	local gpid=$!
	pids+=($gpid)
	wait_queue
	sleep 0.5
	ruleset yes
	measure "$label" "$gpid"
	ruleset no
	curl -s http://127.0.0.1:19470/metrics | grep -E '^gonfct_helper_(expectations|parse|panics)|^gonfct_queue' |
		sed "s/^/bench-engine: $LOAD round $ROUND gonfct metric: /" >&2 || true
	kill -TERM $gpid
	wait $gpid || { note "gonfct run failed:"; cat "$tmp/gonfct.log" >&2; exit 1; }
	[[ -s $tmp/gonfct.log ]] && sed 's/^/bench-engine: gonfct log: /' "$tmp/gonfct.log" | tail -5 >&2
	return 0
}

conntrackd_conf() { # for $LOAD
	cat >"$tmp/conntrackd.conf" <<CONF
General {
	HashSize 8192
	HashLimit 65535
	Syslog off
	LogFile $tmp/conntrackd.log
	LockFile $tmp/conntrackd.lock
	UNIX { Path $tmp/conntrackd.sock }
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
}
Helper {
	Setup yes
	Type $LOAD inet tcp {
		QueueNum 5
		QueueLen 10240
		Policy $LOAD {
			ExpectMax 1
			ExpectTimeout 300
		}
	}
}
CONF
}
CTD_LABEL="conntrackd $(dpkg-query -W -f '${Version}' conntrackd 2>/dev/null || echo '?')"

run_conntrackd() {
	note "round $ROUND: conntrackd (helper mode)"
	rm -f "$tmp/conntrackd.lock"
	conntrackd_conf
	ip netns exec brtr conntrackd -C "$tmp/conntrackd.conf" >"$tmp/conntrackd.out" 2>&1 &
	local cpid=$!
	pids+=($cpid)
	wait_queue || { cat "$tmp/conntrackd.out" "$tmp/conntrackd.log" >&2; exit 1; }
	sleep 0.5
	# ip netns exec runs conntrackd in its own process; measure that one.
	local mpid=$cpid
	[[ $(cat /proc/$cpid/comm 2>/dev/null) == conntrackd ]] || mpid=$(pgrep -P "$cpid" -x conntrackd || echo "$cpid")
	ruleset yes
	measure "${1:-$CTD_LABEL}" "$mpid"
	ruleset no
	kill -TERM $cpid
	wait $cpid || true
	nfct delete helper "$LOAD" inet tcp 2>/dev/null || true
}

# The kernel's own helper right after the FTP rounds (a run after the RPC
# rounds timed out): once loaded, it holds the name "ftp", which only the
# FTP rounds need.
run_kernel_ftp() {
	note "kernel nf_conntrack_ftp (upper bound)"
	if ! modprobe nf_conntrack_ftp 2>/dev/null; then
		note "cannot load nf_conntrack_ftp; skipped"
		return 0
	fi
	ruleset yes
	for ROUND in $(seq "${ROUNDS:-3}"); do
		for CONNS in $CONNS_LIST; do
			if ! measure "kernel nf_conntrack_ftp" >/dev/null; then
				note "kernel nf_conntrack_ftp: round $ROUND failed; its rounds stop here"
				break 2
			fi
		done
	done
	ruleset no
}

# Rounds interleave the contenders so that a slow spell of the (shared,
# emulated) machine hits them alike; the table shows each one's median.
for LOAD in ftp rpc; do
	case $LOAD in
	ftp) PORT=21 ;;
	rpc)
		PORT=111
		if ! "$GONFCT" run --check --helper rpc:inet:tcp:queue=5 >"$tmp/check.out" 2>&1; then
			note "gonfct run --check --helper rpc fails (no rpc helper in this gonfct?): RPC load skipped"
			sed 's/^/bench-engine: /' "$tmp/check.out" >&2
			continue
		fi
		;;
	esac
	for ROUND in $(seq "${ROUNDS:-3}"); do
		for CONNS in $CONNS_LIST; do
			note "$LOAD round $ROUND, $CONNS connections"
			run_baseline >/dev/null
			run_gonfct >/dev/null
			if [[ $CONNS == "${CONNS_LIST##* }" ]]; then
				for v in $VARIANTS; do run_gonfct "${v#*=}" "gonfct run @${v%%=*}" >/dev/null; done
			fi
			run_conntrackd >/dev/null
		done
	done
	if [[ -n $PROFILE ]]; then
		ROUND=0 CONNS=${CONNS_LIST##* }
		who="gonfct run"; [[ $PROFILER == perf ]] && who+=" and conntrackd"
		note "$LOAD: $PROFILER profile of $who, $CONNS connections"
		OUT=$PROFILE-$LOAD.jsonl run_gonfct "$PROFILE_BIN" "gonfct run (profiled)" >/dev/null
		if [[ $PROFILER == perf ]]; then OUT=$PROFILE-$LOAD.jsonl run_conntrackd "conntrackd (profiled)" >/dev/null; fi
	fi
	if [[ $LOAD == ftp ]]; then run_kernel_ftp; fi
done

# ------------------------------------------------------------ table
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
order, by = [], {}
for r in rows:
    k = r.get("load", "ftp") + " " + str(r["conns"]) + " " + r["helper"]
    if k not in by:
        order.append(k); by[k] = []
    by[k].append(r)
def med(label, key):
    return statistics.median(r[key] for r in by[label])
base = lambda k: " ".join(k.split(" ")[:2]) + " baseline"
print(f"median of {max(len(v) for v in by.values())} rounds; load, connections for the rates and helper; one connection for the round trips")
print()
print("| helper | exchanges/s | queue packets/s | expectations/s | queue drops | RTT median µs | RTT p99 µs | added median µs | added p99 µs | loaded RTT p99 µs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for h in order:
    am = ap = "—"
    if h != base(h) and base(h) in by:
        am = round(med(h, "rtt_median_us") - med(base(h), "rtt_median_us"))
        ap = round(med(h, "rtt_p99_us") - med(base(h), "rtt_p99_us"))
    print(f"| {h} | {round(med(h, 'exchanges_per_s'))} | {round(med(h, 'queue_packets_per_s'))} | {round(med(h, 'expectations_per_s'))} | "
          f"{round(med(h, 'queue_drops'))} | {round(med(h, 'rtt_median_us'))} | {round(med(h, 'rtt_p99_us'))} | {am} | {ap} | {round(med(h, 'loaded_rtt_p99_us'))} |")
PY
