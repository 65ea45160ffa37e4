# mk/bench.mk — `make bench`: every benchmark side by side with its
# conntrack-tools anchor, then the report (docs/performance.md and
# bench/results.json, both generated). Root; about 25 minutes on 2 cores.
# `make bench-quick` runs the same with small sizes into .cache/bench-quick
# (for development; the committed report is left alone). Never part of
# `make test`.
#
# Each benchmark writes its cases (bench/result schema) to $(BENCH_RESULTS)
# and stays runnable alone through its own target; `make bench-report`
# renders whatever cases are there. The bench programs are their own Go
# module (bench/go.mod): they are built from it into bin/.
#
# The run's own artefacts (start and end stamps, load averages, failed
# steps, and a re-run note written by hand in $(BENCH_RUN)/rerun) stay out
# of git in $(BENCH_RUN): the report's run note is made from them, and
# bench/results.json keeps that note for the next render.

BENCH_RESULTS ?= bench/results
BENCH_RUN     ?= .cache/bench/run
BENCH_MD      ?= docs/performance.md
BENCH_JSON    ?= bench/results.json
MICRO_OUT     ?= bench/micro.txt
MICRO_COUNT   ?= 6
MICRO_TIME    ?= 300ms
# golang.org/x/perf has no tags; this is the proxy's newest pseudo-version
# at the time of writing.
BENCHSTAT_VERSION ?= v0.0.0-20260908200009-22c9c6c9d4da
CTWATCHBENCH_FLAGS ?=
EXPECTBENCH_FLAGS  ?=
# Table sizes of the ct list benchmark (bench-ct-sizes).
CT_SIZES ?= 10000 100000 1000000
CT_RUNS  ?= 5
# The size at which save/restore is measured too.
CT_SAVE_SIZE ?= 100000

# The engine benchmark (VM) joins `make bench` once its make file is here.
BENCH_ENGINE := $(if $(wildcard mk/bench-engine.mk),bench-engine)
BENCH_STEPS  := bench-expect bench-ct-sizes bench-ct-watch $(BENCH_ENGINE) bench-pattern bench-micro

.PHONY: bench bench-quick bench-report bench-micro bench-pattern bench-ct-watch bench-ct-sizes bench-steps bin/benchreport bin/expectbench bin/ctwatchbench

bench bench-quick bench-report bench-micro bench-pattern bench-ct-watch bench-ct-sizes bench-steps $(BENCH_STEPS): export GONFCT_BENCH_RESULTS = $(BENCH_RESULTS)

bin/benchreport:
	$(GO) -C bench build -o $(CURDIR)/$@ ./report

bin/expectbench bin/ctwatchbench: bin/%:
	$(GO) -C bench build -o $(CURDIR)/$@ ./$*

