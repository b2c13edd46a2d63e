#!/usr/bin/env bash
# bench/run.sh — what `make bench` runs: every benchmark in a row, then one
# Markdown table on stdout (also in .bench/table.md; raw figures as JSON
# under .bench/, each program's progress in .bench/<name>.log). No figure
# is a pass/fail test; the script fails only when a benchmark cannot run.
# About 7–8 minutes on two idle cores with the Vault binary cached.
#
# usage: bench/run.sh [agent binary, default bin/secret-injector-agent]
#
# Knobs (environment):
#   BENCH_STEADY=60s     sidecar steady period for agent vs vault agent (the issue
#                        says 5m: BENCH_STEADY=5m adds four minutes)
#   BENCH_LEASES=1000    dynamic leases held by one agent (lease scale)
#   BENCH_LEASE_WINDOW=90s  how long renewals are counted (one repetition per 30s TTL),
#                        for our agent and then for vault agent on the same kind of leases
#   BENCH_RUNS=3         repetitions of each webhook load
#   BENCH_SKIP_VAULT=1   skip everything that needs the Vault test bed
# The Vault test bed is brought up (hack/vault-bed.sh up; Vault is built
# once into ~/.cache, ~15 min cold) and brought down again only if this
# script started it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${1:-bin/secret-injector-agent}
OUT=.bench
STEADY=${BENCH_STEADY:-60s}
LEASES=${BENCH_LEASES:-1000}
LEASE_WINDOW=${BENCH_LEASE_WINDOW:-90s}
RUNS=${BENCH_RUNS:-3}
NICE="nice -n 5"

log() { printf 'bench: %s\n' "$*" >&2; }
[[ -x $BIN ]] || { log "$BIN not found: run make build"; exit 1; }
mkdir -p "$OUT/bin"
rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/webhook-gotest.txt

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n * 0.75) }'; then
	log "load average is $load on $(nproc) cores: other work will skew the figures"
fi

log "building the bench programs"
$NICE go build -o "$OUT/bin/" ./bench/agentbench ./bench/vaultbench ./bench/webhookbench ./bench/leasebench ./bench/costbench ./bench/sdkcost ./bench/report

failed=()
# step NAME CMD...: runs a benchmark, its stderr into .bench/NAME.log.
step() {
	local name=$1 start=$SECONDS
	shift
	log "$name…"
	if "$@" >>"$OUT/$name.log" 2>&1; then
		log "$name done in $((SECONDS - start)) s"
	else
		log "$name FAILED after $((SECONDS - start)) s (see $OUT/$name.log):"
		tail -n 5 "$OUT/$name.log" >&2
		failed+=("$name")
	fi
}

step webhook $NICE "$OUT/bin/webhookbench" --runs "$RUNS" --out "$OUT/webhook.json"
step webhook-allocs sh -c "$NICE go test -run '^\$' -bench BenchmarkAdmission -benchmem -count 5 ./bench/webhookbench >'$OUT/webhook-gotest.txt'"
step agent $NICE "$OUT/bin/agentbench" --bin "$BIN" --runs 3 --steady 5s --out "$OUT/agent.json"
step sdkcost $NICE "$OUT/bin/sdkcost" --runs 5 --out "$OUT/sdkcost.json"

if [[ ${BENCH_SKIP_VAULT:-} != 1 ]]; then
	# `up` only when the bed is down: a bed that is up may hold its lock
	# through the Vault server it started, and `up` would wait for it.
	started_bed=0
	bed_up() { hack/vault-bed.sh status >/dev/null 2>&1; }
	bed_up || started_bed=1
	if bed_up || hack/vault-bed.sh up >"$OUT/vault-bed.log" 2>&1; then
		# The bed is shared: another user may restart it between or during
		# steps. Each step reads its address afresh, and a step during which
		# the bed restarted is void (its result file is removed).
		vault_step() {
			local name=$1 before after
			shift
			before=$(hack/vault-bed.sh env 2>/dev/null || true)
			eval "$before"
			step "$name" "$@"
			after=$(hack/vault-bed.sh env 2>/dev/null || true)
			if [[ $after != "$before" ]]; then
				log "$name: the Vault test bed restarted while it ran (another user of the shared bed?): its figures are void"
				rm -f "$OUT/$name.json"
				[[ " ${failed[*]} " == *" $name "* ]] || failed+=("$name")
			fi
		}
		vault_step vault $NICE "$OUT/bin/vaultbench" --bin "$BIN" --steady "$STEADY" --out "$OUT/vault.json"
		vault_step cost $NICE "$OUT/bin/costbench" --bin "$BIN" --out "$OUT/cost.json"
		vault_step lease $NICE "$OUT/bin/leasebench" --bin "$BIN" --leases "$LEASES" --window "$LEASE_WINDOW" --out "$OUT/lease.json"
		if ((started_bed)); then hack/vault-bed.sh down >>"$OUT/vault-bed.log" 2>&1 || true; fi
	else
		log "the Vault test bed did not come up (see $OUT/vault-bed.log): skipping vault, lease and Vault cost"
		failed+=(vault-bed)
		step cost $NICE "$OUT/bin/costbench" --bin "$BIN" --vault=false --out "$OUT/cost.json"
	fi
else
	step cost $NICE "$OUT/bin/costbench" --bin "$BIN" --vault=false --out "$OUT/cost.json"
fi

files=()
for f in vault webhook lease cost agent sdkcost; do
	[[ -f $OUT/$f.json ]] && files+=("$OUT/$f.json")
done
"$OUT/bin/report" --gotest "$OUT/webhook-gotest.txt" --out "$OUT/all.json" "${files[@]}" | tee "$OUT/table.md"
log "done in $SECONDS s"
if ((${#failed[@]})); then
	log "failed: ${failed[*]}"
	exit 1
fi
