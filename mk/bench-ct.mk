# Conntrack benchmarks: gonfct ct list vs conntrack -L on one 100,000-flow
# table, save/restore flows/s (root). N=, RUNS=, BIG=1000000 tune it.
.PHONY: bench-ct
bench: bench-ct
bench-ct: build
	bench/ct_bench.sh
