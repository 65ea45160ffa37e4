# Conntrack benchmarks: gonfct ct list vs conntrack -L on one 100,000-flow
# table, save/restore flows/s (root). N=, RUNS=, BIG=1000000, LIST_ONLY=1
# tune it. Writes the cases ct-list-N and ct-save-restore-N (bench/result
# schema) to $GONFCT_BENCH_RESULTS (default bench/results); `make
# bench-report` renders them. `make bench` runs it at every size of
# CT_SIZES (mk/bench.mk).
.PHONY: bench-ct
bench-ct: build bin/benchreport
	BENCHREPORT=bin/benchreport bench/ct_bench.sh
