# shellcheck shell=bash
# The tool cache that every build script of the test beds shares
# (hack/k8s-tools.sh, hack/vault-bed.sh): tools are compiled from the Go
# module proxy once per version and build recipe, into a cache outside the
# clone, and later runs only check a marker.
#
# Cache: ${SECRET_INJECTOR_CACHE:-$HOME/.cache/secret-injector}/tools/
#   <tool>-<version>-<recipe-hash>/<binary> plus a .ok marker written last,
#   so that an interrupted build is never taken for a finished one.
#
# Source it after defining log and die. The directory names are what every
# machine's cache is keyed by: changing how they are computed rebuilds
# Vault and Kubernetes everywhere.

TOOLCACHE="${SECRET_INJECTOR_CACHE:-$HOME/.cache/secret-injector}/tools"

# toolcache_hash reads a build recipe (what decides the binary: versions,
# flags, wrapper module files) on stdin and prints its 12-character hash.
toolcache_hash() { sha256sum | cut -c1-12; }

# toolcache_dir <tool> <version> <recipe-hash> prints the tool's directory.
toolcache_dir() { echo "$TOOLCACHE/$1-$2-$3"; }

# toolcache_is_built <dir> <binary> holds when the build in dir finished.
toolcache_is_built() { [[ -f "$1/.ok" && -x "$1/$2" ]]; }

toolcache_fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# toolcache_build <dir> <binary> <lock> <what> <estimate> <progress> -- <compile...>
# makes sure <dir>/<binary> is built. <compile...> is run with the
# temporary output path appended; it may write more files into <dir>.
# Builds under the same <lock> file name (in the cache) run one at a time
# across processes, and whoever waited finds the work done. <progress>,
# when not empty, is a function whose output ends the still-building line.
toolcache_build() {
	local dir=$1 bin=$2 lockname=$3 what=$4 estimate=$5 progress=$6
	shift 6
	[[ ${1:-} == -- ]] || die "toolcache_build: want -- before the compile command"
	shift
	toolcache_is_built "$dir" "$bin" && return 0
	mkdir -p "$TOOLCACHE"
	local lock
	exec {lock}>"$TOOLCACHE/$lockname"
	if ! flock -n "$lock"; then
		log "waiting for another $what build to finish…"
		flock "$lock"
	fi
	if toolcache_is_built "$dir" "$bin"; then
		exec {lock}>&-
		return 0
	fi
	mkdir -p "$dir"
	local start=$SECONDS
	log "building $what (cold: $estimate) into $dir"
	(
		# short sleeps so that nothing outlives the build by more than a second;
		# the lock is closed here so that a lingering sleep cannot hold it
		exec {lock}>&-
		while :; do
			for _ in {1..30}; do sleep 1; done
			log "  … still building $what, $(toolcache_fmt_secs $((SECONDS - start))) elapsed${progress:+$("$progress" "$dir")}"
		done
	) &
	local ticker=$! rc=0
	"$@" "$dir/$bin.tmp" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	if ((rc != 0)); then
		rm -f "$dir/$bin.tmp"
		exec {lock}>&-
		die "building $what failed (exit $rc) after $(toolcache_fmt_secs $((SECONDS - start)))"
	fi
	mv "$dir/$bin.tmp" "$dir/$bin"
	touch "$dir/.ok"
	log "built $what in $(toolcache_fmt_secs $((SECONDS - start))): $dir/$bin"
	exec {lock}>&-
}
