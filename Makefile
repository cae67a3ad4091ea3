# tend — the obvious targets. `make test` is the whole suite (what CI runs).
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         := bin/tend
PREFIX      ?= /usr/local
FUZZTIME    ?= 5s

.PHONY: all build install test deps unit lint fmt vet staticcheck fuzz bench clean demo tend-nri

all: build

## build: the static binary in bin/tend
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tend

## tend-nri: the NRI plugin, static, in bin/tend-nri (a binary of its own:
## NRI's dependencies never reach tend, the PID 1 of every container)
tend-nri:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tend-nri ./cmd/tend-nri

## install: build and copy to $(PREFIX)/bin
install: build
	install -m 0755 $(BIN) $(PREFIX)/bin/tend

## test: everything CI runs — lint, the race-detected unit and end-to-end tests, short fuzz runs
test: deps
	$(MAKE) lint unit fuzz

## deps: install what the tests need and the machine lacks (scripts/test-deps)
deps:
	GO=$(GO) ./scripts/test-deps

## unit: all Go tests (end-to-end ones included) under the race detector.
## A suite that cannot run here (no root, no Docker, no runc) skips loudly:
## its reason is printed after the run (go test hides a passing package's
## output). TEND_REQUIRE_DOCKER=1 / TEND_REQUIRE_OCI=1 make such a skip a
## failure, TEND_REQUIRE_CRI=1 that of test/cri (the pinned containerd and
## crictl scripts/cri-bins builds) (.ci/run sets them on machines that have Docker).
SKIPS := $(CURDIR)/bin/skipped-suites.txt
unit:
	@mkdir -p bin; rm -f $(SKIPS)
	CGO_ENABLED=1 TEND_SKIP_REPORT=$(SKIPS) $(GO) test -race -count=1 -timeout 20m ./...
	@if [ -s $(SKIPS) ]; then echo; echo "######## suites skipped on this machine:"; cat $(SKIPS); echo "########"; fi

lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^vendor/')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

## fuzz: a short run of every fuzz target (FUZZTIME each)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: micro-benchmarks of the hot paths
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin

## bench-compare: tend beside tini, dumb-init, catatonit, supervisord (see BENCHMARKS.md)
include bench/bench.mk

## demo: build and run examples/demo (tend + busybox FROM scratch; needs Docker)
BUSYBOX ?= /bin/busybox
demo: build
	rm -rf bin/demo && mkdir -p bin/demo
	cp $(BIN) $(BUSYBOX) examples/demo/Dockerfile examples/demo/tend.toml bin/demo/
	docker build -q -t tend-demo bin/demo
	docker run --rm -it -p 127.0.0.1:8080:8080 tend-demo
