#!/usr/bin/env bash
# bench/ct_bench.sh — conntrack benchmarks (make bench-ct; root).
#
# Fills a fresh network namespace with N conntracks (default 100000) by
# `gonfct ct restore` of a generated save file, then in the same run:
#   - times `gonfct ct list` against `conntrack -L` on that table, RUNS
#     times each, interleaved (median, min-max spread, peak RSS via
#     /usr/bin/time -f %M);
#   - times `gonfct ct save` (flows/s) and `gonfct ct restore` into a second
#     fresh namespace (creates) and again (updates in place), flows/s.
# With BIG=1000000 it also measures `ct list` RSS at that size (raising
# net.netfilter.nf_conntrack_max for the run and putting it back).
#
# Prints a Markdown table for docs/performance.md ("## Conntracks").
set -euo pipefail
N=${N:-100000}
RUNS=${RUNS:-5}
BIG=${BIG:-0}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
G=${GONFCT:-$here/bin/gonfct}
TIME=/usr/bin/time

[ "$(id -u)" = 0 ] || { echo "ct_bench: needs root (network namespaces, conntrack table)" >&2; exit 2; }
[ -x "$TIME" ] || { echo "ct_bench: /usr/bin/time missing: run scripts/deps" >&2; exit 2; }
command -v conntrack >/dev/null || { echo "ct_bench: conntrack(8) missing: run scripts/deps" >&2; exit 2; }
[ -x "$G" ] || { echo "ct_bench: $G missing: run make build" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gonfct-ctbench.XXXXXX")
nsA=gonfct-bench-a-$$
nsB=gonfct-bench-b-$$
oldmax=$(sysctl -n net.netfilter.nf_conntrack_max)
cleanup() {
	ip netns del "$nsA" 2>/dev/null || true
	ip netns del "$nsB" 2>/dev/null || true
	sysctl -qw net.netfilter.nf_conntrack_max="$oldmax" || true
	rm -rf "$tmp"
}
trap cleanup EXIT

mkns() { ip netns add "$1"; ip netns exec "$1" ip link set lo up; }

# gen N: a save file of N TCP flows, 1% with the ftp helper, marks 0-15.
gen() {
	awk -v n="$1" 'BEGIN {
		printf "{\"version\":1,\"conntracks\":[\n"
		for (i = 0; i < n; i++) {
			src = sprintf("10.%d.%d.%d", int(i / 65536) % 256, int(i / 256) % 256, i % 256)
			sp = 1024 + i % 60000; dp = (i % 100 == 0) ? 21 : 80
			printf "%s{\"family\":\"ipv4\",\"protocol\":\"tcp\",\"original\":{\"src\":\"%s\",\"dst\":\"192.0.2.1\",\"sport\":%d,\"dport\":%d},\"reply\":{\"src\":\"192.0.2.1\",\"dst\":\"%s\",\"sport\":%d,\"dport\":%d},\"status\":[\"SEEN_REPLY\",\"ASSURED\"],\"timeout\":7200,\"state\":\"ESTABLISHED\",\"mark\":%d%s}\n", (i ? "," : ""), src, sp, dp, src, dp, sp, i % 16, (dp == 21 ? ",\"helper\":\"ftp\"" : "")
		}
		printf "],\"expectations\":[]}\n"
	}'
}

# timed CMD...: prints "seconds maxrss_kib"
timed() {
	"$TIME" -f "%e %M" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
	cat "$tmp/time"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
minmax() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%s-%s", min, max}'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

mkns "$nsA"
if [ "$N" -gt "$oldmax" ]; then sysctl -qw net.netfilter.nf_conntrack_max=$((N * 2)); fi
gen "$N" >"$tmp/gen.json"
read -r fill_s fill_rss < <(timed "$G" --netns "$nsA" ct restore "$tmp/gen.json")
have=$(ip netns exec "$nsA" conntrack -C)
[ "$have" = "$N" ] || { echo "ct_bench: namespace holds $have conntracks, want $N" >&2; exit 1; }

: >"$tmp/ct"; : >"$tmp/gf"
for _ in $(seq "$RUNS"); do
	timed ip netns exec "$nsA" conntrack -L >>"$tmp/ct"
	timed "$G" --netns "$nsA" ct list -q >>"$tmp/gf"
done
ct_t=$(cut -d' ' -f1 "$tmp/ct" | median); ct_sp=$(cut -d' ' -f1 "$tmp/ct" | minmax)
ct_m=$(cut -d' ' -f2 "$tmp/ct" | median)
gf_t=$(cut -d' ' -f1 "$tmp/gf" | median); gf_sp=$(cut -d' ' -f1 "$tmp/gf" | minmax)
gf_m=$(cut -d' ' -f2 "$tmp/gf" | median)
ratio=$(awk -v a="$gf_t" -v b="$ct_t" 'BEGIN { printf "%.2f", a / b }')

: >"$tmp/save"
for _ in $(seq "$RUNS"); do
	timed "$G" --netns "$nsA" ct save -q --file "$tmp/state.json" >>"$tmp/save"
done
save_t=$(cut -d' ' -f1 "$tmp/save" | median); save_m=$(cut -d' ' -f2 "$tmp/save" | median)

mkns "$nsB"
read -r rest_s rest_m < <(timed "$G" --netns "$nsB" ct restore "$tmp/state.json")
read -r upd_s upd_m < <(timed "$G" --netns "$nsB" ct restore "$tmp/state.json")

big_line=""
if [ "$BIG" -gt 0 ]; then
	ip netns del "$nsB"
	ip netns exec "$nsA" conntrack -F 2>/dev/null
	sysctl -qw net.netfilter.nf_conntrack_max=$((BIG * 2))
	gen "$BIG" >"$tmp/big.json"
	"$G" --netns "$nsA" ct restore "$tmp/big.json" 2>/dev/null
	read -r bct_t bct_m < <(timed ip netns exec "$nsA" conntrack -L)
	read -r bgf_t bgf_m < <(timed "$G" --netns "$nsA" ct list -q)
	big_line="| \`ct list\` at $BIG flows | $bgf_t s, $bgf_m KiB peak RSS (conntrack -L: $bct_t s, $bct_m KiB) |"
fi

kernel=$(uname -r); cpus=$(nproc); when=$(date -u +%Y-%m-%dT%H:%MZ)
cat <<EOT
Measured $when, Linux $kernel, $cpus CPUs, $N TCP conntracks (1% with helper ftp), $RUNS runs each, interleaved.

| what | gonfct | conntrack(8) |
|---|---|---|
| list, wall time (median, spread) | $gf_t s ($gf_sp) | $ct_t s ($ct_sp) |
| list, time ratio gonfct/conntrack | $ratio | 1 |
| list, peak RSS (median) | $gf_m KiB | $ct_m KiB |
| save, $N flows (median of $RUNS) | $save_t s = $(rate "$N" "$save_t") flows/s, $save_m KiB | - |
| restore into an empty namespace (creates) | $rest_s s = $(rate "$N" "$rest_s") flows/s, $rest_m KiB | - |
| restore again (updates in place) | $upd_s s = $(rate "$N" "$upd_s") flows/s | - |
| fill (restore of the generated file) | $fill_s s = $(rate "$N" "$fill_s") flows/s | - |
EOT
[ -z "$big_line" ] || echo "$big_line"
