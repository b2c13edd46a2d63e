#!/usr/bin/env bash
# Adapts a copy of the github.com/hashicorp/vault v1.21.4 module to the
# published vault/sdk v0.21.0. Vault's release branch builds against its
# in-repo sdk, which differs from every sdk tag on the module proxy in two
# signatures; three call sites follow them here, one line each.
#
# usage: patch.sh DIR   (DIR is a writable copy of the vault module)
set -euo pipefail

dir=${1:?usage: patch.sh DIR}

# adapt FILE OLD NEW replaces the one line equal to OLD (leading tabs
# ignored) with NEW, keeping its indentation, and fails unless exactly one
# line changed: a new vault version must not be patched blindly.
adapt() {
	local file=$dir/$1 old=$2 new=$3 n
	n=$(grep -cxF -- "$old" <(sed 's/^\t*//' "$file") || true)
	[[ $n == 1 ]] || { echo "patch.sh: $1: expected one line '$old', found $n" >&2; exit 1; }
	OLD=$old NEW=$new perl -0pi -e 's/^(\t*)\Q$ENV{OLD}\E$/$1$ENV{NEW}/m' "$file"
	grep -qF -- "$new" "$file" || { echo "patch.sh: $1: replacement did not apply" >&2; exit 1; }
}

# sdk's framework.Backend.ActivationFunc takes the activated flag's name as a
# third argument.
adapt vault/identity_store.go \
	'ActivationFunc: iStore.activateDeduplication,' \
	'ActivationFunc: func(ctx context.Context, req *logical.Request, _ string) error { return iStore.activateDeduplication(ctx, req) },'
adapt vault/logical_system_activation_flags.go \
	'if err := b.idStoreBackend.ActivationFunc(ctx, nil); err != nil {' \
	'if err := b.idStoreBackend.ActivationFunc(ctx, nil, activationflags.IdentityDeduplication); err != nil {'

# sdk's keysutil.LockManager.RestorePolicy returns only an error; the key's
# name is the one asked for.
adapt builtin/logical/transit/path_restore.go \
	'restoredKeyName, err := b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)' \
	'restoredKeyName, err := keyName, b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)'
