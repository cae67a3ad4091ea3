# tend — the obvious targets. `make test` is the whole suite (what CI runs).
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         := bin/tend
NRI_BIN     ?= bin/tend-nri
PREFIX      ?= /usr/local
FUZZTIME    ?= 50000x

.PHONY: all build install test deps unit lint fmt vet staticcheck fuzz bench clean demo tend-nri image image-context release

all: build

## build: the static binary in bin/tend
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tend

## tend-nri: the NRI plugin, static, in bin/tend-nri (a binary of its own:
## NRI's dependencies never reach tend, the PID 1 of every container)
tend-nri:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(NRI_BIN) ./cmd/tend-nri

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
## A suite that cannot run here (no root, no Docker, no runc, no real tini
## and dumb-init for test/compat's TestPeers) skips loudly:
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

## fuzz: a short run of every fuzz target (FUZZTIME each). A count of
## inputs, not a duration: with a duration, Go 1.26's fuzz coordinator can
## fail a target with 'context deadline exceeded' at the deadline itself
## (golang/go#75804, fixed in Go 1.27; seen here on FuzzParseGroup), and a
## count is also the same work on a loaded machine. 50000 inputs take
## 0.5-10 s per target on a 2-core machine.
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

## image: two images, with the machine's docker build (legacy builder is enough):
##   tend-node:$(VERSION)  FROM scratch: tend, tend-runc -> tend, tend-nri, tend-install
##                         and busybox-static (only for tend-install); what the
##                         DaemonSets of deploy/kubernetes run
##   tend:$(VERSION)       FROM scratch, tend alone at /tend, for your Dockerfile's
##                         COPY --from=tend:$(VERSION) /tend /tend
## image-context prepares both build contexts in $(IMAGE_CONTEXT) (bin/image)
## without Docker.
IMAGE_NODE ?= tend-node
IMAGE_TEND ?= tend
IMAGE_CONTEXT ?= bin/image
# the busybox applets tend-install uses (a test runs it with only these)
NODE_APPLETS := sh awk basename cat chmod cmp cp dirname echo grep head ln ls mkdir mv nsenter rm sed sleep test tr [
image-context: build tend-nri
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/node/rootfs/bin $(IMAGE_CONTEXT)/node/rootfs/usr/local/bin $(IMAGE_CONTEXT)/tend
	cp $(BIN) $(NRI_BIN) deploy/image/tend-install $(IMAGE_CONTEXT)/node/rootfs/usr/local/bin/
	ln -s tend $(IMAGE_CONTEXT)/node/rootfs/usr/local/bin/tend-runc
	cp $(BUSYBOX) $(IMAGE_CONTEXT)/node/rootfs/bin/busybox
	for a in $(NODE_APPLETS); do ln -s busybox "$(IMAGE_CONTEXT)/node/rootfs/bin/$$a"; done
	cp deploy/image/Dockerfile.node $(IMAGE_CONTEXT)/node/Dockerfile
	cp $(BIN) $(IMAGE_CONTEXT)/tend/tend
	cp deploy/image/Dockerfile.tend $(IMAGE_CONTEXT)/tend/Dockerfile
image: image-context
	docker build -q -t $(IMAGE_NODE):$(VERSION) $(IMAGE_CONTEXT)/node
	docker build -q -t $(IMAGE_TEND):$(VERSION) $(IMAGE_CONTEXT)/tend

## release: static tend and tend-nri for linux/amd64 and linux/arm64 in
## $(RELEASE) (tend-linux-amd64, tend-nri-linux-arm64, ...) with SHA256SUMS
RELEASE ?= bin/release
RELEASE_ARCHES ?= amd64 arm64
release:
	rm -rf $(RELEASE) && mkdir -p $(RELEASE)
	set -e; for arch in $(RELEASE_ARCHES); do \
	  for cmd in tend tend-nri; do \
	    CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(RELEASE)/$$cmd-linux-$$arch ./cmd/$$cmd; \
	  done; \
	done
	cd $(RELEASE) && sha256sum tend-linux-* tend-nri-linux-* > SHA256SUMS

## demo: build and run examples/demo (tend + busybox FROM scratch; needs Docker)
BUSYBOX ?= /bin/busybox
demo: build
	rm -rf bin/demo && mkdir -p bin/demo
	cp $(BIN) $(BUSYBOX) examples/demo/Dockerfile examples/demo/tend.toml bin/demo/
	docker build -q -t tend-demo bin/demo
	docker run --rm -it -p 127.0.0.1:8080:8080 tend-demo
