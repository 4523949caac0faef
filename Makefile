# dexplane — see README.md. Every target works on a fresh Debian machine with Go;
# targets that touch the network need root (they create their own namespaces).

GO        ?= go
BIN       := bin/dexplane
FUZZTIME  ?= 5s
PKGS      := ./...
# staticcheck is installed (pinned) by scripts/install-deps.sh.
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: all build test race unit fuzz bench bench-harness demo dashboard-png soak generate generate-check lint fmt vet deps clean deb

all: build

build:
	$(GO) build -o $(BIN) ./cmd/dexplane

## deb: bin/dexplane_VERSION_ARCH.deb with dpkg-deb (binary, systemd unit,
## /etc/dexplane/dexplane.yaml conffile, Wireshark dissector, collector files).
deb:
	./scripts/deb.sh bin

## deps: install the Debian packages and tools the tests and the demo use (idempotent).
deps:
	./scripts/install-deps.sh

## test: everything CI runs: lint, unit and e2e tests (e2e need root), the same
## under the race detector, short fuzzing of every parser and editor.
test: deps lint
	$(GO) test -count=1 -timeout 30m $(PKGS)
	$(MAKE) race
	./scripts/fuzz.sh $(FUZZTIME)

## race: unit and e2e tests under the race detector.
race:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## unit: tests that need neither root nor extra packages.
unit:
	$(GO) test -count=1 -short $(PKGS)

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

## bench: Go micro-benchmarks of the hot paths (benchstat-friendly).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./dataplane/... ./exporter/... ./config/...

## bench-harness: the paper's evaluation on veths (quick mode; FULL=1 for the full matrix).
bench-harness: build
	./scripts/bench.sh $(if $(FULL),full,quick)

## soak: 10 minutes of the demo under load with faults on a timer (not in CI).
soak: build
	./scripts/soak.sh

## demo: the main job: a four-node IOAM domain in network namespaces (root).
demo: build
	./scripts/install-deps.sh --demo
	./scripts/demo.sh

## generate: rebuild the XDP objects with bpf2go (needs clang, llvm, libbpf-dev).
generate:
	$(GO) generate ./steering/...

## generate-check: fail if `make generate` changes the bpf2go output (objects
## and Go bindings) in the tree: CI catches a steer.c edit committed without
## its objects. Regeneration is deterministic for the same clang.
generate-check:
	@before=$$(sha256sum steering/*_bpfel.*); $(MAKE) -s generate; \
	if [ "$$before" != "$$(sha256sum steering/*_bpfel.*)" ]; then \
		echo "generate-check: the bpf2go output was stale and is now regenerated; commit it:" >&2; \
		git status --short -- steering >&2; exit 1; fi

## lint: what CI requires of the source: gofmt -s, go vet, staticcheck (version
## pinned in scripts/install-deps.sh), a tidy go.mod and fresh bpf2go objects.
# The domain dashboard as a picture (docs/domain-dashboard.png): 80 s of
# three nodes' records through collect, scraped by Debian's Prometheus, each
# panel's PromQL plotted with gonum/plot (not Grafana).
dashboard-png:
	DEXPLANE_DASHBOARD_PNG=$(CURDIR)/docs/domain-dashboard.png go test -count=1 -run TestDomainDashboardPicture -v ./cmd/dexplane/

lint: vet generate-check
	@out=$$(gofmt -s -l .); if [ -n "$$out" ]; then \
		echo "lint: gofmt -s needed (make fmt):" >&2; echo "$$out" >&2; exit 1; fi
	$(STATICCHECK) $(PKGS)
	$(GO) mod tidy -diff

fmt:
	gofmt -s -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf bin
