#!/bin/sh
# A throwaway PostgreSQL cluster for development and tests, on 127.0.0.1
# (or PG_HOST) with trust authentication, holding one database per service
# (webtoon_pointer, webtoon_payment, ...). Debian's postgresql package is
# installed when missing. Durability is off (fsync, full page writes): the
# cluster is for tests, never for data anyone keeps.
#
#   scripts/pg.sh start    initdb once, start, create the databases
#   scripts/pg.sh stop     stop it (fast shutdown)
#   scripts/pg.sh status   "running ..." and exit 0, or "stopped" and exit 1
#   scripts/pg.sh url      the WEBTOON_STORE_URL that uses it
#   scripts/pg.sh psql ..  psql on it (as the postgres user)
#
# Settings (environment):
#   PG_HOST=127.0.0.1   address it listens on, trusted (the local cluster
#                       uses the node address 10.245.255.1)
#   PG_PORT=15432       port
#   PG_DIR=DIR          cluster, socket and log (default /tmp/webtoon-pg-<port>)
#   PG_CLIENTS=CIDR     also let clients from CIDR in (the cluster's pods),
#                       with the password in PG_PASSWORD_FILE (scram-sha-256)
#   PG_PASSWORD_FILE=F  the postgres user's password, set at every start
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the
# postgres user and every server command runs through runuser.
set -eu
host=${PG_HOST:-127.0.0.1}
port=${PG_PORT:-15432}
clients=${PG_CLIENTS:-}
password_file=${PG_PASSWORD_FILE:-}
dir=${PG_DIR:-"/tmp/webtoon-pg-$port"}
services="pointer payment history webtoon purchase auth"

say() { echo "pg: $*" >&2; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
  fi
  $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends postgresql >/dev/null
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

# Runs a server command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

psql_() {
  "$bindir/psql" -X -q -h "$host" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"
}

is_running() {
  [ -f "$dir/data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

start() {
  if ! is_running; then
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
      as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --no-locale -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
      cat >>"$dir/data/postgresql.conf" <<EOF
# Added by scripts/pg.sh: one address only, fast and not durable (tests).
listen_addresses = '$host'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_pred_locks_per_transaction = 256
log_min_messages = warning
EOF
      # initdb trusts loopback only; the listening address is this machine too.
      [ "$host" = 127.0.0.1 ] || echo "host all all $host/32 trust" >>"$dir/data/pg_hba.conf"
      if [ -n "$clients" ]; then
        [ -n "$password_file" ] || { say "PG_CLIENTS needs PG_PASSWORD_FILE"; exit 2; }
        echo "host all all $clients scram-sha-256" >>"$dir/data/pg_hba.conf"
      fi
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
      { tail -n 20 "$dir/server.log" >&2; exit 1; }
  fi
  if [ -n "$password_file" ]; then
    # Through stdin: the password never appears on a command line.
    printf "SET password_encryption = 'scram-sha-256'; ALTER ROLE postgres PASSWORD '%s';\n" \
      "$(cat "$password_file")" | psql_ -d postgres >/dev/null
  fi
  for s in $services; do
    if [ -z "$(psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'webtoon_$s'")" ]; then
      psql_ -d postgres -c "CREATE DATABASE webtoon_$s"
    fi
  done
  say "running on $host:$port (data in $dir)"
}

stop() {
  is_running || return 0
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  say "stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
  if is_running; then
    echo "running on $host:$port (data in $dir)"
  else
    echo "stopped"
    exit 1
  fi
  ;;
url) echo "postgres://postgres@$host:$port/webtoon_{service}" ;;
psql)
  shift
  exec "$bindir/psql" -X -h "$host" -p "$port" -U postgres "$@"
  ;;
*)
  sed -n '2,/^set -eu/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
