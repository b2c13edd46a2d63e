#!/usr/bin/env bash
# The Vault test bed: a real Vault dev server and a private PostgreSQL
# cluster on 127.0.0.1, configured the way the Vault backend's tests expect.
# Vault is compiled once from the Go module proxy into a cache outside the
# clone (for tests only: Vault is under the BSL, never ship it).
#
# usage: hack/vault-bed.sh build|up|down|env|status|restart-pg
#   build   build vault into the cache if it is not there (cold ~15 min)
#   up      build, start PostgreSQL and `vault server -dev`, configure them,
#           write the env file and print `source <file>`; a no-op when the
#           bed is already up
#   down    stop both servers and remove the bed's state
#   env     print the env file's lines, e.g. eval "$(hack/vault-bed.sh env)"
#   status  say whether the bed is up
#   restart-pg  restart PostgreSQL (fast shutdown: sessions are cut), on
#           the same port and data, as a database failover does; the
#           fault suite (make chaos) runs it
#
# Cache: ${SECRET_INJECTOR_CACHE:-$HOME/.cache/secret-injector}/tools/
#   vault-<version>-<recipe-hash>/vault plus a .ok marker written last.
# State: ${SI_VAULT_BED_DIR:-/tmp/secret-injector-vault-bed} (readable by the
#   postgres user, which owns the database cluster inside it).
set -euo pipefail

VAULT_VERSION=1.21.4
NICENESS=${SECRET_INJECTOR_BUILD_NICE:-10}
ROOT_TOKEN=${SI_VAULT_ROOT_TOKEN:-si-dev-root}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRAPPER="$ROOT/hack/tools/vault"
STATE=${SI_VAULT_BED_DIR:-${TMPDIR:-/tmp}/secret-injector-vault-bed}
ENV_FILE="$STATE/bed.env"
LDFLAGS="-s -w"

log() { printf '%s\n' "$*" >&2; }
die() { log "vault-bed: $*"; exit 1; }

# shellcheck source=hack/lib/toolcache.sh
source "$ROOT/hack/lib/toolcache.sh"

# ---------------------------------------------------------------- build

# recipe_hash covers what decides the binary: the wrapper module, the patch
# and the flags. The Go toolchain's version is part of it too.
recipe_hash() {
	{
		echo "vault=$VAULT_VERSION ldflags=$LDFLAGS go=$(go env GOVERSION)"
		local f
		for f in go.mod go.sum main.go patch.sh; do
			echo "== $f"
			cat "$WRAPPER/$f"
		done
	} | toolcache_hash
}

vault_dir() { toolcache_dir vault "$VAULT_VERSION" "$(recipe_hash)"; }
vault_bin() { echo "$(vault_dir)/vault"; }

# compile builds the patched vault into $2, working in $1. The wrapper's
# go.mod requires the published vault module; a copy of that module with
# patch.sh's adaptations replaces it for this build only.
compile() {
	local dir=$1 out=$2 work=$1/src src
	rm -rf "$work"
	mkdir -p "$work"
	cp "$WRAPPER/go.mod" "$WRAPPER/go.sum" "$WRAPPER/main.go" "$work/"
	(cd "$work" && GOWORK=off GOFLAGS=-mod=mod go mod download "github.com/hashicorp/vault")
	src=$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' "github.com/hashicorp/vault")
	[[ -d $src ]] || die "vault module not in the module cache"
	cp -r "$src" "$work/vault"
	chmod -R u+w "$work/vault"
	bash "$WRAPPER/patch.sh" "$work/vault"
	(cd "$work" && go mod edit -replace github.com/hashicorp/vault=./vault)
	log "  compiling (package names in $dir/build.log)"
	(cd "$work" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" \
		nice -n "$NICENESS" go build -v -trimpath -ldflags "$LDFLAGS" -o "$out" . 2>"$dir/build.log") || {
		tail -n 30 "$dir/build.log" >&2
		return 1
	}
	rm -rf "$work"
}

# compiled_packages is the build's progress: how many packages it compiled.
compiled_packages() {
	local n=0
	[[ -f $1/build.log ]] && n=$(wc -l <"$1/build.log")
	echo ", $n packages compiled"
}

# build makes sure vault is in the cache (hack/lib/toolcache.sh: one build
# at a time across processes).
build() {
	local dir
	dir=$(vault_dir)
	toolcache_build "$dir" vault .vault-build.lock "vault $VAULT_VERSION" "~15 min, ~5.5 GiB" compiled_packages -- compile "$dir"
}

# ---------------------------------------------------------------- bed

