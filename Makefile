# secret-injector — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

GO      ?= go
BIN     := bin/secret-injector
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Go packages, excluding the test-bed tool wrappers (modules of their own).
PKGS    := ./...

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/secret-injector.
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/secret-injector

.env:
	cp .env.example .env
	@echo "created .env from .env.example (git-ignored): edit it and watch .secrets/ change"

.PHONY: run
run: build .env ## Run the agent on the local .env backend, rendering into .secrets/ (Ctrl-C stops).
	@echo "agent: .env -> .secrets/   metrics: http://127.0.0.1:9102/metrics   admin: http://127.0.0.1:9101/v1/status"
	$(BIN) agent --mode sidecar --config examples/agent.yaml --log-format text

.PHONY: fetch
fetch: build .env ## Fetch every secret once into .secrets/ and exit.
	$(BIN) fetch --config examples/agent.yaml

.PHONY: unit
unit: ## Fast lane: unit tests with -race, no servers (seconds).
	$(GO) test -race -short $(PKGS)

.PHONY: test
test: ## Full suite (what CI runs): vet, gofmt, every test with -race against the real test bed.
	hack/test.sh

# Flags for `make demo`, e.g. DEMO_FLAGS='-exit -backend aws'.
DEMO_FLAGS ?=

.PHONY: e2e
e2e: ## End-to-end suite only (./e2e/...): real API server, webhook, agents, Vault + PostgreSQL.
	hack/with-bed.sh $(GO) test -race -count=1 -timeout 15m ./e2e/...

.PHONY: demo
demo: ## Walk through the runbook on a local bed: a pod injected, files, rotation, revocations (Ctrl-C ends it).
	$(GO) build -o bin/e2e-demo ./e2e/cmd/demo
	hack/with-bed.sh bin/e2e-demo $(DEMO_FLAGS)

.PHONY: vet
vet: ## go vet and gofmt check.
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: bench
bench: build ## Benchmarks side by side (vault agent, a no-op webhook, 1,000 leases, backend calls): table on stdout, raw figures in .bench/ (~6 min).
	bench/run.sh $(BIN)

.PHONY: clean
clean: ## Remove build output and .secrets/.
	rm -rf bin .secrets .bench
