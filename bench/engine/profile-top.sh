#!/bin/bash
# bench/engine/profile-top.sh — the top entries of a CPU profile of
# gonfct run that `make bench-engine BENCH_PROFILE=prefix` took, as a
# Markdown code block for bench/engine/analysis.md: flat (where the CPU
# is spent) and, for the Go runtime's share, the cumulative entries of
# the scheduler, futex and preemption functions.
#
#   bench/engine/profile-top.sh BINARY PROFILE [N]
set -euo pipefail
bin=$1 prof=$2 n=${3:-15}
echo '```'
go tool pprof -top -nodecount="$n" "$bin" "$prof" 2>/dev/null | sed -n '/^Duration/p;/^Showing nodes/p;/flat%/,$p'
echo
echo "runtime share (cumulative):"
go tool pprof -top -cum "$bin" "$prof" 2>/dev/null |
	grep -E ' runtime\.(futex|schedule|findRunnable|exitsyscall|entersyscall|asyncPreempt|preemptM|stoplockedm|startlockedm|mcall|park_m|handoffp|stopm|startm|notesleep|wakep|sysmon)$' || true
echo '```'
