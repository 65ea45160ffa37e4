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
# With BIG=1000000 it also measures `ct list` at that size (raising
# net.netfilter.nf_conntrack_max for the run and putting it back).
# LIST_ONLY=1 skips save/restore (make bench does them at 100,000 only).
#
# Writes the cases ct-list-N (and ct-list-BIG) and ct-save-restore-N in the
# bench/result schema to $GONFCT_BENCH_RESULTS (default bench/results)
# through `bench/report add`; `make bench-report` renders them into
# docs/performance.md.
set -euo pipefail
N=${N:-100000}
RUNS=${RUNS:-5}
BIG=${BIG:-0}
LIST_ONLY=${LIST_ONLY:-0}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
G=${GONFCT:-$here/bin/gonfct}
TIME=/usr/bin/time

[ "$(id -u)" = 0 ] || { echo "ct_bench: needs root (network namespaces, conntrack table)" >&2; exit 2; }
[ -x "$TIME" ] || { echo "ct_bench: /usr/bin/time missing: run scripts/deps" >&2; exit 2; }
command -v conntrack >/dev/null || { echo "ct_bench: conntrack(8) missing: run scripts/deps" >&2; exit 2; }
[ -x "$G" ] || { echo "ct_bench: $G missing: run make build" >&2; exit 2; }
REPORT=${BENCHREPORT:-$here/bin/benchreport}
[ -x "$REPORT" ] || (cd "$here/bench" && go build -o "$REPORT" ./report)

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
how_list() { # size
	cat <<EOT
\`bench/ct_bench.sh\` fills a fresh network namespace with $(num "$1") TCP conntracks (1% with helper ftp) by \`gonfct ct restore\` of a generated save file, then, in the same run and on the same table, times \`gonfct ct list -q\` against \`conntrack -L\` (both to /dev/null, interleaved, $RUNS runs each; wall time and peak RSS of each run from \`/usr/bin/time -f "%e %M"\`, so wall times have 10 ms resolution).

Why list is fast and flat: the dump is read one datagram at a time into one 96 KiB buffer (\`ctnl.Conn.Query\` calls back per message, nothing is collected), each message is decoded by \`ctflow.Decode\` into one reused \`Flow\` without allocating (fixed arrays for helper name, private data and labels; \`TestListPathAllocations\` holds it at 0 allocations per flow), and the conntrack line is appended into one reused buffer behind a 64 KiB \`bufio.Writer\`. Memory is the Go runtime plus those buffers. Kernel-side filters (family, mark with mask, status, zone, and IPv4 address/protocol/TCP-UDP port through CTA_FILTER) keep unwanted entries off the socket; the rest is filtered in user space on the decoded flow.
EOT
}
num() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
versions=(-version "conntrack=$(conntrack --version 2>&1 | head -1)" -version "gonfct=$("$G" --version 2>&1 | head -1)")

# add_list SIZE FILE-OF-gonfct-RUNS FILE-OF-conntrack-RUNS ORDER
add_list() {
	"$REPORT" add -id "ct-list-$1" -section "Conntracks (host network namespace)" -order "$4" \
		-title "\`gonfct ct list\` vs \`conntrack -L\`, $(num "$1") flows" \
		-how "$(how_list "$1")" \
		-reproduce "sudo make bench-ct N=$1 RUNS=$RUNS LIST_ONLY=1" \
		-row "gonfct ct list|wall time|s|$(cut -d' ' -f1 "$2" | tr '\n' ' ')" \
		-anchor-row "conntrack -L|wall time|s|$(cut -d' ' -f1 "$3" | tr '\n' ' ')" \
		-row "gonfct ct list|peak RSS|KiB|$(cut -d' ' -f2 "$2" | tr '\n' ' ')" \
		-anchor-row "conntrack -L|peak RSS|KiB|$(cut -d' ' -f2 "$3" | tr '\n' ' ')" \
		-target "at most 1.0x conntrack's wall time" -target-metric "wall time" -target-on ratio -target-op '<=' -target-threshold 1 \
		"${versions[@]}"
}
order=$((10 + ${#N}))
add_list "$N" "$tmp/gf" "$tmp/ct" "$order"

if [ "$LIST_ONLY" != 1 ]; then
	: >"$tmp/save"
	for _ in $(seq "$RUNS"); do
		timed "$G" --netns "$nsA" ct save -q --file "$tmp/state.json" >>"$tmp/save"
	done
	: >"$tmp/rest"; : >"$tmp/upd"
	for _ in $(seq "$RUNS"); do
		mkns "$nsB"
		timed "$G" --netns "$nsB" ct restore "$tmp/state.json" >>"$tmp/rest"
		timed "$G" --netns "$nsB" ct restore "$tmp/state.json" >>"$tmp/upd"
		ip netns del "$nsB"
	done
	rates() { awk -v n="$N" '{ printf "%.0f ", ($1 > 0 ? n / $1 : 0) }' "$1"; }
	"$REPORT" add -id "ct-save-restore-$N" -section "Conntracks (host network namespace)" -order 30 \
		-title "\`gonfct ct save\` and \`gonfct ct restore\` throughput, $(num "$N") flows" \
		-how "Same table as the list case. \`gonfct ct save -q --file\` of the whole table, $RUNS runs; then $RUNS times: \`gonfct ct restore\` of that file into a fresh network namespace (every conntrack created) and once more into the same namespace (every conntrack exists: updated in place), each run removing the namespace after. Flows/s = $(num "$N") / wall time (\`/usr/bin/time\`, 10 ms resolution). conntrack-tools has no save/restore of the table to compare with (conntrackd's is a replication protocol, not a file), so there is no anchor and no target. Restore holds the file and the checked entries in memory (it validates the whole file before the first write); a new conntrack costs one request (plus one more when it carries helper private data, which the kernel ignores at creation), an existing one three (create refused with EEXIST, get, update)." \
		-reproduce "sudo make bench-ct N=$N RUNS=$RUNS" \
		-row "gonfct ct save|throughput|flows/s|$(rates "$tmp/save")" \
		-row "gonfct ct save|peak RSS|KiB|$(cut -d' ' -f2 "$tmp/save" | tr '\n' ' ')" \
		-row "gonfct ct restore (creates)|throughput|flows/s|$(rates "$tmp/rest")" \
		-row "gonfct ct restore (creates)|peak RSS|KiB|$(cut -d' ' -f2 "$tmp/rest" | tr '\n' ' ')" \
		-row "gonfct ct restore (updates in place)|throughput|flows/s|$(rates "$tmp/upd")" \
		-row "gonfct ct restore of the generated file (fill)|throughput|flows/s|$(rate "$N" "$fill_s")" \
		"${versions[@]}"
fi

if [ "$BIG" -gt 0 ]; then
	ip netns del "$nsB" 2>/dev/null || true
	ip netns exec "$nsA" conntrack -F 2>/dev/null
	sysctl -qw net.netfilter.nf_conntrack_max=$((BIG * 2))
	gen "$BIG" >"$tmp/big.json"
	"$G" --netns "$nsA" ct restore "$tmp/big.json" 2>/dev/null
	: >"$tmp/bct"; : >"$tmp/bgf"
	for _ in $(seq "$RUNS"); do
		timed ip netns exec "$nsA" conntrack -L >>"$tmp/bct"
		timed "$G" --netns "$nsA" ct list -q >>"$tmp/bgf"
	done
	add_list "$BIG" "$tmp/bgf" "$tmp/bct" $((10 + ${#BIG}))
fi
