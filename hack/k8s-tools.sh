#!/usr/bin/env bash
# Builds the Kubernetes test-bed tools (kube-apiserver, etcd, kubectl, helm)
# and, for the real node, kubelet, kube-controller-manager, kube-scheduler,
# kube-proxy, containerd and crictl from the Go module proxy into a cache
# outside the clone, and prints how to use them. Nothing can be downloaded as
# a binary here, so each tool is compiled once per version and build recipe;
# later runs only check a marker.
#
# usage: hack/k8s-tools.sh [<tool>|all|env|node|node-env|path <tool>]
#   <tool>|all  build what is missing, report progress, print the env lines
#   env         the same, but stdout holds only the export lines, e.g.
#               eval "$(hack/k8s-tools.sh env)"
#   node        build the envtest tools and the node's (hack/cluster.sh)
#   node-env    the same, stdout only export lines (SI_BIN_<TOOL>=path)
#   path <tool> print the cached binary's path (build it if missing)
#
# Cache: ${SECRET_INJECTOR_CACHE:-$HOME/.cache/secret-injector}/tools/
#   <tool>-<version>-<recipe-hash>/<tool> plus a .ok marker written last.
# The recipe hash covers the wrapper module in hack/tools/<tool>/ and the
# linker flags, so a changed recipe builds into a fresh directory.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
HELM_VERSION=v3.22.0
# containerd 2.x: kubelet 1.38 drops its fallback for containerd 1.x, which
# lacks the CRI RuntimeConfig call (cgroup driver), so Debian's 1.6 is not used.
CONTAINERD_VERSION=v2.4.2
CRICTL_VERSION=v1.37.0
ENVTEST_TOOLS="etcd helm kubectl kube-apiserver"
NODE_TOOLS="kubelet kube-scheduler kube-controller-manager kube-proxy containerd crictl"
# Niceness of the compiler: the machines running this are small and shared.
NICENESS=${SECRET_INJECTOR_BUILD_NICE:-10}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_SRC="$ROOT/hack/tools"

log() { printf '%s\n' "$*" >&2; }
die() { log "k8s-tools: $*"; exit 1; }

# shellcheck source=hack/lib/toolcache.sh
source "$ROOT/hack/lib/toolcache.sh"
CACHE=$TOOLCACHE

# version and cold-build estimate of each tool
tool_version() {
	case $1 in
	kube-apiserver | kubectl | kubelet | kube-scheduler | kube-controller-manager | kube-proxy) echo "$K8S_VERSION" ;;
	etcd) echo "$ETCD_VERSION" ;;
	helm) echo "$HELM_VERSION" ;;
	containerd) echo "$CONTAINERD_VERSION" ;;
	crictl) echo "$CRICTL_VERSION" ;;
	*) die "unknown tool $1" ;;
	esac
}

tool_estimate() {
	case $1 in
	kube-apiserver) echo "~8 min" ;;
	kubectl) echo "~3 min" ;;
	etcd) echo "~1 min" ;;
	helm) echo "~2 min" ;;
	kubelet) echo "~3 min after kube-apiserver" ;;
	kube-controller-manager) echo "~3 min after kube-apiserver" ;;
	kube-scheduler | kube-proxy) echo "~1 min after kube-apiserver" ;;
	containerd) echo "~2 min" ;;
	crictl) echo "~1 min" ;;
	esac
}

# The -X flags that make the binaries report their real version instead of
# v0.0.0 (kubernetes' hack/lib/version.sh; helm's Makefile).
tool_ldflags() {
	local t=$1 v
	v=$(tool_version "$t")
	case $t in
	kube-apiserver | kubectl | kubelet | kube-scheduler | kube-controller-manager | kube-proxy)
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
	containerd) echo "-s -w -X github.com/containerd/containerd/v2/version.Version=$v" ;;
	crictl) echo "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$v" ;;
	esac
}

# recipe_hash hashes what decides the binary: the wrapper module's files (helm
# has none: it is a plain go install) and the flags.
recipe_hash() {
	local t=$1
	{
		echo "tool=$t version=$(tool_version "$t")"
		echo "ldflags=$(tool_ldflags "$t")"
		local tags
		tags=$(tool_tags "$t")
		[[ -z $tags ]] || echo "tags=$tags"
		if [[ -d "$TOOLS_SRC/$t" ]]; then
			local f
			for f in go.mod go.sum main.go; do
				echo "== $f"
				cat "$TOOLS_SRC/$t/$f"
			done
		fi
	} | toolcache_hash
}

