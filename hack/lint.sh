#!/usr/bin/env bash
# Runs staticcheck over the module: `make lint`, and hack/test.sh's static
# checks step. staticcheck is compiled once from the Go module proxy into
# the tool cache (hack/lib/toolcache.sh), keyed by its version and the Go
# toolchain's: a staticcheck built by an older Go cannot load newer code.
#
# usage: hack/lint.sh [path | <packages>...]   (default ./...)
#   path   print the cached binary's path (build it if missing)
#
# A finding that must stay (a deprecated API whose replacement needs a
# change of behaviour) is kept with a //lint:ignore <check> <reason> line.
set -euo pipefail

STATICCHECK_VERSION=v0.8.2
NICENESS=${SECRET_INJECTOR_BUILD_NICE:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '%s\n' "$*" >&2; }
die() { log "lint: $*"; exit 1; }

# shellcheck source=hack/lib/toolcache.sh
source "$ROOT/hack/lib/toolcache.sh"

recipe_hash() {
	echo "staticcheck=$STATICCHECK_VERSION go=$(go env GOVERSION) ldflags=-s -w" | toolcache_hash
}

staticcheck_dir() { toolcache_dir staticcheck "$STATICCHECK_VERSION" "$(recipe_hash)"; }

# compile installs staticcheck at path $1 (go install pkg@version, outside
# any module: the project's go.mod does not pin the linter's dependencies).
compile() {
	local out=$1 bin
	bin=$(dirname "$out")/.gobin
	mkdir -p "$bin"
	(cd "$(dirname "$out")" && GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$bin" CGO_ENABLED=0 \
		nice -n "$NICENESS" go install -trimpath -ldflags "-s -w" "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION")
	mv "$bin/staticcheck" "$out"
	rmdir "$bin"
}

dir=$(staticcheck_dir)
toolcache_build "$dir" staticcheck .lint-build.lock "staticcheck $STATICCHECK_VERSION" "~2 min" "" -- compile

if [[ ${1:-} == path ]]; then
	echo "$dir/staticcheck"
	exit 0
fi
cd "$ROOT"
(($# > 0)) || set -- ./...
nice -n "$NICENESS" "$dir/staticcheck" "$@"
