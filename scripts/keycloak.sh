#!/bin/sh
# Keycloak, the OpenID Connect issuer of the distributed setup: one server
# in production mode (an optimized build, H2 database in its data
# directory, local caches: no cluster), listening on 127.0.0.1 only, with
# the realm `webtoon` imported from deploy/keycloak/webtoon-realm.json at its
# first start.
#
#   scripts/keycloak.sh fetch    install Java, Maven, unzip if missing; download and build Keycloak
#   scripts/keycloak.sh start    fetch, start, wait until it is ready and serves the realm
#   scripts/keycloak.sh stop     stop it (SIGTERM, SIGKILL after 30 s)
#   scripts/keycloak.sh status   "running ..." and exit 0, or "stopped" and exit 1
#   scripts/keycloak.sh env      the settings that point webtoon at it: eval "$(scripts/keycloak.sh env)"
#
# Settings (environment):
#   KC_PORT=8180             HTTP port (the issuer is http://127.0.0.1:KC_PORT/realms/webtoon)
#   KC_MANAGEMENT_PORT=8181  management port (health: /health/ready)
#   KC_DATA=DIR              server, database, secrets, log (default .cache/keycloak/run-<port>)
#   KC_VERSION=26.7.3        org.keycloak:keycloak-quarkus-dist
#   KC_HEAP=512m             JVM heap
#
# The distribution comes from Maven Central (`mvn dependency:copy`, so
# ~/.m2 keeps the zip) and is unpacked and built once (`kc.sh build`) into
# ${XDG_CACHE_HOME:-~/.cache}/webtoon/keycloak-<version>. Each data
# directory gets its own server home, hard links to that build, because
# Keycloak keeps its database, transaction logs and import directory under
# its home: two servers on other ports never share state.
#
# Secrets are generated at the first start, never taken from the repository:
# KC_DATA/admin-password (the bootstrap admin `admin` of the master realm)
# and KC_DATA/cli-client-secret (the secret of the confidential client
# webtoon-cli), both mode 0600. The realm file names the secret with a
# placeholder, ${WEBTOON_CLI_CLIENT_SECRET}, that Keycloak fills from the
# environment when it imports the realm; both variables are set for the
# first start only. Keycloak keeps an imported realm: after a change to the
# realm file, stop, remove KC_DATA and start to import it again.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

version=${KC_VERSION:-26.7.3}
port=${KC_PORT:-8180}
mport=${KC_MANAGEMENT_PORT:-$((port + 1))}
data=${KC_DATA:-"$root/.cache/keycloak/run-$port"}
heap=${KC_HEAP:-512m}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon"
dist="$cache/keycloak-$version"
realm_file="$root/deploy/keycloak/webtoon-realm.json"
issuer="http://127.0.0.1:$port/realms/webtoon"
pidfile="$data/keycloak.pid"
secret_file="$data/cli-client-secret"
admin_file="$data/admin-password"
# Build-time options: changing them rebuilds the cached distribution.
build_options="--db=dev-file --health-enabled=true"

say() { echo "keycloak: $*" >&2; }

. scripts/lib/packages.sh

# Debian's Java 17 (Keycloak 26 needs 17 or later).
find_java() {
  for j in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
    [ -x "$j" ] && { echo "$j"; return 0; }
  done
  command -v java
}

# Downloads, unpacks and builds the distribution once; several scripts at
# once wait for each other (flock), a step cut short is redone.
fetch() {
  command -v java >/dev/null 2>&1 || need_packages default-jre-headless
  command -v mvn >/dev/null 2>&1 || need_packages maven
  command -v unzip >/dev/null 2>&1 || need_packages unzip
  command -v curl >/dev/null 2>&1 || need_packages curl
  [ -f "$dist/.complete" ] && [ "$(cat "$dist/.built" 2>/dev/null)" = "$build_options" ] && return 0
  mkdir -p "$cache"
  (
    flock 9
    if [ ! -f "$dist/.complete" ]; then
      say "downloading Keycloak $version (org.keycloak:keycloak-quarkus-dist) into $dist"
      tmp="$cache/.keycloak-$version.tmp"
      rm -rf "$dist" "$tmp"
      mkdir -p "$tmp"
      if ! mvn -q -B dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$version:zip" \
        -DoutputDirectory="$tmp" >"$tmp/fetch.log" 2>&1; then
        cat "$tmp/fetch.log" >&2
        exit 1
      fi
      unzip -q "$tmp/keycloak-quarkus-dist-$version.zip" -d "$tmp"
      mv "$tmp/keycloak-$version" "$dist"
      rm -rf "$tmp"
      touch "$dist/.complete"
    fi
    if [ "$(cat "$dist/.built" 2>/dev/null)" != "$build_options" ]; then
      say "building the server once ($build_options), about half a minute of CPU"
      rm -f "$dist/.built"
      # shellcheck disable=SC2086
      if ! JAVA=$(find_java) "$dist/bin/kc.sh" build $build_options >"$dist/build.log" 2>&1; then
        tail -n 30 "$dist/build.log" >&2
        exit 1
      fi
      rm -rf "$dist/data"
      echo "$build_options" >"$dist/.built"
    fi
  ) 9>"$cache/.keycloak-$version.lock"
}

