#!/usr/bin/env bash
# hack/with-bed.sh CMD [ARG...] — run CMD inside the test bed: the
# Kubernetes tools (kube-apiserver, etcd, kubectl, helm; built once into
# the cache, progress shown) in KUBEBUILDER_ASSETS and HELM, and Vault +
# PostgreSQL in the SI_* / VAULT_* variables. A Vault bed that was already
# up (a developer's, shared) is reused and left up; one started here is
# stopped when CMD ends.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "test-bed tools: kube-apiserver, etcd, kubectl, helm (cached)"
hack/k8s-tools.sh all >&2
eval "$(hack/k8s-tools.sh env 2>/dev/null)"

step "test-bed tools: vault (cached)"
hack/vault-bed.sh build >&2

step "starting Vault + PostgreSQL"
if ! hack/vault-bed.sh status >/dev/null 2>&1; then
	trap 'hack/vault-bed.sh down >/dev/null 2>&1 || true' EXIT
fi
hack/vault-bed.sh up >&2
eval "$(hack/vault-bed.sh env 2>/dev/null)"

"$@"
