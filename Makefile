# gonfct — the two set-up commands are `make demo` and `make test`.
GO      ?= go
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED ?= 0
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test unit hosttest race vmtest bench demo lint fmt deps fuzz clean

all: build

build: bin/gonfct

bin/gonfct: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/gonfct

FORCE:

deps:
	scripts/deps

# Everything: unit tests, tests on this kernel in network namespaces (root),
# the same two tiers under the race detector, and tests on Debian's 6.1
# kernel in a VM (cthelper, NFQUEUE glue); the Debian package is checked by
# lintian here and installed and purged in the VM.
test: deps lint unit hosttest race package-check vmtest

# The product (root module) and the benchmark harness (bench/, a module of
# its own so that ./... here is the product only).
unit:
	$(GO) test -count=1 ./...
	$(GO) -C bench test -count=1 ./...

# Host tier: each test makes its own network namespace on this kernel.
hosttest: build
	$(GO) test -count=1 -p 1 -tags hosttest ./...

# Unit and host tiers under the race detector, which needs cgo (gcc).
race: build
	CGO_ENABLED=1 $(GO) test -race -count=1 -p 1 -tags hosttest ./...
	CGO_ENABLED=1 $(GO) -C bench test -race -count=1 ./...

# staticcheck, pinned; installed once into .cache (the version is in the
# path, so changing it installs the new one).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := .cache/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

$(STATICCHECK):
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# staticcheck runs the three build configurations as one matrix, so that a
# declaration used only by the hosttest or vmtest files is not "unused".
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags hosttest ./...
	$(GO) vet -tags vmtest ./...
	$(GO) -C bench vet ./...
	@cd bench && $(GO) mod tidy -diff || { echo "bench/go.mod is not tidy (after a change to go.mod too): cd bench && go mod tidy"; exit 1; }
	printf 'default:\nhosttest: -tags=hosttest\nvmtest: -tags=vmtest\n' | $(STATICCHECK) -matrix ./...
	cd bench && $(CURDIR)/$(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Fuzz every fuzz target for a short while (FUZZTIME=1m for longer).
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin dist .cache/vmtest/bin

-include mk/*.mk
