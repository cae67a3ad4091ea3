# Included from the Makefile (`include bench/bench.mk`).
#
# make bench-compare: tend side by side with tini, dumb-init, catatonit and
# supervisord (installed from Debian if missing), same machine, same run;
# prints the table and writes it into BENCHMARKS.md. Needs root (PID
# namespaces) and takes ~5 minutes. Override counts with BENCH_ARGS, e.g.
#   make bench-compare BENCH_ARGS='-startup-runs 50 -rounds 1 -idle 2s'
BENCH_PEERS ?= tini dumb-init catatonit supervisord
BENCH_ARGS  ?=
# tend-runc vs runc (tendbench oci), e.g. BENCH_OCI_ARGS='-runs 50'
BENCH_OCI_ARGS ?=
# tend status (200 services, 1000 processes) vs ps -e (tendbench usage), e.g. BENCH_USAGE_ARGS='-runs 50'
BENCH_USAGE_ARGS ?=
# restarts under traffic (tendbench restart), e.g. BENCH_RESTART_ARGS='-restarts 3'
BENCH_RESTART_ARGS ?=
# a pod's CRI lifecycle: runc, RuntimeClass, NRI (tendbench cri), e.g. BENCH_CRI_ARGS='-rounds 50'
BENCH_CRI_ARGS ?=

.PHONY: bench-compare bench-peers

bench-peers:
	@missing=; for p in $(BENCH_PEERS); do command -v $$p >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing peers: apt-get install -y tini dumb-init catatonit supervisor"; \
	  apt-get install -y tini dumb-init catatonit supervisor >/dev/null || \
	  { apt-get update >/dev/null && apt-get install -y tini dumb-init catatonit supervisor >/dev/null; }; \
	fi

bench-compare: build bench-peers
	CGO_ENABLED=0 $(GO) build -o bin/testprog ./test/testprog
	CGO_ENABLED=0 $(GO) build -o bin/tendbench ./bench/cmd/tendbench
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/gofloor ./bench/cmd/gofloor
	./bin/tendbench -tend $(BIN) -testprog bin/testprog -gofloor bin/gofloor -out BENCHMARKS.md $(BENCH_ARGS)
	@# tend status with every service's usage against ps -e (issue 21), its own table.
	./bin/tendbench usage -tend $(BIN) -testprog bin/testprog -out BENCHMARKS.md $(BENCH_USAGE_ARGS)
	@# Restarts under traffic: tend start-first / stop-first against supervisord.
	CGO_ENABLED=0 $(GO) build -o bin/zero-downtime ./examples/zero-downtime
	./bin/tendbench restart -tend $(BIN) -server bin/zero-downtime -out BENCHMARKS.md $(BENCH_RESTART_ARGS)
	@# tend-runc (the OCI runtime wrapper) against plain runc, its own table.
	@if command -v runc >/dev/null 2>&1; then \
	  ln -sf tend bin/tend-runc && ./bin/tendbench oci -tend-runc bin/tend-runc -out BENCHMARKS.md $(BENCH_OCI_ARGS); \
	else echo "bench-compare: SKIPPING the tend-runc table: runc not installed (apt-get install runc)"; fi
	@# A pod's CRI lifecycle through a private containerd (scripts/cri-bins):
	@# plain runc, the tend RuntimeClass, the NRI plugin; its own table.
	@if command -v runc >/dev/null 2>&1 && bins=$$(./scripts/cri-bins); then \
	  $(MAKE) tend-nri && CGO_ENABLED=0 $(GO) build -o bin/pod-pause ./test/cri/pause && \
	  ./bin/tendbench cri -bins $$bins -tend $(BIN) -tend-runc bin/tend-runc -tend-nri bin/tend-nri \
	    -testprog bin/testprog -pause bin/pod-pause -out BENCHMARKS.md $(BENCH_CRI_ARGS); \
	else echo "bench-compare: SKIPPING the CRI table: no runc, or scripts/cri-bins failed"; fi
