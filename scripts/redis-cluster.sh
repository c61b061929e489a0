#!/bin/sh
# A Redis Cluster for development and tests: three primaries with one replica
# each, six Debian redis-server processes on 127.0.0.1 (cluster bus on each
# port + 10), for the history view when WEBTOON_HISTORY_REDIS_URL is the
# `url` below. Debian's redis-server is installed when missing. No
# persistence beyond the cluster's own nodes.conf: the test data is disposable.
#
#   scripts/redis-cluster.sh start    start the nodes that are not running and,
#                                     the first time, make them one cluster
#                                     (idempotent; waits until it serves every slot)
#   scripts/redis-cluster.sh stop     stop every node
#   scripts/redis-cluster.sh status   "running ..." and exit 0, or "stopped" and exit 1
#   scripts/redis-cluster.sh url      the WEBTOON_HISTORY_REDIS_URL that uses it
#   scripts/redis-cluster.sh ports    the six ports, one a line
#
# Settings (environment):
#   REDIS_CLUSTER_PORT=17301  first port; the nodes use it and the next five,
#                             their buses the six from port + 10 (keep all
#                             twelve below the kernel's ephemeral ports: an
#                             outgoing connection could hold one there)
#   REDIS_CLUSTER_DIR=DIR     data, pid and log, a directory per node
#                             (default /tmp/webtoon-redis-cluster-<port>)
set -eu
here=$(dirname "$0")
base=${REDIS_CLUSTER_PORT:-17301}
dir=${REDIS_CLUSTER_DIR:-"/tmp/webtoon-redis-cluster-$base"}
host=127.0.0.1
ports=$(seq "$base" $((base + 5)))

say() { echo "redis-cluster: $*" >&2; }

# shellcheck source=lib/packages.sh
. "$here/lib/packages.sh"
command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ||
  need_packages redis-server redis-tools

cli() { p=$1; shift; redis-cli -h "$host" -p "$p" "$@" 2>/dev/null; }
is_up() { cli "$1" ping | grep -q PONG; }
info() { cli "$1" cluster info | tr -d '\r' | sed -n "s/^$2://p"; }

all_up() { for p in $ports; do is_up "$p" || return 1; done; }

# Every node up and agreeing that all 16384 slots are served.
is_serving() {
  for p in $ports; do
    is_up "$p" && [ "$(info "$p" cluster_state)" = ok ] &&
      [ "$(info "$p" cluster_slots_ok)" = 16384 ] || return 1
  done
}

start_node() {
  d="$dir/$1"
  mkdir -p "$d"
  redis-server --bind "$host" --port "$1" --cluster-port $(($1 + 10)) --dir "$d" --daemonize yes \
    --pidfile "$d/redis.pid" --logfile "$d/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --appendonly no --save "" --protected-mode no >/dev/null
}

wait_for() { # <what> <command...>: up to 60 s
  what=$1; shift
  i=0
  until "$@"; do
    i=$((i + 1))
    [ $i -lt 600 ] || { say "$what: timed out; see $dir/*/redis.log"; exit 1; }
    sleep 0.1
  done
}

case "${1:-}" in
start)
  for p in $ports; do is_up "$p" || start_node "$p"; done
  wait_for "nodes starting" all_up
  # A node that has never met the others knows only itself: the first start.
  if [ "$(info "$base" cluster_known_nodes)" = 1 ]; then
    nodes=""
    for p in $ports; do nodes="$nodes $host:$p"; done
    # shellcheck disable=SC2086
    redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
      { say "cluster create failed; see $dir/create.log"; exit 1; }
  fi
  wait_for "every slot served" is_serving
  say "running on $host:$base-$((base + 5))"
  ;;
stop)
  for p in $ports; do
    if is_up "$p"; then cli "$p" shutdown nosave >/dev/null || true; fi
  done
  for p in $ports; do
    i=0
    while is_up "$p" && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
  done
  say "stopped"
  ;;
status)
  if is_serving; then echo "running on $host:$base-$((base + 5))"; else echo "stopped"; exit 1; fi
  ;;
url)
  echo "redis+cluster://$host:$base,$host:$((base + 1)),$host:$((base + 2))"
  ;;
ports)
  echo "$ports"
  ;;
*)
  echo "usage: $0 start|stop|status|url|ports" >&2
  exit 2
  ;;
esac