# Build tags: containerd's snapshotters that need C libraries are left out.
tool_tags() {
	case $1 in
	containerd) echo "no_btrfs no_devmapper no_zfs" ;;
	esac
}

tool_dir() { toolcache_dir "$1" "$(tool_version "$1")" "$(recipe_hash "$1")"; }

# compile writes the binary for tool $1 to path $2.
compile() {
	local t=$1 out=$2 ldflags
	ldflags=$(tool_ldflags "$t")
	local pkgs=""
	case $t in
	helm) pkgs="helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ;;
	crictl) pkgs="sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" ;;
	containerd)
		local c
		for c in containerd containerd-shim-runc-v2 ctr; do
			pkgs+=" github.com/containerd/containerd/v2/cmd/$c@$CONTAINERD_VERSION"
		done
		;;
	esac
	if [[ -n $pkgs ]]; then
		# go install pkg@version ignores any enclosing module; GOBIN takes the
		# binaries, which land beside the tool's own (containerd brings its shim
		# and ctr).
		local bin
		bin=$(dirname "$out")/.gobin
		mkdir -p "$bin"
		# shellcheck disable=SC2086
		(cd "$(dirname "$out")" && GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$bin" CGO_ENABLED=0 \
			nice -n "$NICENESS" go install -trimpath -tags "$(tool_tags "$t")" -ldflags "$ldflags" $pkgs)
		local f
		for f in "$bin"/*; do
			[[ $(basename "$f") == "$t" ]] && continue
			mv "$f" "$(dirname "$out")/"
		done
		mv "$bin/$t" "$out"
		rmdir "$bin"
	else
		[[ -f "$TOOLS_SRC/$t/go.mod" ]] || die "missing wrapper module $TOOLS_SRC/$t"
		(cd "$TOOLS_SRC/$t" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" \
			nice -n "$NICENESS" go build -trimpath -ldflags "$ldflags" -o "$out" .)
	fi
}

# build makes sure tool $1 is in the cache (hack/lib/toolcache.sh: one
# build at a time across processes).
build() {
	local t=$1
	toolcache_build "$(tool_dir "$t")" "$t" .build.lock "$t $(tool_version "$t")" "$(tool_estimate "$t")" "" -- compile "$t"
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

# node_env_lines names each node tool's binary as SI_BIN_<TOOL> (dashes
# become underscores), for hack/cluster.sh.
node_env_lines() {
	local t
	for t in $ENVTEST_TOOLS $NODE_TOOLS; do
		local var=${t//-/_}
		echo "export SI_BIN_${var^^}=$(tool_dir "$t")/$t"
	done
}

main() {
	local what=${1:-all}
	case $what in
	-h | --help | help)
		sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		;;
	env)
		# cheapest first, so the quick tools are usable while the big one builds
		local t
		for t in $ENVTEST_TOOLS; do build "$t"; done
		env_lines
		;;
	all)
		local t
		for t in $ENVTEST_TOOLS; do build "$t"; done
		log "tools ready:"
		env_lines
		;;
	node | node-env)
		local t
		for t in $ENVTEST_TOOLS $NODE_TOOLS; do build "$t"; done
		[[ $what == node ]] && log "node tools ready:"
		node_env_lines
		;;
	path)
		[[ -n ${2:-} ]] || die "path needs a tool name"
		build "$2"
		echo "$(tool_dir "$2")/$2"
		;;
	kube-apiserver | etcd | kubectl | helm | kubelet | kube-scheduler | kube-controller-manager | kube-proxy | containerd | crictl)
		build "$what"
		echo "$what: $(tool_dir "$what")/$what"
		if [[ $what == helm ]]; then
			echo "export HELM=$(tool_dir helm)/helm"
		else
			log "(envtest needs kube-apiserver and etcd; 'hack/k8s-tools.sh env' prints KUBEBUILDER_ASSETS)"
		fi
		;;
	*) die "unknown argument '$what' (want a tool name, all, env, node, node-env or path <tool>)" ;;
	esac
}

main "$@"