# Every step runs even when one fails (its cases then show as not
# measured); the failures are listed in the report and make bench fails.
bench-steps: build bin/benchreport
	@mkdir -p $(BENCH_RESULTS)
	rm -f $(BENCH_RESULTS)/*.json
	rm -rf $(BENCH_RUN) && mkdir -p $(BENCH_RUN)
	cut -d' ' -f1-3 /proc/loadavg > $(BENCH_RUN)/loadavg-start
	date -u +%s > $(BENCH_RUN)/started
	@for step in $(BENCH_STEPS); do \
	  echo "== $$step"; \
	  $(MAKE) --no-print-directory $$step || echo $$step >> $(BENCH_RUN)/failed; \
	done
	cut -d' ' -f1-3 /proc/loadavg > $(BENCH_RUN)/loadavg-end
	date -u +%s > $(BENCH_RUN)/ended

bench: bench-steps
	$(MAKE) --no-print-directory bench-report
	@if [ -s $(BENCH_RUN)/failed ]; then echo "bench: failed steps: $$(cat $(BENCH_RUN)/failed)"; exit 1; fi

QUICK := .cache/bench-quick
bench-quick:
	@mkdir -p $(QUICK)
	$(MAKE) --no-print-directory bench BENCH_RESULTS=$(QUICK)/results BENCH_RUN=$(QUICK)/run BENCH_MD=$(QUICK)/performance.md \
	  BENCH_JSON=$(QUICK)/results.json MICRO_OUT=$(QUICK)/micro.txt MICRO_TIME=20ms \
	  CT_SIZES='2000 20000' CT_SAVE_SIZE=20000 CT_RUNS=5 EXPECTBENCH_FLAGS='-n 500 -events 4000' CTWATCHBENCH_FLAGS='-flows 2000' \
	  BENCH_SECS=3 BENCH_COUNT=200 BENCH_ROUNDS=2

bench-report: bin/benchreport
	bin/benchreport render -results $(BENCH_RESULTS) -run $(BENCH_RUN) -json $(BENCH_JSON) -md $(BENCH_MD) \
	  -micro $(MICRO_OUT) -benchstat $(basename $(MICRO_OUT)).benchstat.txt

# Go microbenchmarks of every package of the product (not the bench
# harness) that has some; the previous run's output is kept as
# micro.prev.txt and compared with benchstat.
bench-micro:
	@pkgs=$$(grep -rl --include='*_test.go' '^func Benchmark' pkg internal cmd 2>/dev/null | xargs -n1 dirname | sort -u | sed 's|^|./|'); \
	echo "packages: $$pkgs"; \
	if [ -s $(MICRO_OUT) ]; then cp $(MICRO_OUT) $(basename $(MICRO_OUT)).prev.txt; fi; \
	$(GO) test -run '^$$' -bench . -benchmem -count $(MICRO_COUNT) -benchtime $(MICRO_TIME) $$pkgs > $(MICRO_OUT).new \
	  || { cat $(MICRO_OUT).new; exit 1; }; \
	mv $(MICRO_OUT).new $(MICRO_OUT)
	@if [ -s $(basename $(MICRO_OUT)).prev.txt ]; then \
	  $(GO) run golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION) $(basename $(MICRO_OUT)).prev.txt $(MICRO_OUT) \
	    > $(basename $(MICRO_OUT)).benchstat.txt; \
	else rm -f $(basename $(MICRO_OUT)).benchstat.txt; fi

# The pattern helper (config file) against the hand-written Go lobby
# parser of docs/examples, per packet on the same capture: one case with
# every count's ns/packet and allocations.
PATTERN_HOW := \`go test -bench BenchmarkLobbyCapture\` in \`pkg/cthelper/pattern\` replays \
  \`docs/examples/helper/lobby/testdata/lobby.pcap\` (two lobby sessions, IPv4 and IPv6, with their UDP flows: \
  8 packets with a payload: per session the JOIN, MATCH and BYE lines and a UDP datagram) through each parser as the engine would hand them over (\`pcaptest.Bench\`: \
  directions, conntrack info, private data per flow), $(MICRO_COUNT) counts of $(MICRO_TIME) each; \
  a run is one count, its numbers the time per packet: the CPU time of the benchmark's thread \
  (getrusage RUSAGE_THREAD, the thread locked) and the wall time, which on a machine busy with other \
  work counts the time the thread waited for a CPU too. The pattern helper is the one of \
  \`docs/examples/helper/lobby/lobby.conf\` (the pattern \`^MATCH (?P<port>[0-9]+)\` and an end of line, \
  reply direction, UDP expected); the anchor is the Go parser of docs/writing-a-helper.md, which \
  compares two prefixes by hand. \
  A packet in a direction no pattern reads returns at once, and a line that does not start with the \
  pattern's literal start (\`MATCH \`) costs only the line-start bookkeeping; a line that does is \
  run through the RE2 program rune by rune (a Pike VM over Go's \`regexp/syntax\`, which keeps the \
  match linear and allocation-free): the two MATCH lines are most of the pattern helper's time. \
  Both allocate nothing.
bench-pattern: bin/benchreport
	@mkdir -p $(BENCH_RESULTS)
	$(GO) test -run '^$$' -bench 'BenchmarkLobbyCapture' -benchmem -count $(MICRO_COUNT) -benchtime $(MICRO_TIME) \
	  ./pkg/cthelper/pattern > $(BENCH_RESULTS)/pattern-lobby.txt
	@runs() { awk -v b="LobbyCapture/$$1-" -v u="$$2" 'index($$1, b) { for (i = 2; i < NF; i++) if ($$(i+1) == u) printf "%s ", $$i }' \
	  $(BENCH_RESULTS)/pattern-lobby.txt; }; \
	bin/benchreport add -id pattern-lobby -section "Helper parsers (Go benchmarks)" -order 10 \
	  -title "Pattern helper vs the hand-written Go parser, lobby capture, per packet" \
	  -how "$(PATTERN_HOW)" -reproduce "make bench-pattern && make bench-report" -ratio "CPU time per packet" \
	  -row "pattern helper (lobby.conf)|CPU time per packet|ns|$$(runs pattern cpu-ns/packet)" \
	  -row "pattern helper (lobby.conf)|wall time per packet|ns|$$(runs pattern ns/packet)" \
	  -row "pattern helper (lobby.conf)|allocations per capture|allocs|$$(runs pattern allocs/op)" \
	  -anchor-row "Go lobby parser (docs/examples)|CPU time per packet|ns|$$(runs go cpu-ns/packet)" \
	  -anchor-row "Go lobby parser (docs/examples)|wall time per packet|ns|$$(runs go ns/packet)" \
	  -anchor-row "Go lobby parser (docs/examples)|allocations per capture|allocs|$$(runs go allocs/op)"
	@rm -f $(BENCH_RESULTS)/pattern-lobby.txt

# gonfct ct watch vs conntrack -E under a conntrack event burst.
bench-ct-watch: build bin/ctwatchbench
	bin/ctwatchbench -gonfct bin/gonfct $(CTWATCHBENCH_FLAGS)

# gonfct ct list vs conntrack -L at every size of CT_SIZES (save/restore at
# CT_SAVE_SIZE only), each in a fresh namespace.
bench-ct-sizes: build bin/benchreport
	@for n in $(CT_SIZES); do \
	  lo=1; [ "$$n" = "$(CT_SAVE_SIZE)" ] && lo=0; \
	  echo "== ct list at $$n flows (LIST_ONLY=$$lo)"; \
	  BENCHREPORT=bin/benchreport N=$$n RUNS=$(CT_RUNS) LIST_ONLY=$$lo bench/ct_bench.sh || exit 1; \
	done
