#!/usr/bin/env bash
# Builds the Kubernetes test-bed tools (kube-apiserver, etcd, kubectl, helm)
# from the Go module proxy into a cache outside the clone, and prints how to
# use them. Nothing can be downloaded as a binary here, so each tool is
# compiled once per version and build recipe; later runs only check a marker.
#
# usage: hack/k8s-tools.sh [kube-apiserver|etcd|kubectl|helm|all|env]
#   <tool>|all  build what is missing, report progress, print the env lines
#   env         the same, but stdout holds only the export lines, e.g.
#               eval "$(hack/k8s-tools.sh env)"
#
# Cache: ${SECRET_INJECTOR_CACHE:-$HOME/.cache/secret-injector}/tools/
#   <tool>-<version>-<recipe-hash>/<tool> plus a .ok marker written last.
# The recipe hash covers the wrapper module in hack/tools/<tool>/ and the
# linker flags, so a changed recipe builds into a fresh directory.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
HELM_VERSION=v3.22.0
# Niceness of the compiler: the machines running this are small and shared.
NICENESS=${SECRET_INJECTOR_BUILD_NICE:-10}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_SRC="$ROOT/hack/tools"
CACHE="${SECRET_INJECTOR_CACHE:-$HOME/.cache/secret-injector}/tools"

log() { printf '%s\n' "$*" >&2; }
die() { log "k8s-tools: $*"; exit 1; }

# version and cold-build estimate of each tool
tool_version() {
	case $1 in
	kube-apiserver | kubectl) echo "$K8S_VERSION" ;;
	etcd) echo "$ETCD_VERSION" ;;
	helm) echo "$HELM_VERSION" ;;
	*) die "unknown tool $1" ;;
	esac
}

tool_estimate() {
	case $1 in
	kube-apiserver) echo "~8 min" ;;
	kubectl) echo "~3 min" ;;
	etcd) echo "~1 min" ;;
	helm) echo "~2 min" ;;
	esac
}

# The -X flags that make the binaries report their real version instead of
# v0.0.0 (kubernetes' hack/lib/version.sh; helm's Makefile).
tool_ldflags() {
	local t=$1 v
	v=$(tool_version "$t")
	case $t in
	kube-apiserver | kubectl)
		local minor=${v#v1.}
		minor=${minor%%.*}
		local pkg flags=""
		for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
		done
		echo "-s -w$flags"
		;;
	etcd) echo "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$v" ;;
	helm)
		local kminor=${K8S_VERSION#v1.}
		kminor=${kminor%%.*}
		echo "-s -w -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
			"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor" \
			"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor"
		;;
	esac
}

# recipe_hash hashes what decides the binary: the wrapper module's files (helm
# has none: it is a plain go install) and the flags.
recipe_hash() {
	local t=$1
	{
		echo "tool=$t version=$(tool_version "$t")"
		echo "ldflags=$(tool_ldflags "$t")"
		if [[ -d "$TOOLS_SRC/$t" ]]; then
			local f
			for f in go.mod go.sum main.go; do
				echo "== $f"
				cat "$TOOLS_SRC/$t/$f"
			done
		fi
	} | sha256sum | cut -c1-12
}

tool_dir() { echo "$CACHE/$1-$(tool_version "$1")-$(recipe_hash "$1")"; }

is_built() { [[ -f "$1/.ok" && -x "$1/$2" ]]; }

