# mk/bench-engine.mk — the helper engine benchmark (docs/performance.md,
# "Helper engine"): gonfct run against Debian's conntrackd in helper mode
# and the kernel's own ftp helper, under the same FTP control-channel load,
# in one VM boot (scripts/vmtest). Root on first use (the VM harness
# installs qemu and caches a Debian 6.1 kernel).
#
#   make bench-engine                          defaults: 32 connections, 10 s
#   make bench-engine BENCH_CONNS=64 BENCH_SECS=20
#   make bench-engine-micro                    the engine's per-packet Go benchmarks

BENCH_CONNS ?= 32
BENCH_SECS ?= 10
BENCH_COUNT ?= 2000
BENCH_ROUNDS ?= 3

.PHONY: bench-engine bench-engine-micro bin/loadgen

bin/loadgen:
	$(GO) build -trimpath -o $@ ./bench/engine/loadgen

bench-engine: bin/gonfct bin/loadgen
	scripts/vmtest --timeout 1200 --smp 2 -- env CONNS=$(BENCH_CONNS) SECS=$(BENCH_SECS) COUNT=$(BENCH_COUNT) ROUNDS=$(BENCH_ROUNDS) bench/engine/run.sh

bench-engine-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/cthelper/engine ./pkg/nfq

bench: bench-engine-micro