# The server home of this data directory: hard links to the cached build
# (a copy when they cannot be made), its own copy of lib/quarkus (what a
# rebuild rewrites), and data/ pointing at KC_DATA/data.
install_home() {
  want="$version $build_options"
  [ "$(cat "$data/home/.installed" 2>/dev/null)" = "$want" ] && return 0
  rm -rf "${data:?}/home"
  mkdir -p "$data/home" "$data/data"
  for f in bin conf lib providers themes version.txt; do
    cp -al "$dist/$f" "$data/home/" 2>/dev/null || cp -a "$dist/$f" "$data/home/"
  done
  rm -rf "$data/home/lib/quarkus"
  cp -a "$dist/lib/quarkus" "$data/home/lib/quarkus"
  ln -s ../data "$data/home/data"
  echo "$want" >"$data/home/.installed"
}

# A random secret of 40 letters and digits in <file> (mode 0600), once.
make_secret() {
  [ -s "$1" ] && return 0
  (
    umask 077
    LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 >"$1.tmp"
    mv "$1.tmp" "$1"
  )
}

# True when the pid file names our kc.sh (not a process that reused the pid).
is_running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$(cat "$pidfile")/cmdline" 2>/dev/null | grep -qF "$data/home/bin/kc.sh"
}

answers() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$mport/health/ready" 2>/dev/null &&
    curl -fsS -o /dev/null --max-time 2 "$issuer/.well-known/openid-configuration" 2>/dev/null
}

# True when something listens on 127.0.0.1:<port> (or on every address).
port_taken() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltn "sport = :$1" | grep -q .
  else
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" || [ $? -ne 7 ]
  fi
}

# Waits until the server is ready and serves the realm; fails with its log
# when it dies or takes longer than 5 minutes (a first start on a busy
# machine creates the database).
wait_ready() {
  i=0
  while ! answers; do
    i=$((i + 1))
    if [ $i -gt 1500 ] || ! is_running; then
      say "Keycloak did not start; the end of $data/keycloak.log:"
      tail -n 30 "$data/keycloak.log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

info() {
  say "issuer $issuer (admin console http://127.0.0.1:$port/admin/, user admin, password in $admin_file)"
  say "client secret of webtoon-cli in $secret_file"
}

start() {
  if is_running; then
    wait_ready
    say "already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
    info
    return 0
  fi
  for p in "$port" "$mport"; do
    if port_taken "$p"; then
      say "port $p is in use by another program (KC_PORT, KC_MANAGEMENT_PORT choose others)"
      exit 1
    fi
  done
  [ -f "$realm_file" ] || { say "no realm file $realm_file"; exit 1; }
  fetch
  mkdir -p "$data"
  install_home
  make_secret "$admin_file"
  make_secret "$secret_file"
  mkdir -p "$data/data/import"
  cp "$realm_file" "$data/data/import/webtoon-realm.json"
  realm_sum=$(sha256sum "$realm_file" | cut -c1-64)
  if [ -f "$data/.imported" ]; then
    [ "$(cat "$data/.imported")" = "$realm_sum" ] ||
      say "note: $realm_file changed since it was imported; Keycloak keeps the realm it has (stop, rm -rf $data, start to import it again)"
  else
    # Read by Keycloak when it creates the master realm and imports webtoon.
    KC_BOOTSTRAP_ADMIN_USERNAME='admin'
    KC_BOOTSTRAP_ADMIN_PASSWORD=$(cat "$admin_file")
    WEBTOON_CLI_CLIENT_SECRET=$(cat "$secret_file")
    export KC_BOOTSTRAP_ADMIN_USERNAME KC_BOOTSTRAP_ADMIN_PASSWORD WEBTOON_CLI_CLIENT_SECRET
  fi
  JAVA=$(find_java)
  JAVA_OPTS_KC_HEAP="-Xms64m -Xmx$heap"
  # The client compiler only: starts about 3 s sooner on two cores, and
  # token requests (a password hash each) take as long.
  JAVA_OPTS_APPEND="${JAVA_OPTS_APPEND:--XX:TieredStopAtLevel=1}"
  export JAVA JAVA_OPTS_KC_HEAP JAVA_OPTS_APPEND
  started=$(date +%s)
  # setsid: the server outlives this script and the test run's process
  # group; kc.sh leads a process group of its own (kc.sh and its java).
  # --cache=local: one node. Without it Keycloak 26.7 forms a cluster and
  # opens JGroups ports on a non-loopback address and on all addresses.
  # shellcheck disable=SC2016
  setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" \
    "$data/home/bin/kc.sh" start --optimized \
    --cache=local --http-enabled=true --http-host=127.0.0.1 --http-port="$port" \
    --http-management-port="$mport" --hostname="http://127.0.0.1:$port" \
    --import-realm >>"$data/keycloak.log" 2>&1 </dev/null &
  sleep 0.5 # the pid file appears
  wait_ready
  echo "$realm_sum" >"$data/.imported"
  say "running on 127.0.0.1:$port (pid $(cat "$pidfile"), ready in $(($(date +%s) - started)) s, data in $data)"
  info
}

stop() {
  if ! is_running; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill -s TERM -- "-$pid" 2>/dev/null || kill -s TERM "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -eq 300 ] && { kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid"; }
    sleep 0.1
  done
  rm -f "$pidfile"
  say "stopped"
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
stop) stop ;;
status)
  if is_running && answers; then
    echo "running on 127.0.0.1:$port (pid $(cat "$pidfile")), issuer $issuer"
  else
    echo "stopped"
    exit 1
  fi
  ;;
env)
  echo "export WEBTOON_AUTH_ISSUER='$issuer'"
  echo "export WEBTOON_AUTH_CLI_SECRET_FILE='$secret_file'"
  ;;
*)
  sed -n '2,/^set -eu/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
