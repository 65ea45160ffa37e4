# Expectation benchmarks (root): gonfct expect list vs conntrack -L expect on
# a 4,000-entry table, and gonfct expect watch vs conntrack -E expect under a
# burst of 50,000 events. Numbers go to docs/performance.md ("Expectations").
.PHONY: bench-expect
bench-expect: build
	$(GO) run ./bench/expectbench -gonfct bin/gonfct
