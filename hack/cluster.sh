#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for the real-pods
# e2e suite (e2e/cluster) and `make demo`: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy and kubelet v1.37, on
# containerd 2.x + runc + the CNI bridge plugin, with the project's images
# imported (no registry, no Docker engine). Every tool is built from the Go
# module proxy once into the cache (hack/k8s-tools.sh node); runc, the CNI
# plugins, iptables and conntrack come from Debian's packages.
#
# usage: hack/cluster.sh up|down|env|status|logs
#   up      build what is missing, start every part that is not running,
#           import the images, wait for the node to be Ready; idempotent
#   down    delete the pods, stop every part and undo each host change:
#           mounts, cgroups, the bridge, iptables chains, sysctls; idempotent
#   env     print the export lines: eval "$(hack/cluster.sh env)"
#   status  exit 0 when the cluster is up
#   logs    print the tail of every part's log
#
# It runs as root and changes the host (kubelet does): run it on a
# throwaway machine or CI, not a workstation. Its own ports (16443 API
# server, 23790 etcd, 10350 kubelet), bridge (si-br0, pods 10.217.0.0/24,
# services 10.218.0.0/24) and directories (state in
# ${SI_CLUSTER_DIR:-/var/lib/secret-injector/cluster}, runtime in
# /run/secret-injector) keep it apart from anything else on the machine.
#
# What it lacks next to a cloud cluster: DNS (pods use IP addresses; the
# host is at the bridge gateway 10.217.0.1), a load balancer, a second node,
# and the API server's authentication of kubelet serving certificates.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SI_CLUSTER_DIR:-/var/lib/secret-injector/cluster}
RUN=/run/secret-injector
NODE=si-node
BRIDGE=si-br0
POD_CIDR=10.217.0.0/24
GATEWAY=10.217.0.1
SERVICE_CIDR=10.218.0.0/24
API_SERVICE_IP=10.218.0.1
API_PORT=16443
ETCD_PORT=23790
ETCD_PEER_PORT=23800
KUBELET_PORT=10350
KUBELET_HEALTHZ_PORT=10348
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
# Sysctls that kubelet, kube-proxy or the bridge plugin set; saved at the
# first `up` and restored by `down`.
SYSCTLS="vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward net.ipv4.conf.all.route_localnet"

log() { printf '%s\n' "$*" >&2; }
step() { printf '==> %s\n' "$*" >&2; }
die() {
	log "cluster: $*"
	exit 1
}

# ---------------------------------------------------------------- tools

# tools builds the node's binaries (cached) and loads SI_BIN_* paths.
tools() {
	step "cluster tools: kube-apiserver, etcd, kubectl, helm, kubelet, kube-controller-manager, kube-scheduler, kube-proxy, containerd, crictl (cached; cold ~20 min)"
	eval "$("$ROOT/hack/k8s-tools.sh" node-env)"
}

# tools_quiet loads SI_BIN_* without building (for down, env, status).
tools_quiet() {
	eval "$("$ROOT/hack/k8s-tools.sh" node-env 2>/dev/null)" 2>/dev/null || true
}

