# Developer entry points. `make help` lists them.
GO ?= go
PKGS := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: help build run test test-race test-integration lint vet fmt verify bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build bin/npsgate
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/npsgate ./cmd/npsgate

run: ## run the gateway on the embedded defaults
	$(GO) run ./cmd/npsgate serve

test: ## unit and integration tests (miniredis and SQLite unless NPSGATE_TEST_* are set)
	$(GO) test $(PKGS)

test-race: ## tests with the race detector
	$(GO) test -race $(PKGS)

test-integration: ## tests on the local Redis and PostgreSQL
	NPSGATE_TEST_REDIS=$${NPSGATE_TEST_REDIS:-redis://127.0.0.1:6379} \
	NPSGATE_TEST_POSTGRES=$${NPSGATE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable} \
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

vet: ## go vet
	$(GO) vet $(PKGS)

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

verify: vet ## what CI checks besides tests: formatting, vet, tidy go.mod
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) mod tidy -diff

bench: ## go test benchmarks of the hot functions
	NPSGATE_TEST_REDIS=$${NPSGATE_TEST_REDIS:-redis://127.0.0.1:6379} \
	NPSGATE_TEST_POSTGRES=$${NPSGATE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable} \
	$(GO) run ./bench/cmd/npsbench -scale $(or $(BENCH_SCALE),1) -out BENCHMARKS.md $(BENCH_FLAGS)

clean: ## remove build output and the local data dir
	rm -rf bin data

.PHONY: reliability
reliability: ## fault-injection suite: the built binary as api/worker processes on the local Redis and PostgreSQL (kill -9, SIGTERM, restarts, outages, provider faults)
	NPSGATE_TEST_REDIS=$${NPSGATE_TEST_REDIS:-redis://127.0.0.1:6379} \
	NPSGATE_TEST_POSTGRES=$${NPSGATE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable} \
	$(GO) test -count=1 -v -timeout 10m ./reliability/
