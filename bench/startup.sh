#!/bin/sh
# Time from `webtoon up` to every service answering /healthz, on a fresh data
# directory (migrations included). Target (docs/PERFORMANCE.md): under 2 s.
#
#   bench/startup.sh [runs]      default 5
set -eu
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=build/release/webtoon
[ -x "$bin" ] || make build >/dev/null
for i in $(seq "$runs"); do
  data=$(mktemp -d)
  start=$(date +%s%N)
  WEBTOON_DATA_DIR=$data WEBTOON_LOG_LEVEL=warn "$bin" up >/dev/null 2>&1 &
  up=$!
  for port in 8082 8083 8084 8085 8086; do
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.005; done
  done
  end=$(date +%s%N)
  echo "run $i: all five healthy after $(( (end - start) / 1000000 )) ms"
  kill $up; wait $up 2>/dev/null || true
  rm -rf "$data"
done
