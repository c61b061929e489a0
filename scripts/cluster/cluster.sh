#!/bin/sh
# A real single-node Kubernetes 1.30 on this machine for the cluster tests:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kube-proxy as host processes on Debian's containerd + runc, with CoreDNS
# and metrics-server as pods (CoreDNS behind the kube-dns Service
# 10.96.0.10: deploy/cluster/coredns.yaml says why not on the host). The
# recipe is ../shared/notes/kubelet.md's, which worked on a machine of this
# kind; the configuration files are in deploy/cluster/.
#
#   scripts/cluster/cluster.sh start          start it, wait until the node is Ready and DNS and metrics answer
#   scripts/cluster/cluster.sh stop           stop everything, undo what it changed on the host
#   scripts/cluster/cluster.sh status         each process and its PID; exit 0 when all run
#   scripts/cluster/cluster.sh env            eval "$(scripts/cluster/cluster.sh env)": KUBECONFIG, PATH, ctr's socket
#   scripts/cluster/cluster.sh kubectl ARGS   kubectl on it
#   scripts/cluster/cluster.sh engines-start  Kafka, PostgreSQL, Redis on the node address for the pods
#   scripts/cluster/cluster.sh engines-stop   stop them (stop does it too)
#
# Both start and stop are idempotent: start on a running cluster and stop
# on a stopped one do nothing. A half-started or crashed cluster is stopped
# and started again from scratch.
#
# Nothing leaves this machine. The node address 10.245.255.1/32 sits on
# wt-api0, a bridge without ports; pods live on the bridge wt-br0
# (10.244.0.0/24) with routes only to the Service range 10.96.0.0/16 and
# the node address, never a default route; the WT-GUARD chain drops
# anything forwarded between the pod bridge and any other interface; and on
# the host the Service range and the rest of the pod range are routed into
# the machine's own bridges, never to the default gateway. Every port is
# bound to 127.0.0.1 or the node address (see the flags below).
#
# State: ${XDG_CACHE_HOME:-~/.cache}/webtoon/cluster/run, beside the
# toolchain (scripts/cluster/toolchain.sh builds the binaries) rather than in
# /tmp: on the disk, not in memory; its logs survive a failed run for a
# look; every start wipes it. Images of the cluster's own pods (pause from
# deploy/cluster/pause.c, CoreDNS, metrics-server, each FROM scratch) are
# built with podman once into .../cluster/images and imported at each start.
#
# What kubelet, kube-proxy and containerd change on the host and stop
# undoes: sysctls (saved at start, restored), iptables chains KUBE-*
# (kube-proxy --cleanup needs ipset, which is absent, so they are removed
# by hand) and the empty tables iptables-nft made for them, the kubepods
# cgroups, the mounts under the work directory, /var/lib/kubelet/device-plugins,
# /var/log/containers, /run/containerd (shim sockets), libcni's cache
# entries in /var/lib/cni/results. Stop then checks that nothing is left
# (processes, shims, bridges, chains, mounts, sysctls) and fails if
# anything is.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cfg="$root/deploy/cluster"
top="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon/cluster"
run="$top/run"
images="$top/images"

node=webtoon-node
node_ip=10.245.255.1
cluster_cidr=10.244.0.0/16
service_cidr=10.96.0.0/16
api="https://$node_ip:16443"
sock="$run/containerd/containerd.sock"
# The processes start runs, in start order.
components="containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"
# Every sysctl kubelet or kube-proxy may set (kubelet's kernel tunables,
# conntrack, forwarding); the values at start are put back by stop.
sysctls="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max
net.netfilter.nf_conntrack_tcp_timeout_established
net.netfilter.nf_conntrack_tcp_timeout_close_wait"
# Host paths kubelet or containerd create outside the work directory
# (hard-coded): removed by stop when start did not find them.
host_paths="/var/lib/kubelet /var/lib/kubelet/device-plugins /var/log/containers /run/containerd"

say() { echo "cluster: $*" >&2; }
die() {
  say "$*"
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

. "$here/../lib/packages.sh"

# The cluster changes the host's network, mounts and cgroups: only root may.
need_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root (it creates bridges, iptables rules and mounts)"
}

