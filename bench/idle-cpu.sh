#!/bin/sh
# Measures how much CPU `webtoon up` uses while nothing happens: the
# supervisor and all services, over a quiet interval after start-up.
# Target (docs/PERFORMANCE.md): under 1% of one core.
#
#   bench/idle-cpu.sh [seconds]      default 20
set -eu
cd "$(dirname "$0")/.."
secs=${1:-20}
bin=build/release/webtoon
[ -x "$bin" ] || make build >/dev/null
data=$(mktemp -d)
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null; rm -rf "$data"' EXIT
WEBTOON_DATA_DIR=$data WEBTOON_LOG_LEVEL=warn "$bin" up >/dev/null 2>&1 &
up=$!
sleep 3
ticks() {
  total=0
  for pid in $up $(pgrep -P $up); do
    set -- $(sed 's/^.*) //' /proc/$pid/stat)
    total=$((total + ${12} + ${13}))
  done
  echo $total
}
before=$(ticks)
sleep "$secs"
after=$(ticks)
hz=$(getconf CLK_TCK)
awk -v t=$((after - before)) -v hz="$hz" -v s="$secs" 'BEGIN {
  share = t / hz / s * 100
  printf "idle CPU: %.2f%% of one core over %ds (%d ticks)\n", share, s, t
  exit share < 1 ? 0 : 1
}'
