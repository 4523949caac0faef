# dexplane — see README.md. Every target works on a fresh Debian machine with Go;
# targets that touch the network need root (they create their own namespaces).

GO        ?= go
BIN       := bin/dexplane
FUZZTIME  ?= 5s
PKGS      := ./...

.PHONY: all build test unit e2e fuzz bench demo generate fmt vet deps clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/dexplane

## deps: install the Debian packages and tools the tests and the demo use (idempotent).
deps:
	./scripts/install-deps.sh

## test: everything CI runs: vet, unit and e2e tests (e2e need root), short fuzzing.
test: deps vet
	$(GO) test -count=1 -timeout 30m $(PKGS)
	./scripts/fuzz.sh $(FUZZTIME)

## unit: tests that need neither root nor extra packages.
unit:
	$(GO) test -count=1 -short $(PKGS)

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

## bench: Go micro-benchmarks of the hot paths (benchstat-friendly).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./dataplane/... ./exporter/... ./config/...

## demo: the main job: a four-node IOAM domain in network namespaces (root).
demo: build
	./scripts/demo.sh

## generate: rebuild the XDP objects with bpf2go (needs clang, llvm, libbpf-dev).
generate:
	$(GO) generate ./ebpf/...

fmt:
	gofmt -s -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf bin