# PATH with the pinned toolchain (built on first use: about 15 minutes).
tools() {
  [ -n "${WEBTOON_CLUSTER_TOOLS:-}" ] && [ -n "${ISTIO_CRDS:-}" ] &&
    command -v kubectl >/dev/null 2>&1 && command -v kube-apiserver >/dev/null 2>&1 && return 0
  eval "$("$here/toolchain.sh" env)"
}

kc() { kubectl --kubeconfig "$run/kubeconfig" "$@"; }

# ---- processes -------------------------------------------------------------

# spawn <name> <program> [args]: starts <program> in its own session (it
# outlives the caller's process group and Ctrl-C), logs to logs/<name>.log
# and records "<pid> <program path>" in pids/<name>.
spawn() {
  name=$1
  shift
  exe=$(command -v "$1")
  shift
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid sh -c 'echo "$$ $1" >"$2"; exe=$1; shift 2; exec "$exe" "$@"' \
    sh "$exe" "$run/pids/$name" "$@" >>"$run/logs/$name.log" 2>&1 </dev/null &
  i=0
  while [ ! -s "$run/pids/$name" ] && [ $i -lt 50 ]; do
    i=$((i + 1))
    sleep 0.02
  done
}

# pid_of <name>: the PID, if that process still runs the program it was
# started as (a reused PID does not count).
pid_of() {
  [ -s "$run/pids/$1" ] || return 1
  read -r pid exe <"$run/pids/$1"
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && echo "$pid"
}

alive() { pid_of "$1" >/dev/null; }

