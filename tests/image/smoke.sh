#!/bin/sh
# Smoke test of the OCI image: the whole system from one image, as the
# cluster runs it. One podman pod (shared localhost, like `webtoon up`) with
# a container per target, each as uid 10001 with a read-only root file
# system (and no tmpfs either, as in Kubernetes), every capability dropped
# and no new privileges, all sharing one data volume (the embedded event
# log is a file every service opens). Started in the order `up` uses: the
# issuer first, then the five services, the web server and the gateway.
#
#   tests/image/smoke.sh [IMAGE]   default: scripts/image.sh build, then its image
#
# Checks, from the host through ports published on 127.0.0.1 only (the
# image has no curl): the pointer service's /healthz and /readyz, the web
# page through the gateway, and an authenticated POST /pointers with a
# token minted in the issuer's container; and that the processes run as
# uid 10001. The pod and the volume are removed on exit; on a failure the
# containers' last log lines come first.
#
# Settings (environment):
#   SMOKE_GATEWAY_PORT=28088   host port of the gateway (127.0.0.1)
#   SMOKE_SERVICE_PORT=28082   host port of the pointer service (127.0.0.1)
#   SMOKE_TIMEOUT=120          seconds the system may take to become ready
set -eu
. "$(dirname "$0")/../../scripts/lib/mount-root.sh"
mount_root_reexec "$0" "$@"
cd "$(dirname "$0")/../.."

gw_port=${SMOKE_GATEWAY_PORT:-28088}
svc_port=${SMOKE_SERVICE_PORT:-28082}
timeout=${SMOKE_TIMEOUT:-120}
pod=webtoon-smoke-$$
vol=$pod-data
targets="auth pointer payment history webtoon purchase web gateway"

say() { echo "smoke: $*" >&2; }

if [ $# -ge 1 ]; then
  image=$1
  scripts/image.sh setup
else
  scripts/image.sh build >/dev/null
  image=localhost/webtoon:$(scripts/image.sh tag)
fi
eval "$(scripts/image.sh env)"

failed=""
cleanup() {
  if [ -n "$failed" ]; then
    for t in $targets; do
      podman container exists "$pod-$t" 2>/dev/null || continue
      echo "--- $t (last 20 lines)" >&2
      podman logs --tail 20 "$pod-$t" >&2 2>&1 || true
    done
  fi
  podman pod rm -f -t 5 "$pod" >/dev/null 2>&1 || true
  podman volume rm -f "$vol" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
  failed=1
  say "FAIL: $*"
  exit 1
}

for p in "$gw_port" "$svc_port"; do
  [ -z "$(ss -Hltn "sport = :$p")" ] || fail "port $p is in use (set SMOKE_GATEWAY_PORT / SMOKE_SERVICE_PORT)"
done
podman image exists "$image" || fail "no image $image"
[ "$(podman image inspect --format '{{.Config.User}}' "$image")" = "10001:10001" ] ||
  fail "the image does not run as 10001:10001"

podman volume create "$vol" >/dev/null
podman pod create --name "$pod" -p "127.0.0.1:$gw_port:8088" -p "127.0.0.1:$svc_port:8082" >/dev/null

start() {
  podman run -d --pod "$pod" --name "$pod-$1" \
    --read-only --read-only-tmpfs=false --user 10001:10001 \
    --cap-drop=ALL --security-opt=no-new-privileges \
    -v "$vol:/var/lib/webtoon" "$image" serve "$1" >/dev/null || fail "cannot start $1"
}

# Polls "$@" every half second until it succeeds or the deadline passes.
deadline=$(($(date +%s) + timeout))
wait_for() {
  what=$1
  shift
  until last=$("$@" 2>&1); do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$what: not within ${timeout}s (the last try said: ${last:-nothing})"
    sleep 0.5
  done
}

# The HTTP status of a request to the host's published ports.
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }
is_200() { [ "$(status "$@")" = 200 ]; }

start auth
wait_for "the issuer's key set" podman exec "$pod-auth" test -s /var/lib/webtoon/auth/jwks.json
for t in pointer payment history webtoon purchase web gateway; do
  start "$t"
done
say "pod $pod: $targets started from $image"

wait_for "pointer /healthz" is_200 "http://127.0.0.1:$svc_port/healthz"
wait_for "pointer /readyz" is_200 "http://127.0.0.1:$svc_port/readyz"
say "pointer: /healthz and /readyz answer 200"

wait_for "the web page through the gateway" is_200 "http://127.0.0.1:$gw_port/"
page=$(curl -s --max-time 5 "http://127.0.0.1:$gw_port/")
case "$page" in
*'<div id="app">'*) ;;
*) fail "the page at / is not the web app's index.html" ;;
esac
say "gateway: / serves the web app"

token=$(podman exec "$pod-auth" webtoon token alice) || fail "webtoon token alice in the auth container"
# The gateway takes a service into rotation after two good checks: a 503
# before that is retried (the Idempotency-Key makes a repeat harmless).
join() {
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$gw_port/pointers" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    -H "Idempotency-Key: smoke-$$" -d '{"userId":"alice"}') || true
  case "$code" in
  2??) return 0 ;;
  503 | 000) return 1 ;;
  *) fail "POST /pointers through the gateway: HTTP $code" ;;
  esac
}
wait_for "POST /pointers through the gateway" join
account=$(curl -s --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$gw_port/pointers/alice")
case "$account" in
*'"userId":"alice"'*) ;;
*) fail "GET /pointers/alice: $account" ;;
esac
say "gateway: POST /pointers with alice's token joined her: $account"

for t in $targets; do
  [ "$(podman inspect --format '{{.State.Running}}' "$pod-$t")" = true ] || fail "$t is not running"
  # Every process, HAProxy's too, as the host sees it (no user namespace).
  users=$(podman top "$pod-$t" huser | tail -n +2 | sort -u)
  [ "$users" = 10001 ] || fail "$t has processes of users other than 10001: $users"
done
say "every container is running, as uid 10001"
say "PASS"