# compile writes the binary for tool $1 to path $2.
compile() {
	local t=$1 out=$2 ldflags
	ldflags=$(tool_ldflags "$t")
	if [[ $t == helm ]]; then
		# go install pkg@version ignores any enclosing module; GOBIN takes the binary.
		local bin
		bin=$(dirname "$out")/.gobin
		mkdir -p "$bin"
		(cd "$(dirname "$out")" && GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$bin" \
			nice -n "$NICENESS" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
		mv "$bin/helm" "$out"
		rmdir "$bin"
	else
		[[ -f "$TOOLS_SRC/$t/go.mod" ]] || die "missing wrapper module $TOOLS_SRC/$t"
		(cd "$TOOLS_SRC/$t" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" \
			nice -n "$NICENESS" go build -trimpath -ldflags "$ldflags" -o "$out" .)
	fi
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# build makes sure tool $1 is in the cache. One build at a time across
# processes: a lock serialises them, and whoever waited finds the work done.
build() {
	local t=$1 dir
	dir=$(tool_dir "$t")
	is_built "$dir" "$t" && return 0
	mkdir -p "$CACHE"
	exec {lock}>"$CACHE/.build.lock"
	if ! flock -n "$lock"; then
		log "waiting for another k8s-tools build to finish…"
		flock "$lock"
	fi
	if is_built "$dir" "$t"; then
		exec {lock}>&-
		return 0
	fi
	mkdir -p "$dir"
	local start=$SECONDS
	log "building $t $(tool_version "$t") (cold: $(tool_estimate "$t"))… into $dir"
	(
		# short sleeps so that nothing outlives the build by more than a second;
		# the lock is closed here so that a lingering sleep cannot hold it
		exec {lock}>&-
		while :; do
			for _ in {1..30}; do sleep 1; done
			log "  … still building $t, $(fmt_secs $((SECONDS - start))) elapsed"
		done
	) &
	local ticker=$!
	local rc=0
	compile "$t" "$dir/$t.tmp" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	if ((rc != 0)); then
		rm -f "$dir/$t.tmp"
		exec {lock}>&-
		die "building $t failed (exit $rc) after $(fmt_secs $((SECONDS - start)))"
	fi
	mv "$dir/$t.tmp" "$dir/$t"
	touch "$dir/.ok"
	log "built $t $(tool_version "$t") in $(fmt_secs $((SECONDS - start)))"
	exec {lock}>&-
}

# assets_dir gathers kube-apiserver, etcd and kubectl (as symlinks) in one
# directory, the layout envtest expects in KUBEBUILDER_ASSETS.
assets_dir() {
	local api etcd kctl key dir
	api=$(tool_dir kube-apiserver)
	etcd=$(tool_dir etcd)
	kctl=$(tool_dir kubectl)
	key=$(printf '%s\n' "$api" "$etcd" "$kctl" | sha256sum | cut -c1-12)
	dir="$CACHE/envtest-$K8S_VERSION-$key"
	if [[ ! -f "$dir/.ok" ]]; then
		mkdir -p "$dir"
		ln -sfn "$api/kube-apiserver" "$dir/kube-apiserver"
		ln -sfn "$etcd/etcd" "$dir/etcd"
		ln -sfn "$kctl/kubectl" "$dir/kubectl"
		touch "$dir/.ok"
	fi
	echo "$dir"
}

env_lines() {
	echo "export KUBEBUILDER_ASSETS=$(assets_dir)"
	echo "export HELM=$(tool_dir helm)/helm"
}

main() {
	local what=${1:-all}
	case $what in
	-h | --help | help)
		sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		;;
	env)
		# cheapest first, so the quick tools are usable while the big one builds
		local t
		for t in etcd helm kubectl kube-apiserver; do build "$t"; done
		env_lines
		;;
	all)
		local t
		for t in etcd helm kubectl kube-apiserver; do build "$t"; done
		log "tools ready:"
		env_lines
		;;
	kube-apiserver | etcd | kubectl | helm)
		build "$what"
		echo "$what: $(tool_dir "$what")/$what"
		if [[ $what == helm ]]; then
			echo "export HELM=$(tool_dir helm)/helm"
		else
			log "(envtest needs kube-apiserver and etcd; 'hack/k8s-tools.sh env' prints KUBEBUILDER_ASSETS)"
		fi
		;;
	*) die "unknown argument '$what' (want kube-apiserver, etcd, kubectl, helm, all or env)" ;;
	esac
}

main "$@"