# wait_for <seconds> <what> <log> <command...>: polls <command> until it
# succeeds; on a timeout fails with the end of logs/<log>.log.
wait_for() {
  limit=$1 what=$2 log=$3
  shift 3
  end=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      say "timed out after ${limit} s waiting for $what; the end of $run/logs/$log.log:"
      tail -n 25 "$run/logs/$log.log" >&2 2>/dev/null || true
      exit 1
    fi
    if [ -n "$log" ] && [ -s "$run/pids/$log" ] && ! alive "$log"; then
      say "$log exited while waiting for $what; the end of $run/logs/$log.log:"
      tail -n 25 "$run/logs/$log.log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# terminate <seconds> <name>...: SIGTERM to each, a second SIGTERM half way
# (containerd 1.6 sometimes ignores the first one), SIGKILL at the end.
terminate() {
  limit=$1
  shift
  pids=""
  for n in "$@"; do
    if p=$(pid_of "$n"); then
      pids="$pids $p"
      kill "$p" 2>/dev/null || true
    fi
  done
  i=0
  while [ -n "$pids" ] && [ $i -le $((limit * 10 + 50)) ]; do
    left=""
    for p in $pids; do
      if kill -0 "$p" 2>/dev/null; then left="$left $p"; fi
    done
    pids=$left
    [ -n "$pids" ] || break
    i=$((i + 1))
    # shellcheck disable=SC2086 # a list of PIDs
    [ $i -eq $((limit * 5)) ] && kill $pids 2>/dev/null
    # shellcheck disable=SC2086
    [ $i -eq $((limit * 10)) ] && { say "$* ignored SIGTERM: killing$pids"; kill -9 $pids 2>/dev/null; }
    sleep 0.1
  done
  [ $i -lt 20 ] || say "$* took $((i / 10)) s to stop"
  for n in "$@"; do rm -f "$run/pids/$n"; done
}

# ---- host state ------------------------------------------------------------

save_host() {
  mkdir -p "$run/host"
  for s in $sysctls; do
    if v=$(sysctl -n "$s" 2>/dev/null); then printf '%s=%s\n' "$s" "$v"; fi
  done >"$run/host/sysctl"
  for p in $host_paths; do
    [ -e "$p" ] || echo "$p"
  done >"$run/host/absent"
  [ -e /var/lib/cni ] || : >"$run/host/no-cni-dir"
  [ -d /sys/fs/cgroup/pids/kubepods ] || echo kubepods >"$run/host/cgroups"
  {
    iptables-save 2>/dev/null | sed -n 's/^\*/ip /p'
    ip6tables-save 2>/dev/null | sed -n 's/^\*/ip6 /p'
  } >"$run/host/tables"
}

restore_sysctls() {
  [ -f "$run/host/sysctl" ] || return 0
  while IFS='=' read -r s v; do
    cur=$(sysctl -n "$s" 2>/dev/null) || continue
    [ "$cur" = "$v" ] && continue
    if sysctl -q -w "$s=$v" >/dev/null; then
      say "restored $s=$v (was $cur)"
    else
      say "could not restore $s=$v (is $cur)"
    fi
  done <"$run/host/sysctl"
}

# ---- network ---------------------------------------------------------------

network_up() {
  ip link show wt-api0 >/dev/null 2>&1 || ip link add wt-api0 type bridge
  ip addr replace "$node_ip/32" dev wt-api0
  ip link set wt-api0 up
  # The CNI bridge plugin reuses this bridge; created here so the routes
  # below exist before the first pod.
  ip link show wt-br0 >/dev/null 2>&1 || ip link add wt-br0 type bridge
  ip addr replace 10.244.0.1/24 dev wt-br0
  ip link set wt-br0 up
  # Host to ClusterIP: kube-proxy rewrites the destination, but the first
  # route lookup must not pick the default gateway (an unknown or not yet
  # programmed Service IP would leave the machine). The rest of the pod
  # range is unreachable for the same reason.
  ip route replace "$service_cidr" dev wt-api0 src "$node_ip"
  ip route replace unreachable "$cluster_cidr"
  # Pod -> Service -> pod on the same bridge is routed.
  sysctl -q -w net.ipv4.ip_forward=1 >/dev/null
  # The guard sits in mangle FORWARD, which every forwarded packet passes
  # before filter FORWARD, where kube-proxy prepends its own ACCEPTs.
  iptables -t mangle -N WT-GUARD 2>/dev/null || iptables -t mangle -F WT-GUARD
  iptables -t mangle -A WT-GUARD -i wt-br0 ! -o wt-br0 -j DROP
  iptables -t mangle -A WT-GUARD -o wt-br0 ! -i wt-br0 -j DROP
  iptables -t mangle -C FORWARD -j WT-GUARD 2>/dev/null || iptables -t mangle -I FORWARD 1 -j WT-GUARD
}

# Removes every rule jumping to a KUBE-* or WT-* chain, then those chains,
# in every table, IPv4 and IPv6.
iptables_clean() {
  for ipt in iptables ip6tables; do
    command -v $ipt >/dev/null 2>&1 || continue
    for t in filter nat mangle raw; do
      rules=$($ipt -t $t -S 2>/dev/null) || continue
      echo "$rules" | grep -E '^-A ' | grep -Ev '^-A (KUBE-|WT-)' | grep -E -- '-j (KUBE-|WT-)' |
        sed 's/^-A /-D /' | while IFS= read -r rule; do
        eval "$ipt -t $t $rule" || true
      done
      chains=$(echo "$rules" | sed -n 's/^-N \(KUBE-[^ ]*\|WT-[^ ]*\)$/\1/p')
      for c in $chains; do $ipt -t $t -F "$c" 2>/dev/null || true; done
      for c in $chains; do $ipt -t $t -X "$c" 2>/dev/null || true; done
    done
  done
}

# iptables-nft makes a table on first use: those the cluster made and left
# empty (built-in chains, no rule) are dropped; a table that was there
# before, or that holds anyone else's rules, stays.
drop_empty_tables() {
  [ -f "$run/host/tables" ] || return 0
  for family in ip ip6; do
    ipt=iptables
    [ $family = ip6 ] && ipt=ip6tables
    for t in filter nat mangle raw; do
      grep -qx "$family $t" "$run/host/tables" && continue
      rules=$($ipt -t $t -S 2>/dev/null) || continue
      echo "$rules" | grep -qv '^-P ' && continue
      nft delete table $family $t 2>/dev/null || true
    done
  done
}

network_down() {
  iptables_clean
  drop_empty_tables
  ip route del unreachable "$cluster_cidr" 2>/dev/null || true
  for b in wt-br0 wt-api0; do
    ip link show "$b" >/dev/null 2>&1 && ip link del "$b"
  done
  # Veth ends left on a deleted bridge die with their pod's namespace.
  return 0
}

# ---- PKI and kubeconfigs ---------------------------------------------------

# cert <name> <subject> <extensions> [CA]: an ECDSA P-256 key and a
# certificate signed by <CA> (default ca), valid 30 days.
cert() {
  ca=${4:-ca}
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "$3" \
    >"$run/pki/$1.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
    -keyout "$run/pki/$1.key" -out "$run/pki/$1.csr" 2>/dev/null
  openssl x509 -req -in "$run/pki/$1.csr" -CA "$run/pki/$ca.crt" -CAkey "$run/pki/$ca.key" \
    -CAcreateserial -days 30 -extfile "$run/pki/$1.ext" -out "$run/pki/$1.crt" 2>/dev/null
  rm -f "$run/pki/$1.csr" "$run/pki/$1.ext"
}

ca() {
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$run/pki/$1.key" -out "$run/pki/$1.crt" 2>/dev/null
}

# kubeconfig <file> <user> <token>
kubeconfig() {
  cat >"$run/$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: webtoon
    cluster:
      server: $api
      certificate-authority: $run/pki/ca.crt
users:
  - name: $2
    user:
      token: $3
contexts:
  - name: webtoon
    context: {cluster: webtoon, user: $2}
current-context: webtoon
EOF
  chmod 600 "$run/$1"
}

pki() {
  mkdir -p "$run/pki"
  (umask 077 && : >"$run/pki/tokens.csv")
  ca ca webtoon-cluster-ca
  ca front-proxy-ca webtoon-front-proxy-ca
  cert apiserver /CN=kube-apiserver "extendedKeyUsage=serverAuth
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$node_ip,IP:10.96.0.1"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  cert front-proxy-client /CN=front-proxy-client "extendedKeyUsage=clientAuth" front-proxy-ca
  cert kubelet "/O=system:nodes/CN=system:node:$node" "extendedKeyUsage=serverAuth
subjectAltName=DNS:$node,IP:$node_ip"
  cert metrics-server /CN=metrics-server "extendedKeyUsage=serverAuth
subjectAltName=DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.cluster.local"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$run/pki/sa.key" 2>/dev/null
  openssl pkey -in "$run/pki/sa.key" -pubout -out "$run/pki/sa.pub" 2>/dev/null
  chmod 600 "$run/pki"/*.key
  # One bearer token per identity, generated now (never in the repository).
  while read -r file user group; do
    token=$(openssl rand -hex 24)
    echo "$token,$user,$user,\"$group\"" >>"$run/pki/tokens.csv"
    kubeconfig "$file" "$user" "$token"
  done <<EOF
kubeconfig admin system:masters
kc-kubelet.yaml system:node:$node system:nodes
kc-proxy.yaml system:kube-proxy
kc-controller-manager.yaml system:kube-controller-manager
kc-scheduler.yaml system:kube-scheduler
EOF
}

# ---- images of the cluster's own pods -------------------------------------

podman_() {
  CONTAINERS_STORAGE_CONF="$images/storage.conf" CONTAINERS_CONF="$images/containers.conf" podman "$@"
}

# image_ref <name> <program file>: localhost/webtoon-cluster-<name>:<digest
# prefix of the program and the Containerfile>, so a changed program gets a
# new tag.
image_ref() {
  echo "localhost/webtoon-cluster-$1:$(cat "$2" "$cfg/Containerfile.static" | sha256sum | cut -c1-12)"
}

# image <name> <program file>: builds once the OCI archive of a FROM-scratch
# image holding <program>, imports it into containerd, prints its reference.
image() {
  ref=$(image_ref "$1" "$2")
  tag=${ref##*:}
  if [ ! -s "$images/$1-$tag.oci.tar" ]; then
    mkdir -p "$images/ctx-$1"
    if [ ! -f "$images/storage.conf" ]; then
      printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' \
        "$images/storage" "$images/runroot" >"$images/storage.conf"
      printf '[engine]\nruntime = "runc"\nevents_logger = "none"\ntmp_dir = "%s"\nstatic_dir = "%s"\nvolume_path = "%s"\n' \
        "$images/tmp" "$images/static" "$images/volumes" >"$images/containers.conf"
    fi
    cp "$2" "$images/ctx-$1/program"
    podman_ build -q --isolation=chroot --build-arg "NAME=$1" -f "$cfg/Containerfile.static" \
      -t "$ref" "$images/ctx-$1" >/dev/null
    podman_ save -q --format oci-archive -o "$images/$1-$tag.oci.tar.part" "$ref"
    mv "$images/$1-$tag.oci.tar.part" "$images/$1-$tag.oci.tar"
    podman_ rmi -f "$ref" >/dev/null 2>&1 || true
    rm -rf "$images/ctx-$1"
    find "$images" -maxdepth 1 -name "$1-*.oci.tar" ! -name "$1-$tag.oci.tar" -delete
  fi
  ctr -a "$sock" -n k8s.io images import "$images/$1-$tag.oci.tar" >/dev/null
  echo "$ref"
}

# ---- components ------------------------------------------------------------

configure() {
  mkdir -p "$run/cni/net.d" "$run/kubelet/root" "$run/kubelet/pki" "$run/kubelet/pod-logs" \
    "$run/kubelet/volume-plugins" "$run/containerd"
  mkdir -p "$images"
  gcc -static -O2 -Wall -Wextra -Werror -o "$images/pause" "$cfg/pause.c"
  strip "$images/pause"
  sed -e "s#@RUN@#$run#g" -e "s#@PAUSE_IMAGE@#$(image_ref pause "$images/pause")#" \
    "$cfg/containerd.toml" >"$run/containerd/config.toml"
  sed "s#@RUN@#$run#g" "$cfg/cni.conflist" >"$run/cni/net.d/10-webtoon.conflist"
  sed "s#@RUN@#$run#g" "$cfg/kubelet.yaml" >"$run/kubelet/config.yaml"
}

start_containerd() {
  spawn containerd containerd --config "$run/containerd/config.toml"
  wait_for 60 "containerd" containerd ctr -a "$sock" version
  image pause "$images/pause" >/dev/null
}

start_control_plane() {
  spawn etcd etcd --name webtoon --data-dir "$run/etcd" \
    --listen-client-urls http://127.0.0.1:22379 --advertise-client-urls http://127.0.0.1:22379 \
    --listen-peer-urls http://127.0.0.1:22380 --initial-advertise-peer-urls http://127.0.0.1:22380 \
    --initial-cluster webtoon=http://127.0.0.1:22380 --log-level warn --unsafe-no-fsync
  wait_for 60 "etcd" etcd curl -fsS http://127.0.0.1:22379/health
  p="$run/pki"
  spawn kube-apiserver kube-apiserver --etcd-servers=http://127.0.0.1:22379 \
    --bind-address="$node_ip" --advertise-address="$node_ip" --secure-port=16443 \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
    --client-ca-file="$p/ca.crt" --token-auth-file="$p/tokens.csv" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --service-cluster-ip-range="$service_cidr" \
    --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$p/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$p/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --requestheader-client-ca-file="$p/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$p/front-proxy-client.crt" --proxy-client-key-file="$p/front-proxy-client.key" \
    --enable-aggregator-routing=true --profiling=false
  wait_for 90 "the API server" kube-apiserver kc get --raw /readyz
  spawn kube-controller-manager kube-controller-manager --kubeconfig="$run/kc-controller-manager.yaml" \
    --bind-address=127.0.0.1 --secure-port=20257 --leader-elect=false \
    --use-service-account-credentials --allocate-node-cidrs --cluster-cidr="$cluster_cidr" \
    --node-cidr-mask-size=24 --service-cluster-ip-range="$service_cidr" \
    --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
    --root-ca-file="$p/ca.crt" --service-account-private-key-file="$p/sa.key" \
    --horizontal-pod-autoscaler-sync-period=10s --profiling=false
  spawn kube-scheduler kube-scheduler --kubeconfig="$run/kc-scheduler.yaml" \
    --bind-address=127.0.0.1 --secure-port=20259 --leader-elect=false --profiling=false
}

start_node() {
  spawn kubelet kubelet --config="$run/kubelet/config.yaml" --kubeconfig="$run/kc-kubelet.yaml" \
    --root-dir="$run/kubelet/root" --cert-dir="$run/kubelet/pki" \
    --hostname-override="$node" --node-ip="$node_ip"
  # The flags leave conntrack sysctls and route_localnet alone and keep
  # NodePorts on the node address.
  spawn kube-proxy kube-proxy --kubeconfig="$run/kc-proxy.yaml" --hostname-override="$node" \
    --proxy-mode=iptables --cluster-cidr="$cluster_cidr" \
    --metrics-bind-address=127.0.0.1:20249 --healthz-bind-address=127.0.0.1:20256 \
    --nodeport-addresses="$node_ip/32" --conntrack-max-per-core=0 \
    --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0
  wait_for 90 "node $node to register" kubelet kc get node "$node"
  wait_for 90 "node $node to be Ready" kubelet kc wait --for=condition=Ready "node/$node" --timeout=2s
}

dns_answers() {
  [ "$(dig +short +time=1 +tries=1 @10.96.0.10 kubernetes.default.svc.cluster.local A)" = 10.96.0.1 ]
}

node_metrics() {
  kc get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$node" | grep -q '"cpu"'
}

start_addons() {
  ref=$(image coredns "$(command -v coredns)")
  sed "s#@IMAGE@#$ref#" "$cfg/coredns.yaml" | kc apply -f - >/dev/null
  kc -n kube-system create secret tls metrics-server-tls \
    --cert="$run/pki/metrics-server.crt" --key="$run/pki/metrics-server.key" >/dev/null
  ref=$(image metrics-server "$(command -v metrics-server)")
  sed -e "s#@IMAGE@#$ref#" -e "s#@CA_BUNDLE@#$(base64 -w0 "$run/pki/ca.crt")#" "$cfg/metrics-server.yaml" |
    kc apply -f - >/dev/null
  wait_for 120 "CoreDNS to be ready" kubelet kc -n kube-system rollout status deploy/coredns --timeout=2s
  wait_for 30 "cluster DNS to answer (kubernetes.default.svc.cluster.local)" kube-proxy dns_answers
  wait_for 120 "metrics-server to be ready" kubelet kc -n kube-system rollout status deploy/metrics-server --timeout=2s
  wait_for 90 "node metrics from metrics-server" kube-apiserver node_metrics
}

all_alive() {
  for c in $components; do alive "$c" || return 1; done
}

start() {
  need_root
  # "up" is written when a start got to the end.
  if [ -f "$run/up" ] && all_alive && kc get --raw /readyz >/dev/null 2>&1; then
    say "already running (KUBECONFIG=$run/kubeconfig)"
    return 0
  fi
  if [ -d "$run/pids" ] || [ -d "$run/host" ]; then
    say "a previous cluster is half up or crashed: stopping it first"
    stop
  fi
  t0=$(now)
  need_packages containerd runc containernetworking-plugins conntrack iptables nftables openssl \
    podman gcc libc6-dev bind9-dnsutils curl
  tools
  if grep -q " $run" /proc/self/mounts; then die "mounts are left under $run: run stop first"; fi
  rm -rf "$run"
  mkdir -p "$run/pids" "$run/logs"
  save_host
  network_up
  pki
  configure
  say "host prepared ($(since "$t0"))"
  start_containerd
  start_control_plane
  say "control plane up ($(since "$t0"))"
  start_node
  say "node $node Ready ($(since "$t0"))"
  start_addons
  : >"$run/up"
  say "running: DNS and metrics answer ($(since "$t0")); KUBECONFIG=$run/kubeconfig"
}

# Lets the kubelet take every pod down the normal way (containers killed,
# sandboxes stopped: CNI DEL, volumes unmounted): the controllers are
# stopped first, so nothing comes back. Bounded: kill_pods does the rest.
delete_pods() {
  alive kube-apiserver && alive kubelet || return 0
  kc delete pods --all -A --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
  i=0
  while [ -n "$(ctr -a "$sock" -n k8s.io tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING"')" ] && [ $i -lt 150 ]; do
    i=$((i + 1))
    sleep 0.2
  done
  # The sandboxes' CNI DEL follows the containers' exit by a moment.
  sleep 1
}

# Kills what is left of the pods: every task of containerd's k8s.io
# namespace, then any process still in a kubepods cgroup.
kill_pods() {
  if alive containerd; then
    # libcni caches each sandbox's result in /var/lib/cni/results (not
    # configurable in containerd 1.6); a sandbox killed here never gets its
    # CNI DEL, so its entry goes by hand.
    for id in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
      rm -f /var/lib/cni/results/*-"$id"-*
    done
    for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr -a "$sock" -n k8s.io tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    i=0
    while [ -n "$(ctr -a "$sock" -n k8s.io tasks ls 2>/dev/null | awk 'NR > 1 && $3 != "STOPPED"')" ] && [ $i -lt 50 ]; do
      i=$((i + 1))
      sleep 0.1
    done
    for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr -a "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
    done
  fi
  if [ -d /sys/fs/cgroup/pids/kubepods ]; then
    find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
      kill -9 "$pid" 2>/dev/null || true
    done
  fi
}

# The runc shims of this containerd (they outlive it): found by the socket
# address on their command line, killed by PID.
kill_shims() {
  for d in /proc/[0-9]*; do
    case "$(tr '\0' ' ' 2>/dev/null <"$d/cmdline")" in
      *containerd-shim*"-address $sock "*) kill -9 "${d#/proc/}" 2>/dev/null || true ;;
    esac
  done
}

unmount_all() {
  i=0
  while m=$(awk -v r="$run" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r) && [ -n "$m" ]; do
    i=$((i + 1))
    [ $i -le 5 ] || die "cannot unmount: $m"
    for p in $m; do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done
  done
}

host_clean() {
  if [ -f "$run/host/cgroups" ]; then
    for d in /sys/fs/cgroup/*/kubepods; do
      if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    done
  fi
  # /var/log/containers holds kubelet's links to our pods' logs.
  find /var/log/containers -maxdepth 1 -type l -lname "$run/*" -delete 2>/dev/null || true
  if [ -f "$run/host/absent" ]; then
    while read -r p; do
      if [ -e "$p" ]; then rm -rf "$p"; fi
    done <"$run/host/absent"
  fi
  # Only if empty: podman (CNI too) may keep its networks there.
  if [ -f "$run/host/no-cni-dir" ]; then
    rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  fi
  restore_sysctls
}

# Lists what stop should have undone and did not, one line each: the
# processes it started (<pids>: "pid program" lines), runc shims, pod
# processes, bridges, chains, mounts, sysctls.
leftovers() {
  echo "$1" | while read -r pid exe; do
    if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
      echo "process $pid $exe"
    fi
  done
  for d in /proc/[0-9]*; do
    case "$(tr '\0' ' ' 2>/dev/null <"$d/cmdline")" in
      *containerd-shim*"-address $sock "*) echo "shim ${d#/proc/}" ;;
    esac
  done
  find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | sed 's/^/pod process /'
  ip -br link | awk '$1 ~ /^wt-/ { print "link " $1 }'
  for ipt in iptables ip6tables; do
    for t in filter nat mangle raw; do
      $ipt -t $t -S 2>/dev/null | sed -n "s/^-N \(KUBE-.*\|WT-.*\)$/$ipt -t $t chain \1/p"
    done
  done
  awk -v r="$run" 'index($2, r) == 1 { print "mount " $2 }' /proc/self/mounts
  [ -f "$run/host/sysctl" ] || return 0
  while IFS='=' read -r name v; do
    cur=$(sysctl -n "$name" 2>/dev/null) || continue
    [ "$cur" = "$v" ] || echo "sysctl $name=$cur (was $v)"
  done <"$run/host/sysctl"
}

