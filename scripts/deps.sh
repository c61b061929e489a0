#!/bin/sh
# Installs the Debian/Ubuntu packages the project needs, and nothing when
# they are all present (quiet then). Safe to run any number of times.
#
#   scripts/deps.sh              build, run and test dependencies
#   scripts/deps.sh PACKAGE...   only these (scripts/test-repeat.sh: stress-ng)
#
# The servers the tests start (Kafka and Keycloak with Java, Maven and
# unzip, PostgreSQL, Redis) are installed here too, so that test fixtures
# starting in parallel never race for apt.
set -eu

packages="
  make gcc libc6-dev cmake pkg-config clang-format ca-certificates curl procps iproute2 sqlite3 git
  haproxy wrk
  libh2o-evloop-dev libjansson-dev libsqlite3-dev libssl-dev zlib1g-dev
  libcjose-dev libsodium-dev libcurl4-openssl-dev libvips-dev fonts-dejavu-core
  librdkafka-dev libpq-dev libhiredis-dev libcmocka-dev
  python3 python3-pytest python3-requests python3-jsonschema python3-venv python3-jwt python3-cryptography
  python3-yaml prometheus prometheus-alertmanager
  kcat python3-psycopg2 postgresql redis-server redis-tools default-jre-headless maven unzip
  chromium
"

# Node.js for the web frontend: any 18.19+ will do (Debian 12 has 18), so an
# existing node/npm (e.g. from NodeSource) is used as it is.
command -v node >/dev/null 2>&1 || packages="$packages nodejs"
command -v npm >/dev/null 2>&1 || packages="$packages npm"
[ "$#" -eq 0 ] || packages="$*"

missing=""
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "deps: need root (or sudo) to install:$missing" >&2
  exit 1
fi

echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or stale.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
fi
# shellcheck disable=SC2086
$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null

# Prometheus and Alertmanager are here for their programs (promtool, `make
# run-observability`, the tests start their own). On a machine with systemd
# their packages also start system services on 9090 and 9093, the ports of
# run-observability's Prometheus and of Kafka's controller: those just
# installed are stopped and disabled again.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for p in prometheus prometheus-alertmanager; do
    case " $missing " in
      *" $p "*) $sudo systemctl disable --now "$p" >/dev/null 2>&1 || true ;;
    esac
  done
fi