as_root() {
	if ((EUID == 0)); then
		"$@"
	elif sudo -n true 2>/dev/null; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

# The database cluster belongs to the postgres user when we are root
# (PostgreSQL refuses to run as root), else to whoever runs the bed.
as_pg() {
	if ((EUID == 0)); then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[[ -n $d && -x $d/pg_ctl ]] && echo "$d"
}

# ensure_openssl: the PKI tests verify issued chains with the real openssl.
ensure_openssl() {
	command -v openssl >/dev/null && return 0
	log "installing openssl (apt-get)…"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl >&2 ||
		{ as_root apt-get update -q >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl >&2; }
}

ensure_postgres() {
	pg_bindir >/dev/null && return 0
	log "installing postgresql (apt-get)…"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 ||
		{ as_root apt-get update -q >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
	pg_bindir >/dev/null || die "postgresql installed but no pg_ctl under /usr/lib/postgresql/*/bin"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port finds a port that is free, with the next one free as well (a
# Vault dev server also listens on port+1 for its cluster traffic).
free_port() {
	local p
	for _ in {1..100}; do
		p=$((20000 + RANDOM % 20000))
		if port_free "$p" && port_free $((p + 1)); then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

random_hex() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

vault_alive() {
	[[ -f $STATE/vault.pid ]] && kill -0 "$(cat "$STATE/vault.pid")" 2>/dev/null
}

pg_alive() {
	local bin
	bin=$(pg_bindir) || return 1
	[[ -f $STATE/pg.port ]] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$STATE/pg.port")"
}

is_up() {
	[[ -f $ENV_FILE ]] && vault_alive && pg_alive &&
		VAULT_ADDR="http://127.0.0.1:$(cat "$STATE/vault.port")" "$(vault_bin)" status >/dev/null 2>&1
}

start_postgres() {
	local bin port pass
	bin=$(pg_bindir)
	port=$(free_port)
	pass=$(random_hex)
	mkdir -p "$STATE/pg" "$STATE/pg-run"
	if ((EUID == 0)); then chown postgres: "$STATE/pg" "$STATE/pg-run"; fi
	chmod 700 "$STATE/pg"
	as_pg sh -c "umask 077; printf '%s\n' '$pass' >'$STATE/pg-run/pwfile'"
	as_pg "$bin/initdb" -D "$STATE/pg" -U postgres --pwfile="$STATE/pg-run/pwfile" \
		-A scram-sha-256 -E UTF8 --no-instructions >"$STATE/initdb.log" 2>&1 ||
		{ cat "$STATE/initdb.log" >&2; die "initdb failed"; }
	rm -f "$STATE/pg-run/pwfile"
	# {bedlock}>&-: the server must not inherit with_lock's descriptor, or
	# it holds the bed's lock for its lifetime and `down` waits forever.
	as_pg "$bin/pg_ctl" -D "$STATE/pg" -l "$STATE/pg-run/postgres.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$STATE/pg-run -c fsync=off -c full_page_writes=off" \
		start >/dev/null {bedlock}>&- || { cat "$STATE/pg-run/postgres.log" >&2; die "postgresql did not start"; }
	echo "$port" >"$STATE/pg.port"
	(umask 077 && printf '%s\n' "$pass" >"$STATE/pg.password")
	log "postgresql $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

start_vault() {
	local port bin
	bin=$(vault_bin)
	port=$(free_port)
	# setsid: the server outlives this script and its terminal; without
	# with_lock's descriptor ({bedlock}>&-), as for PostgreSQL.
	setsid "$bin" server -dev -dev-root-token-id="$ROOT_TOKEN" \
		-dev-listen-address="127.0.0.1:$port" -dev-no-store-token \
		>"$STATE/vault.log" 2>&1 </dev/null {bedlock}>&- &
	echo $! >"$STATE/vault.pid"
	echo "$port" >"$STATE/vault.port"
	local i
	for i in {1..60}; do
		vault_alive || { cat "$STATE/vault.log" >&2; die "vault exited"; }
		if VAULT_ADDR="http://127.0.0.1:$port" "$bin" status >/dev/null 2>&1; then
			log "vault $VAULT_VERSION dev server on 127.0.0.1:$port"
			return 0
		fi
		sleep 0.5
	done
	cat "$STATE/vault.log" >&2
	die "vault did not become ready in 30 s"
}

# v runs the vault CLI as root against the bed.
v() {
	VAULT_ADDR="http://127.0.0.1:$(cat "$STATE/vault.port")" VAULT_TOKEN=$ROOT_TOKEN \
		"$(vault_bin)" "$@"
}

configure_vault() {
	local pgport pgpass
	pgport=$(cat "$STATE/pg.port")
	pgpass=$(cat "$STATE/pg.password")
	v secrets enable -path=kv1 -version=1 kv >/dev/null
	v secrets enable database >/dev/null
	v write database/config/postgres plugin_name=postgresql-database-plugin \
		connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:$pgport/postgres?sslmode=disable" \
		username=postgres password="$pgpass" allowed_roles='*' verify_connection=true >/dev/null
	# Credentials: a login role; revocation takes back its grant (a granted
	# role cannot be dropped), ends its sessions, then drops it,
	# so that a revoked login visibly fails.
	cat >"$STATE/db-create.sql" <<-'SQL'
		CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
		GRANT CONNECT ON DATABASE postgres TO "{{name}}";
	SQL
	cat >"$STATE/db-revoke.sql" <<-'SQL'
		REVOKE ALL PRIVILEGES ON DATABASE postgres FROM "{{name}}";
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';
		DROP ROLE IF EXISTS "{{name}}";
	SQL
	v write database/roles/app db_name=postgres \
		creation_statements=@"$STATE/db-create.sql" revocation_statements=@"$STATE/db-revoke.sql" \
		default_ttl=30s max_ttl=2m >/dev/null
	cat >"$STATE/app-policy.hcl" <<-'HCL'
		# What an application's agent may read: the runbook's paths.
		path "secret/data/*" { capabilities = ["read"] }
		path "secret/metadata/*" { capabilities = ["read"] }
		path "kv1/*" { capabilities = ["read"] }
		path "database/creds/app" { capabilities = ["read"] }
		path "sys/leases/revoke/database/creds/app/*" { capabilities = ["update"] }
	HCL
	v policy write app "$STATE/app-policy.hcl" >/dev/null
	v auth enable approle >/dev/null
	v write auth/approle/role/app token_policies=app token_ttl=1h token_max_ttl=4h >/dev/null
	mkdir -p "$STATE/approle"
	(umask 077 &&
		v read -field=role_id auth/approle/role/app/role-id >"$STATE/approle/role-id" &&
		v write -f -field=secret_id auth/approle/role/app/secret-id >"$STATE/approle/secret-id")
}

write_env() {
	local pgport pgpass bin
	pgport=$(cat "$STATE/pg.port")
	pgpass=$(cat "$STATE/pg.password")
	bin=$(pg_bindir)
	(
		umask 077
		cat >"$ENV_FILE.tmp" <<-EOF
			# Vault test bed (hack/vault-bed.sh up, $(date -u +%FT%TZ)); source this file.
			export VAULT_ADDR=http://127.0.0.1:$(cat "$STATE/vault.port")
			export VAULT_TOKEN=$ROOT_TOKEN
			export SI_VAULT_BIN=$(vault_bin)
			export SI_VAULT_BED_DIR=$STATE
			export SI_VAULT_APPROLE_ROLE=app
			export SI_VAULT_APPROLE_ROLE_ID_FILE=$STATE/approle/role-id
			export SI_VAULT_APPROLE_SECRET_ID_FILE=$STATE/approle/secret-id
			export SI_VAULT_DB_MOUNT=database
			export SI_VAULT_DB_CONNECTION=postgres
			export SI_PG_HOST=127.0.0.1
			export SI_PG_PORT=$pgport
			export SI_PG_USER=postgres
			export SI_PG_PASSWORD=$pgpass
			export SI_PG_DATABASE=postgres
			export SI_PG_DSN=postgres://postgres:$pgpass@127.0.0.1:$pgport/postgres?sslmode=disable
			export SI_PSQL=$bin/psql
		EOF
	)
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

stop_bed() {
	if vault_alive; then
		local pid i
		pid=$(cat "$STATE/vault.pid")
		kill "$pid" 2>/dev/null || true
		for i in {1..40}; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.25
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	local bin
	if [[ -f $STATE/pg/postmaster.pid ]] && bin=$(pg_bindir); then
		as_pg "$bin/pg_ctl" -D "$STATE/pg" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$STATE"
}

restart_pg() {
	pg_alive || die "the bed's PostgreSQL is not running: run hack/vault-bed.sh up"
	local bin start=$SECONDS
	bin=$(pg_bindir)
	as_pg "$bin/pg_ctl" -D "$STATE/pg" -l "$STATE/pg-run/postgres.log" -m fast -w -t 30 restart >/dev/null {bedlock}>&- ||
		{ tail -n 20 "$STATE/pg-run/postgres.log" >&2; die "postgresql did not restart"; }
	log "postgresql restarted in $((SECONDS - start)) s"
}

up() {
	build
	ensure_postgres
	ensure_openssl
	if is_up; then
		log "vault bed already up"
	else
		[[ -d $STATE ]] && stop_bed
		local start=$SECONDS
		mkdir -p "$STATE"
		chmod 755 "$STATE"
		start_postgres
		start_vault
		configure_vault
		write_env
		log "vault bed up in $((SECONDS - start)) s (state in $STATE)"
	fi
	echo "source $ENV_FILE"
}

with_lock() {
	exec {bedlock}>"$STATE.lock"
	flock "$bedlock"
	"$@"
	exec {bedlock}>&-
}

main() {
	case ${1:-} in
	build)
		build
		echo "vault: $(vault_bin)"
		;;
	up) with_lock up ;;
	down)
		with_lock stop_bed
		log "vault bed down"
		;;
	env)
		[[ -f $ENV_FILE ]] || die "the bed is not up: run hack/vault-bed.sh up"
		log "# $ENV_FILE"
		grep '^export ' "$ENV_FILE"
		;;
	status)
		if is_up; then echo "up: source $ENV_FILE"; else
			echo "down"
			exit 1
		fi
		;;
	restart-pg) with_lock restart_pg ;;
	-h | --help | help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
	*) die "unknown argument '${1:-}' (want build, up, down, env, status or restart-pg)" ;;
	esac
}

main "$@"
