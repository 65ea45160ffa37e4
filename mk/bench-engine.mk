# mk/bench-engine.mk — the helper engine benchmark: gonfct run against
# Debian's conntrackd in helper mode and the kernel's own ftp helper, under
# the same FTP control-channel load, then gonfct run against conntrackd
# under an RPC (portmapper GETPORT) load, in one VM boot (scripts/vmtest).
# Root on first use (the VM harness installs qemu and caches a Debian 6.1
# kernel). Writes the cases engine-ftp-conntrackd, engine-ftp-kernel and
# engine-rpc-conntrackd (bench/result schema) through `bench/report
# engine`; `make bench-report` renders them into docs/performance.md.
#
#   make bench-engine                          defaults: 4 and 32 connections, 5 s, 3 rounds
#   make bench-engine BENCH_CONNS="8 64" BENCH_SECS=20
#   make bench-engine BENCH_PROFILE=bench/tmp/prof   also a CPU profile of gonfct run
#                                              at the largest load (bench/tmp/prof-ftp-32.pprof)
#   make bench-engine BENCH_PROFILE=bench/tmp/prof BENCH_PROFILER=perf
#                                              the same with perf's cpu-clock sampling,
#                                              of gonfct run and conntrackd alike
#                                              (bench/tmp/prof-*.perf.txt)
#   make bench-engine BENCH_VARIANTS="base=13ba7fd batch=556ca8d"
#                                              also gonfct run as built from those
#                                              commits, at the largest load: what
#                                              each change bought, in the same boot
#   make bench-engine-micro                    the engine's per-packet Go benchmarks
#                                              (also part of make bench-micro)

# Two loads x two sizes x three rounds of three contenders (and the kernel
# helper) keep one boot within about 20 minutes on a busy host.
BENCH_CONNS ?= 4 32
BENCH_SECS ?= 5
BENCH_COUNT ?= 300
BENCH_ROUNDS ?= 3
BENCH_PROFILE ?=
BENCH_PROFILER ?= pprof
BENCH_VARIANTS ?=
# Markdown appended to the FTP case's notes: the profiles' top entries
# (bench/engine/profile-top.sh) and what they say.
BENCH_NOTES ?= bench/engine/analysis.md
VARIANT_DIR := .cache/bench-variants
ENGINE_OUT ?= bench/tmp/engine-results.jsonl

.PHONY: bench-engine bench-engine-micro bin/loadgen

bin/loadgen:
	$(GO) -C bench build -trimpath -o $(CURDIR)/$@ ./engine/loadgen

bench-engine: deps bin/gonfct bin/loadgen bin/benchreport
	mkdir -p bench/tmp $(dir $(ENGINE_OUT))
	rm -f $(ENGINE_OUT)
	@set -e; variants=; for v in $(BENCH_VARIANTS); do \
	  label=$${v%%=*}; commit=$${v#*=}; src=$(VARIANT_DIR)/$$label; \
	  rm -rf $$src; mkdir -p $$src; git archive $$commit | tar -x -C $$src; \
	  $(GO) -C $$src build -trimpath -o $(CURDIR)/bin/gonfct-$$label ./cmd/gonfct; \
	  variants="$$variants $$label=$(CURDIR)/bin/gonfct-$$label"; \
	done; echo "$$variants" >bench/tmp/variants
	@# perf needs the symbol table that bin/gonfct's -s leaves out: the
	@# profiled run uses a copy built with it, bin/gonfct stays as shipped.
	$(if $(filter perf,$(BENCH_PROFILER)),$(GO) build -trimpath -ldflags '-X main.version=$(VERSION)' -o bin/gonfct-symbols ./cmd/gonfct)
	scripts/vmtest --timeout 2400 --smp 2 -- env CONNS="$(BENCH_CONNS)" PROFILE=$(BENCH_PROFILE) PROFILER=$(BENCH_PROFILER) $(if $(filter perf,$(BENCH_PROFILER)),PROFILE_BIN=$(CURDIR)/bin/gonfct-symbols) VARIANTS_FILE=bench/tmp/variants SECS=$(BENCH_SECS) COUNT=$(BENCH_COUNT) ROUNDS=$(BENCH_ROUNDS) OUT=$(ENGINE_OUT) bench/engine/run.sh
	bin/benchreport engine -in $(ENGINE_OUT) $(if $(wildcard $(BENCH_NOTES)),-notes $(BENCH_NOTES)) -reproduce 'sudo make bench-engine BENCH_CONNS="$(BENCH_CONNS)" BENCH_SECS=$(BENCH_SECS) BENCH_COUNT=$(BENCH_COUNT) BENCH_ROUNDS=$(BENCH_ROUNDS)' \
	  -version "gonfct=$$(bin/gonfct --version)" -version "conntrackd=conntrackd $$(dpkg-query -W -f '$${Version}' conntrackd 2>/dev/null)"

bench-engine-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/cthelper/engine ./pkg/nfq
