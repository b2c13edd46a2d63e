#!/usr/bin/env bash
# hack/with-cluster.sh CMD [ARG...] — run CMD with the real single-node
# cluster of hack/cluster.sh up and its variables (KUBECONFIG, SI_CLUSTER_*)
# set. A cluster that was already up is reused and left up; one started
# here is taken down when CMD ends, undoing its host changes.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

if ((EUID != 0)); then
	echo "with-cluster: the real node (kubelet, containerd) needs root; run as root or in CI" >&2
	exit 1
fi
if ! hack/cluster.sh status >/dev/null 2>&1; then
	trap 'step "taking the cluster down"; hack/cluster.sh down >&2 || true' EXIT
fi
step "real cluster: etcd, kube-apiserver, controllers, kubelet, containerd (hack/cluster.sh up)"
hack/cluster.sh up
eval "$(hack/cluster.sh env)"
"$@"
