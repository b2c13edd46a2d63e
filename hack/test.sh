#!/usr/bin/env bash
# The full suite: static checks, then every test with -race against the
# real test bed — kube-apiserver + etcd (envtest), helm, Vault + PostgreSQL.
# CI runs this through .ci/run; so does `make test`. Tools are compiled from
# the Go module proxy once into ~/.cache/secret-injector (cold: ~30 minutes
# on two cores, progress shown); later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "go vet + gofmt"
make --no-print-directory vet

step "test-bed tools: kube-apiserver, etcd, kubectl, helm (cached)"
hack/k8s-tools.sh all
eval "$(hack/k8s-tools.sh env)"

step "test-bed tools: vault (cached)"
hack/vault-bed.sh build

step "starting Vault + PostgreSQL"
# A bed that was already up (a developer's, shared) is reused and left up;
# one started here is stopped at the end.
if ! hack/vault-bed.sh status >/dev/null 2>&1; then
	trap 'hack/vault-bed.sh down >/dev/null 2>&1 || true' EXIT
fi
hack/vault-bed.sh up
eval "$(hack/vault-bed.sh env)"

step "go test -race ./..."
go test -race -count=1 -timeout 30m ./... 2>&1 | tee .test.log

printf '\n==> make test passed in %dm%02ds\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