stop() {
  need_root
  if [ ! -d "$run/pids" ] && [ ! -d "$run/host" ]; then
    say "not running"
    return 0
  fi
  t0=$(now)
  started=$(cat "$run/pids/"* 2>/dev/null || true)
  engines_stop
  terminate 15 kube-scheduler kube-controller-manager
  delete_pods
  terminate 15 kube-proxy kubelet
  kill_pods
  terminate 20 containerd
  kill_shims
  terminate 15 kube-apiserver
  terminate 15 etcd
  unmount_all
  network_down
  host_clean
  left=$(leftovers "$started")
  [ -z "$left" ] || die "stopped, but these are left: $left"
  rm -rf "$run/pids" "$run/host" "$run/up"
  say "stopped, host restored ($(since "$t0")); logs kept in $run/logs"
}

status() {
  rc=0
  for c in $components; do
    if pid=$(pid_of "$c"); then
      echo "$c: running (pid $pid)"
    else
      echo "$c: stopped"
      rc=1
    fi
  done
  return $rc
}

# ---- engines on the node address -----------------------------------------

# Kafka, PostgreSQL and Redis on the host, bound to the node address so the
# pods reach them (and nothing off the machine can). PostgreSQL lets the
# pod network in with a password generated here (engines/pg-password), the
# way a real cluster hands one over in a Secret; the host itself keeps
# trust. Kafka and Redis have no authentication in this project.
pg_dir=/tmp/webtoon-cluster-pg # the postgres user cannot reach into /root
kafka_() { KAFKA_HOST=$node_ip KAFKA_PORT=29092 KAFKA_DATA="$run/engines/kafka" "$root/scripts/kafka.sh" "$@"; }
pg_() {
  PG_HOST=$node_ip PG_PORT=25432 PG_DIR=$pg_dir PG_CLIENTS="$cluster_cidr" \
    PG_PASSWORD_FILE="$run/engines/pg-password" "$root/scripts/pg.sh" "$@"
}
redis_() { REDIS_HOST=$node_ip REDIS_PORT=26379 REDIS_DIR="$run/engines/redis" "$root/scripts/redis.sh" "$@"; }

