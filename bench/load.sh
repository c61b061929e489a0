#!/bin/sh
# Throughput and latency of one service on loopback with wrk: a read
# (GET /webtoons/{id}) and a command (POST /webtoons/{id}/open, which writes
# the read and its event in one transaction), plus each process's memory.
#
#   bench/load.sh [seconds]      default 10
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
bin=build/release/webtoon
[ -x "$bin" ] || make build >/dev/null
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
data=$(mktemp -d)
WEBTOON_DATA_DIR=$data WEBTOON_LOG_LEVEL=warn "$bin" up --demo >/dev/null 2>&1 &
up=$!
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null; rm -rf "$data"' EXIT
until curl -sf localhost:8085/webtoons/tower-1 >/dev/null 2>&1; do sleep 0.05; done
curl -sf -XPOST localhost:8082/pointers -H 'Content-Type: application/json' -d '{"userId":"bench"}' >/dev/null
sleep 0.5
echo "== GET /webtoons/tower-1 (read, 1 thread, 50 connections)"
wrk -t1 -c50 -d"${secs}s" --latency http://127.0.0.1:8085/webtoons/tower-1 | grep -E "Requests/sec|50%|99%"
cat > "$data/open.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"userId":"bench"}'
wrk.headers["Content-Type"] = "application/json"
LUA
echo "== POST /webtoons/tower-1/open (command: transaction + outbox, 1 thread, 10 connections)"
wrk -t1 -c10 -d"${secs}s" --latency -s "$data/open.lua" http://127.0.0.1:8085/webtoons/tower-1/open | grep -E "Requests/sec|50%|99%"
echo "== resident memory"
for pid in $(pgrep -P $up); do
  printf '%-28s %s\n' "$(tr '\0' ' ' < /proc/$pid/cmdline)" "$(grep VmRSS /proc/$pid/status | awk '{print $2 " kB"}')"
done
