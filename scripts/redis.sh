#!/bin/sh
# A Redis server for development and tests, on 127.0.0.1 (or REDIS_HOST),
# holding the history view when WEBTOON_HISTORY_REDIS_URL points at it. Debian's
# redis-server is installed when missing. Append-only file on, so a restart
# keeps the view.
#
#   scripts/redis.sh start    start it (idempotent)
#   scripts/redis.sh stop     stop it
#   scripts/redis.sh status   "running ..." and exit 0, or "stopped" and exit 1
#   scripts/redis.sh url      the WEBTOON_HISTORY_REDIS_URL that uses it
#
# Settings (environment):
#   REDIS_HOST=127.0.0.1  address it listens on (the local cluster's pods
#                         use the node address 10.245.255.1)
#   REDIS_PORT=16379      port
#   REDIS_DIR=DIR         data, pid and log (default /tmp/webtoon-redis-<port>)
set -eu
host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-16379}
dir=${REDIS_DIR:-"/tmp/webtoon-redis-$port"}

say() { echo "redis: $*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing redis-server"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
  fi
  $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
fi

is_running() {
  redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1
}

case "${1:-}" in
start)
  if ! is_running; then
    mkdir -p "$dir"
    redis-server --bind "$host" --port "$port" --dir "$dir" --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
      --appendonly yes --save "" --protected-mode no >/dev/null
    i=0
    until is_running; do
      i=$((i + 1))
      [ $i -lt 100 ] || { say "did not start; see $dir/redis.log"; exit 1; }
      sleep 0.05
    done
  fi
  say "running on $host:$port"
  ;;
stop)
  if is_running; then
    redis-cli -h "$host" -p "$port" shutdown nosave >/dev/null 2>&1 || true
    i=0
    while is_running && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
  fi
  say "stopped"
  ;;
status)
  if is_running; then echo "running on $host:$port"; else echo "stopped"; exit 1; fi
  ;;
url)
  echo "redis://$host:$port/0"
  ;;
*)
  echo "usage: $0 start|stop|status|url" >&2
  exit 2
  ;;
esac
