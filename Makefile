# secret-injector — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

GO      ?= go
BIN     := bin/secret-injector
# The agent alone (no Kubernetes client): what the injected containers run.
AGENT_BIN := bin/secret-injector-agent
# Build tags that leave backends out of the agent: agent_nogcp, agent_noaws,
# agent_novault (comma-separated). A cluster that enables only Vault can
# build its image with AGENT_TAGS=agent_nogcp,agent_noaws: the agent then
# takes ~8 MiB less memory and starts ~30 ms sooner (docs/performance.md).
AGENT_TAGS ?=
# One version scheme: the chart's appVersion (v0.1.0) is the default image
# tag and, until a v* tag is cut, the binary's version.
APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^" ]*\)"\{0,1\} *$$/\1/p' charts/secret-injector/Chart.yaml)
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo $(APP_VERSION))
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Every file in the images carries this time, so the same commit gives the same bytes.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Stamped into both binaries (`secret-injector version`, the
# secret_injector_build_info metric); the build date is the commit's time,
# so that the same commit builds the same bytes.
BUILDINFO := github.com/tradepulse/secret-injector/internal/buildinfo
# Static binaries: the images are FROM scratch (no libc).
LDFLAGS := -s -w -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(REVISION) -X $(BUILDINFO).date=$(SOURCE_DATE_EPOCH)
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -tags '$(AGENT_TAGS)'
IMAGE_TAG ?= $(APP_VERSION)
IMAGE ?= ghcr.io/tradepulse/secret-injector:$(IMAGE_TAG)
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_TAR := bin/secret-injector-image.tar
# The e2e cluster bed's sandbox and app images (linux/amd64).
PAUSE_IMAGE ?= localhost/secret-injector/pause:v1
TESTAPP_IMAGE ?= localhost/secret-injector/testapp:v1
PACK := $(GO) run ./hack/image --source-date-epoch $(SOURCE_DATE_EPOCH) --revision $(REVISION)
# Go packages, excluding the test-bed tool wrappers (modules of their own).
PKGS    := ./...

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/secret-injector and bin/secret-injector-agent, the agent alone (static: CGO_ENABLED=0).
	$(GOBUILD) -o bin/ ./cmd/secret-injector ./cmd/secret-injector-agent

.PHONY: image
image: ## Build the image for linux/amd64 and linux/arm64 without Docker: OCI archive bin/secret-injector-image.tar, tagged IMAGE (ghcr.io/tradepulse/secret-injector:<appVersion>).
	@for p in $(IMAGE_PLATFORMS); do \
	  os=$${p%%/*}; arch=$${p#*/}; out=bin/$$os-$$arch/; \
	  echo "building $${out}secret-injector, $${out}secret-injector-agent ($(VERSION))"; \
	  GOOS=$$os GOARCH=$$arch $(GOBUILD) -o $$out ./cmd/secret-injector ./cmd/secret-injector-agent; \
	done
	$(PACK) --ref $(IMAGE) --out $(IMAGE_TAR) --version $(VERSION) --also secret-injector-agent \
	  $(foreach p,$(IMAGE_PLATFORMS),--platform $(p)=bin/$(subst /,-,$(p))/secret-injector)

.PHONY: print-image
print-image: ## Print the reference `make image` tags (IMAGE).
	@echo $(IMAGE)

.PHONY: test-images
test-images: ## Build the e2e cluster bed's pause and test-app images (linux/amd64): bin/pause-image.tar, bin/testapp-image.tar.
	GOOS=linux GOARCH=amd64 $(GOBUILD) -o bin/linux-amd64/pause ./e2e/images/pause
	GOOS=linux GOARCH=amd64 $(GOBUILD) -o bin/linux-amd64/testapp ./e2e/images/testapp
	$(PACK) --ref $(PAUSE_IMAGE) --out bin/pause-image.tar --platform linux/amd64=bin/linux-amd64/pause \
	  --entrypoint /pause --user 65535:65535
	$(PACK) --ref $(TESTAPP_IMAGE) --out bin/testapp-image.tar --platform linux/amd64=bin/linux-amd64/testapp \
	  --entrypoint /testapp --user 10001:10001

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
e2e: ## Fast end-to-end suite (./e2e): real API server, webhook, agents run by the pod runner, Vault + PostgreSQL.
	hack/with-bed.sh $(GO) test -race -count=1 -timeout 15m ./e2e/

.PHONY: demo
demo: ## Walk through the runbook on the real cluster (root): chart from `make image`, a Deployment, files, rotation, revocations (Ctrl-C ends it).
	$(GO) build -o bin/e2e-demo ./e2e/cmd/demo
	hack/with-bed.sh hack/with-cluster.sh bin/e2e-demo -cluster $(DEMO_FLAGS)

.PHONY: demo-fast
demo-fast: ## The same walk-through on the fast bed (no root): API server, the webhook as a process, the pod runner as kubelet.
	$(GO) build -o bin/e2e-demo ./e2e/cmd/demo
	hack/with-bed.sh bin/e2e-demo $(DEMO_FLAGS)

.PHONY: chaos
chaos: ## Fault suite on the real cluster (root, ~20 min): Vault restarted, sealed, partitioned, 500/429/slow; PostgreSQL restarted; token and role revoked; agent SIGKILLed; payload over the volume; webhook killed and down; 1,000 admissions; table in .chaos/report.md.
	hack/with-bed.sh hack/with-cluster.sh $(GO) test -race -count=1 -v -timeout 40m ./e2e/chaos

.PHONY: e2e-cluster
e2e-cluster: ## Real-pods suite only (./e2e/cluster): the chart on a real single-node cluster, pods run by the kubelet (root).
	hack/with-bed.sh hack/with-cluster.sh $(GO) test -race -count=1 -timeout 30m -v ./e2e/cluster

.PHONY: bench-cluster
bench-cluster: ## Pod create → Ready on the real node, with and without injection (10 pods each).
	hack/with-bed.sh hack/with-cluster.sh $(GO) test -run '^$$' -bench PodStart -benchtime 10x -timeout 20m ./e2e/cluster

.PHONY: cluster-up
cluster-up: ## Bring the real single-node cluster up (root); `hack/cluster.sh env` prints its variables.
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Take the real cluster down and undo its host changes.
	hack/cluster.sh down

.PHONY: vet
vet: ## go vet and gofmt check.
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: ## staticcheck over every package (built once into the tool cache by hack/lint.sh).
	hack/lint.sh $(PKGS)

.PHONY: bench
bench: build ## Benchmarks side by side (vault agent, a no-op webhook, 1,000 leases, backend calls): table on stdout, raw figures in .bench/ (~7½ min).
	bench/run.sh $(AGENT_BIN)

.PHONY: clean
clean: ## Remove build output and .secrets/.
	rm -rf bin .secrets .bench
