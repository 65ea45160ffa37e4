# Expectation benchmarks (root): gonfct expect list vs conntrack -L expect on
# a 4,000-entry table, and gonfct expect watch vs conntrack -E expect under
# bursts of 50,000 events. Writes the cases expect-list-4000 and
# expect-watch-burst (bench/result schema) to $GONFCT_BENCH_RESULTS
# (default bench/results); `make bench-report` renders them into
# docs/performance.md. EXPECTBENCH_FLAGS='-n 1000 -runs 5' etc. tune it.
.PHONY: bench-expect
bench-expect: build bin/expectbench
	bin/expectbench -gonfct bin/gonfct $(EXPECTBENCH_FLAGS)
