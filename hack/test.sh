#!/usr/bin/env bash
# The full suite: static checks, then every test with -race against the
# real test bed — kube-apiserver + etcd (envtest), helm, Vault + PostgreSQL
# (hack/with-bed.sh). CI runs this through .ci/run; so does `make test`.
# Tools are compiled from the Go module proxy once into
# ~/.cache/secret-injector (cold: ~25 minutes on two cores, progress shown);
# later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "go vet + gofmt"
make --no-print-directory vet

step "go test -race ./... (in the test bed)"
hack/with-bed.sh go test -race -count=1 -timeout 30m ./... 2>&1 | tee .test.log

printf '\n==> make test passed in %dm%02ds\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
