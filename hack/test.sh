#!/usr/bin/env bash
# The full suite: static checks, then every test with -race. CI runs this
# through .ci/run; so does `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "go vet + gofmt"
make --no-print-directory vet

step "go test -race ./..."
go test -race -count=1 ./... 2>&1 | tee .test.log