packages() {
	local missing=() cmd pkg
	for pair in runc:runc iptables:iptables conntrack:conntrack openssl:openssl; do
		cmd=${pair%%:*}
		pkg=${pair##*:}
		command -v "$cmd" >/dev/null || missing+=("$pkg")
	done
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap && -x /usr/lib/cni/loopback ]] ||
		missing+=(containernetworking-plugins)
	[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
	((${#missing[@]} == 0)) && return 0
	step "installing ${missing[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${missing[@]}" >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q "${missing[@]}" >&2; }
}

# ---------------------------------------------------------------- processes

pidfile() { echo "$STATE/run/$1.pid"; }

alive() {
	local f
	f=$(pidfile "$1")
	[[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start NAME CMD... runs CMD in its own session, logging to logs/NAME.log.
start() {
	local name=$1
	shift
	alive "$name" && return 0
	mkdir -p "$STATE/run" "$STATE/logs"
	# {lock}>&-: a daemon must not hold this script's lock for its lifetime.
	setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null {lock}>&- &
	echo $! >"$(pidfile "$name")"
	log "started $name (pid $!, log $STATE/logs/$name.log)"
}

stop() {
	local name=$1 pid i
	alive "$name" || { rm -f "$(pidfile "$name")"; return 0; }
	pid=$(cat "$(pidfile "$name")")
	kill -TERM "$pid" 2>/dev/null || true
	for i in {1..100}; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$(pidfile "$name")"
	log "stopped $name"
}

# wait_for WHAT SECONDS CMD... polls CMD every 0.2 s.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	logs_tail >&2
	die "$what not ready after ${secs}s"
}

kubectl_() { "$SI_BIN_KUBECTL" --kubeconfig "$STATE/pki/admin.kubeconfig" "$@"; }

# ---------------------------------------------------------------- PKI

# cert NAME CN [O] [SANS]: a key and a certificate signed by the bed's CA.
cert() {
	local name=$1 cn=$2 org=${3:-} sans=${4:-} subj ext
	local d=$STATE/pki
	[[ -f $d/$name.crt ]] && return 0
	subj="/CN=$cn"
	[[ -n $org ]] && subj="/O=$org$subj"
	ext=$d/$name.ext
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [[ -n $sans ]]; then
			echo "extendedKeyUsage=serverAuth,clientAuth"
			echo "subjectAltName=$sans"
		else
			echo "extendedKeyUsage=clientAuth"
		fi
	} >"$ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/$name.key" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
	openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 365 -extfile "$ext" -out "$d/$name.crt" 2>/dev/null
	rm -f "$d/$name.csr" "$ext"
}

kubeconfig() {
	local name=$1 user=$2
	cat >"$STATE/pki/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: si
  cluster:
    certificate-authority: $STATE/pki/ca.crt
    server: https://127.0.0.1:$API_PORT
users:
- name: $user
  user:
    client-certificate: $STATE/pki/$name.crt
    client-key: $STATE/pki/$name.key
contexts:
- name: si
  context: {cluster: si, user: $user}
current-context: si
EOF
}

pki() {
	local d=$STATE/pki
	mkdir -p "$d"
	chmod 700 "$d"
	if [[ ! -f $d/ca.crt ]]; then
		step "PKI: CA, serving and client certificates, service-account keys"
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$d/ca.key" -subj "/CN=secret-injector-bed-ca" -days 365 -out "$d/ca.crt" 2>/dev/null
	fi
	cert apiserver kube-apiserver "" \
		"IP:127.0.0.1,IP:$GATEWAY,IP:$API_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert etcd etcd "" "IP:127.0.0.1,DNS:localhost"
	cert admin admin system:masters
	cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
	cert kubelet "system:node:$NODE" system:nodes
	cert controller-manager system:kube-controller-manager
	cert scheduler system:kube-scheduler
	cert proxy system:kube-proxy
	[[ -f $d/sa.key ]] || {
		openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
		openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
	}
	local n
	for n in admin kubelet controller-manager scheduler proxy; do kubeconfig "$n" "$n"; done
}

# ---------------------------------------------------------------- host state

save_host() {
	[[ -f $STATE/host/sysctl ]] && return 0
	mkdir -p "$STATE/host"
	local k
	for k in $SYSCTLS; do
		echo "$k=$(sysctl -n "$k" 2>/dev/null || echo)"
	done >"$STATE/host/sysctl"
}

restore_host() {
	[[ -f $STATE/host/sysctl ]] || return 0
	local line
	while IFS= read -r line; do
		[[ -n ${line#*=} ]] && sysctl -q -w "$line" >/dev/null 2>&1 || true
	done <"$STATE/host/sysctl"
	log "restored sysctls: $(tr '\n' ' ' <"$STATE/host/sysctl")"
	rm -f "$STATE/host/sysctl"
}

bridge_up() {
	ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
	ip addr show dev "$BRIDGE" | grep -q "inet $GATEWAY/" || ip addr add "$GATEWAY/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
}

# iptables_clean removes every chain and rule that kubelet, kube-proxy and
# the CNI plugins add (KUBE-*, CNI-*), in every table.
iptables_clean() {
	local ipt
	for ipt in iptables ip6tables; do
		command -v "$ipt-save" >/dev/null || continue
		if "$ipt-save" 2>/dev/null | grep -qE 'KUBE-|CNI-'; then
			"$ipt-save" | grep -vE 'KUBE-|CNI-' | "$ipt-restore" || log "warning: $ipt-restore failed"
		fi
	done
}

unmount_all() {
	local m
	# deepest first
	for m in $(awk -v a="$STATE/" -v b="$RUN/" 'index($5, a) == 1 || index($5, b) == 1 || $5 == substr(a, 1, length(a) - 1) {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	for m in $(awk '$5 ~ "^/(var/)?run/netns/cni-" {print $5}' /proc/self/mountinfo); do
		umount "$m" 2>/dev/null || true
		rm -f "$m"
	done
}

# cgroups_clean removes the kubepods hierarchy kubelet made (cgroup v1 and v2).
cgroups_clean() {
	local d
	for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods.slice /sys/fs/cgroup/kubepods.slice; do
		[[ -d $d ]] || continue
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
}

# ---------------------------------------------------------------- parts

start_etcd() {
	mkdir -p "$STATE/etcd"
	chmod 700 "$STATE/etcd"
	start etcd "$SI_BIN_ETCD" --name si --data-dir "$STATE/etcd" \
		--listen-client-urls "https://127.0.0.1:$ETCD_PORT" --advertise-client-urls "https://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "si=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "http://127.0.0.1:$((ETCD_PORT + 2))" \
		--cert-file "$STATE/pki/etcd.crt" --key-file "$STATE/pki/etcd.key" \
		--trusted-ca-file "$STATE/pki/ca.crt" --client-cert-auth \
		--quota-backend-bytes 1073741824 --unsafe-no-fsync
	wait_for etcd 30 curl -sf "http://127.0.0.1:$((ETCD_PORT + 2))/health"
}

start_apiserver() {
	local d=$STATE/pki
	start kube-apiserver "$SI_BIN_KUBE_APISERVER" \
		--etcd-servers "https://127.0.0.1:$ETCD_PORT" --etcd-cafile "$d/ca.crt" \
		--etcd-certfile "$d/apiserver.crt" --etcd-keyfile "$d/apiserver.key" \
		--bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$GATEWAY" \
		--tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" \
		--client-ca-file "$d/ca.crt" \
		--service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
		--service-account-issuer "https://kubernetes.default.svc.cluster.local" \
		--api-audiences "https://kubernetes.default.svc.cluster.local" \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--authorization-mode Node,RBAC \
		--enable-admission-plugins NodeRestriction \
		--allow-privileged=true \
		--kubelet-client-certificate "$d/apiserver-kubelet-client.crt" --kubelet-client-key "$d/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types InternalIP,Hostname \
		--enable-aggregator-routing=true \
		--profiling=false
	wait_for kube-apiserver 90 kubectl_ get --raw /readyz
}

start_containerd() {
	mkdir -p "$STATE/containerd" "$RUN/containerd" "$STATE/cni/net.d" "$STATE/cni/ipam"
	cat >"$STATE/containerd/config.toml" <<EOF
version = 3
root = "$STATE/containerd/root"
state = "$RUN/containerd/state"

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[debug]
  address = "$RUN/containerd/debug.sock"

[plugins."io.containerd.cri.v1.runtime"]
  # This VM lacks CAP_SYS_RESOURCE: runc must not try to lower the OOM score.
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$STATE/cni/net.d"

[plugins."io.containerd.cri.v1.images"]
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$PAUSE_IMAGE"
EOF
	cat >"$STATE/cni/net.d/10-si-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "si-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
	# The shim and ctr sit beside containerd in the cache.
	PATH="$(dirname "$SI_BIN_CONTAINERD"):$PATH" start containerd "$SI_BIN_CONTAINERD" --config "$STATE/containerd/config.toml"
	wait_for containerd 30 ctr_ version
}

ctr_() { "$(dirname "$SI_BIN_CONTAINERD")/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
crictl_() { "$SI_BIN_CRICTL" --runtime-endpoint "unix://$CONTAINERD_SOCK" --image-endpoint "unix://$CONTAINERD_SOCK" "$@"; }

# images builds the project's images (make image test-images) and imports
# them into containerd's k8s.io namespace, where the kubelet finds them.
images() {
	step "images: secret-injector (make image), pause and testapp (make test-images), for this node's linux/$(go env GOARCH)"
	# Only the node's platform: the other arch's build is minutes on a cold
	# cache, and CI's 90 minutes are counted from a fresh machine.
	make -C "$ROOT" --no-print-directory image test-images IMAGE_PLATFORMS="linux/$(go env GOARCH)" >&2
	local tar out
	for tar in "$ROOT/bin/secret-injector-image.tar" "$ROOT/bin/pause-image.tar" "$ROOT/bin/testapp-image.tar"; do
		[[ -f $tar ]] || die "missing $tar after make image test-images"
		# quiet on success: ctr warns about cgroup v1 on every call
		if ! out=$(ctr_ images import --all-platforms "$tar" 2>&1); then
			printf '%s\n' "$out" >&2
			die "importing $tar failed"
		fi
		log "imported $(basename "$tar")"
	done
}

start_kubelet() {
	mkdir -p "$STATE/kubelet"
	cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
# This VM: cgroup v1 (hybrid), swap, and no CAP_SYS_RESOURCE.
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
# Imported images have no registry to come back from.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: "1%"
  imagefs.available: "1%"
serializeImagePulls: false
maxPods: 150
podCIDR: $POD_CIDR
resolvConf: /etc/resolv.conf
rotateCertificates: false
staticPodPath: ""
syncFrequency: 10s
fileCheckFrequency: 20s
EOF
	start kubelet "$SI_BIN_KUBELET" --config "$STATE/kubelet/config.yaml" \
		--kubeconfig "$STATE/pki/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
		--hostname-override "$NODE" --node-ip "$GATEWAY" \
		--cert-dir "$STATE/kubelet/pki"
	wait_for "node $NODE" 60 node_ready
}

node_ready() {
	[[ $(kubectl_ get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

start_controllers() {
	local d=$STATE/pki
	start kube-controller-manager "$SI_BIN_KUBE_CONTROLLER_MANAGER" \
		--kubeconfig "$d/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$d/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$d/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port 10357 \
		--service-account-private-key-file "$d/sa.key" --root-ca-file "$d/ca.crt" \
		--use-service-account-credentials \
		--cluster-signing-cert-file "$d/ca.crt" --cluster-signing-key-file "$d/ca.key" \
		--service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$POD_CIDR" --allocate-node-cidrs=false \
		--concurrent-deployment-syncs 10 --concurrent-replicaset-syncs 10 \
		--leader-elect=false --profiling=false
	start kube-scheduler "$SI_BIN_KUBE_SCHEDULER" \
		--kubeconfig "$d/scheduler.kubeconfig" \
		--authentication-kubeconfig "$d/scheduler.kubeconfig" \
		--authorization-kubeconfig "$d/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port 10359 --leader-elect=false --profiling=false
	cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $d/proxy.kubeconfig
mode: iptables
hostnameOverride: $NODE
clusterCIDR: $POD_CIDR
bindAddress: $GATEWAY
healthzBindAddress: 127.0.0.1:10356
metricsBindAddress: 127.0.0.1:10349
# Leave the host's conntrack table alone.
conntrack:
  maxPerCore: 0
  min: 0
iptables:
  localhostNodePorts: false
EOF
	start kube-proxy "$SI_BIN_KUBE_PROXY" --config "$STATE/kube-proxy.yaml"
	wait_for "default service account" 60 kubectl_ -n default get serviceaccount default
	wait_for "kube-proxy rules for the kubernetes Service" 60 sh -c "iptables-save -t nat | grep -q 'KUBE-SVC'"
}

# ---------------------------------------------------------------- commands

PAUSE_IMAGE=localhost/secret-injector/pause:v1

env_lines() {
	tools_quiet
	cat <<EOF
export KUBECONFIG=$STATE/pki/admin.kubeconfig
export SI_CLUSTER_KUBECONFIG=$STATE/pki/admin.kubeconfig
export SI_CLUSTER_GATEWAY=$GATEWAY
export SI_CLUSTER_POD_CIDR=$POD_CIDR
export SI_CLUSTER_NODE=$NODE
export SI_CLUSTER_API=https://$GATEWAY:$API_PORT
export SI_CLUSTER_CA=$STATE/pki/ca.crt
export SI_CLUSTER_IMAGE=$(image_ref)
export SI_CLUSTER_TESTAPP_IMAGE=localhost/secret-injector/testapp:v1
export SI_CLUSTER_LOGS=$STATE/logs
export SI_KUBECTL=${SI_BIN_KUBECTL:-}
export HELM=${SI_BIN_HELM:-}
EOF
}

image_ref() {
	make -C "$ROOT" --no-print-directory -s print-image 2>/dev/null || echo ghcr.io/tradepulse/secret-injector:unknown
}

any_alive() {
	local p
	for p in etcd kube-apiserver containerd kubelet kube-controller-manager kube-scheduler kube-proxy; do
		alive "$p" && return 0
	done
	return 1
}

is_up() {
	local p
	for p in etcd kube-apiserver containerd kubelet kube-controller-manager kube-scheduler kube-proxy; do
		alive "$p" || return 1
	done
	[[ -n ${SI_BIN_KUBECTL:-} ]] && node_ready
}

logs_tail() {
	local f
	for f in "$STATE"/logs/*.log; do
		[[ -f $f ]] || continue
		printf '\n--- %s (last 15 lines)\n' "$f"
		tail -n 15 "$f"
	done
}

cmd_up() {
	((EUID == 0)) || die "run as root: kubelet and containerd need it"
	local started=$SECONDS
	tools
	packages
	if [[ -d $STATE/run ]] && ! any_alive; then
		# A run that was killed (a stopped session, a crashed CI job) left
		# mounts, pods in etcd and runtime state behind: start clean.
		step "stale cluster state from an earlier run: taking it down first"
		cmd_down
	fi
	mkdir -p "$STATE" "$RUN"
	save_host
	pki
	bridge_up
	step "etcd, kube-apiserver"
	start_etcd
	start_apiserver
	step "containerd $($SI_BIN_CONTAINERD --version 2>/dev/null | awk '{print $3}'), images"
	start_containerd
	images
	step "kubelet, kube-controller-manager, kube-scheduler, kube-proxy"
	start_kubelet
	start_controllers
	kubectl_ label node "$NODE" node-role.kubernetes.io/control-plane= --overwrite >/dev/null
	step "cluster up in $((SECONDS - started))s: node $NODE Ready; eval \"\$(hack/cluster.sh env)\""
}

cmd_down() {
	((EUID == 0)) || die "run as root"
	tools_quiet
	[[ -d $STATE ]] || { log "cluster: nothing to take down"; return 0; }
	step "stopping the cluster"
	stop kube-controller-manager
	stop kube-scheduler
	if alive containerd && [[ -n ${SI_BIN_CRICTL:-} ]]; then
		# Stop and remove every pod through the runtime, so that CNI releases
		# the addresses and the shims exit.
		crictl_ rmp -fa >/dev/null 2>&1 || true
	fi
	stop kubelet
	stop kube-proxy
	[[ -n ${SI_BIN_KUBE_PROXY:-} && -x ${SI_BIN_KUBE_PROXY:-} ]] && "$SI_BIN_KUBE_PROXY" --cleanup >/dev/null 2>&1 || true
	stop containerd
	pkill -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true
	stop kube-apiserver
	stop etcd
	step "undoing host changes: mounts, cgroups, bridge, iptables, sysctls"
	unmount_all
	cgroups_clean
	ip link del "$BRIDGE" 2>/dev/null || true
	iptables_clean
	restore_host
	# Keep the logs of the last run for a failed CI job to print; drop the rest.
	find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null || true
	rm -rf "$RUN"
	log "cluster: down"
}

main() {
	case ${1:-} in
	up)
		mkdir -p "$STATE"
		exec {lock}>"$STATE.lock"
		flock "$lock"
		cmd_up
		;;
	down)
		[[ -d $STATE ]] || { log "cluster: nothing to take down"; exit 0; }
		exec {lock}>"$STATE.lock"
		flock "$lock"
		cmd_down
		;;
	env) env_lines ;;
	status)
		tools_quiet
		if is_up; then echo "cluster: up"; else
			echo "cluster: down"
			exit 1
		fi
		;;
	logs) logs_tail ;;
	-h | --help | help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
	*) die "usage: hack/cluster.sh up|down|env|status|logs" ;;
	esac
}

main "$@"