# Each test run gets empty engines: what a crashed run left is removed
# (the other two live in the work directory, which start wipes).
engines_start() {
  need_root
  alive kube-apiserver || die "the cluster is not running: start it first"
  mkdir -p "$run/engines"
  [ -s "$run/engines/pg-password" ] || (umask 077 && openssl rand -hex 16 >"$run/engines/pg-password")
  kafka_ start
  pg_ status >/dev/null 2>&1 || rm -rf "$pg_dir"
  pg_ start
  redis_ start
}

engines_stop() {
  [ -d "$run/engines" ] || return 0
  kafka_ stop
  pg_ stop
  rm -rf "$pg_dir"
  redis_ stop
  rm -rf "$run/engines"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
env)
  tools
  echo "PATH=\"$PATH\"; export PATH"
  echo "KUBECONFIG=\"$run/kubeconfig\"; export KUBECONFIG"
  echo "CONTAINERD_ADDRESS=\"$sock\"; export CONTAINERD_ADDRESS"
  echo "CONTAINERD_NAMESPACE=k8s.io; export CONTAINERD_NAMESPACE"
  echo "WEBTOON_CLUSTER_RUN=\"$run\"; export WEBTOON_CLUSTER_RUN"
  echo "WEBTOON_CLUSTER_TOOLS=\"$WEBTOON_CLUSTER_TOOLS\"; export WEBTOON_CLUSTER_TOOLS"
  echo "ISTIO_CRDS=\"$ISTIO_CRDS\"; export ISTIO_CRDS"
  ;;
kubectl)
  shift
  tools
  exec kubectl --kubeconfig "$run/kubeconfig" "$@"
  ;;
engines-start) engines_start ;;
engines-stop) engines_stop ;;
*)
  sed -n '2,/^set -eu/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
