#!/usr/bin/env bash
# The full suite: static checks, then every test with -race against the
# real test bed — kube-apiserver + etcd (envtest), helm, Vault + PostgreSQL
# (hack/with-bed.sh) — and last the real-pods suite (e2e/cluster) on a
# real single-node cluster (hack/with-cluster.sh: kubelet, containerd, the
# controllers, the chart installed with helm). CI runs this through
# .ci/run; so does `make test`. Tools are compiled from the Go module proxy
# once into ~/.cache/secret-injector (cold: ~40 minutes on two cores,
# progress shown); later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "go vet + gofmt + staticcheck"
make --no-print-directory vet
make --no-print-directory lint

# The real-pods suite runs alone, after the rest: it shares two cores with
# a kubelet and twenty pods.
# The fault suite (./e2e/chaos, `make chaos`) follows it on the same
# cluster; -p 1: each installs the chart as the same release.
step "go test -race ./... (in the test bed), then ./e2e/cluster and the fault suite ./e2e/chaos on the real cluster"
hack/with-bed.sh bash -c '
	go test -race -count=1 -timeout 30m $(go list ./... | grep -v -e /e2e/cluster$ -e /e2e/chaos$) &&
	hack/with-cluster.sh go test -race -count=1 -p 1 -timeout 60m -v ./e2e/cluster ./e2e/chaos' 2>&1 | tee .test.log

printf '\n==> make test passed in %dm%02ds\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
