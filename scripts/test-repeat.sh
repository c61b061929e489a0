#!/bin/sh
# Runs the whole `make test` N times in a row, to find tests that fail only
# now and then (flaky is failing), and stops at the first failing run,
# saying which run it was and where its logs are.
#
#   scripts/test-repeat.sh N [--stress]
#
# --stress keeps one core busy with stress-ng (Debian's) during every run,
# as on a loaded CI machine: on this project's 2-core machines the suite then
# has one core left. stress-ng is installed when missing (scripts/deps.sh)
# and always stopped at the end, also on Ctrl-C.
#
# The output of run i goes to the terminal and to test-output/repeat/run-i.log;
# CTest keeps the details of the last run under build/<preset>/Testing/Temporary.
set -eu
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/test-repeat.sh N [--stress]   (N >= 1 runs of \`make test\`)" >&2
  exit 2
}

runs=""
stress=0
for arg in "$@"; do
  case $arg in
    --stress) stress=1 ;;
    -h | --help)
      sed -n '2,14s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
    "" | *[!0-9]*) usage ;;
    *)
      [ -z "$runs" ] || usage
      runs=$arg
      ;;
  esac
done
if [ -z "$runs" ] || [ "$runs" -lt 1 ]; then
  usage
fi

logs=test-output/repeat
rm -rf "$logs"
mkdir -p "$logs"

# stress-ng runs in the background during each run. Its own timeout is only
# a safety net for when this script is killed with no chance to stop it.
stress_pid=""
start_stress() {
  stress-ng --cpu 1 --timeout 6h --quiet &
  stress_pid=$!
}
stop_stress() {
  if [ -n "$stress_pid" ]; then
    kill "$stress_pid" 2>/dev/null || true
    wait "$stress_pid" 2>/dev/null || true
    stress_pid=""
  fi
}
trap stop_stress EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ "$stress" -eq 1 ]; then
  scripts/deps.sh stress-ng
fi

i=1
while [ "$i" -le "$runs" ]; do
  log="$logs/run-$i.log"
  echo "== test-repeat: run $i of $runs$([ "$stress" -eq 1 ] && echo ", one core busy with stress-ng")" >&2
  [ "$stress" -eq 0 ] || start_stress
  started=$(date +%s)
  # No pipefail in POSIX sh: the status of `make test` goes through a file.
  { rc=0; make --no-print-directory test || rc=$?; echo "$rc" >"$log.status"; } 2>&1 | tee "$log"
  rc=$(cat "$log.status" 2>/dev/null || echo 1) # none: the run was interrupted
  rm -f "$log.status"
  stop_stress
  took=$(($(date +%s) - started))
  if [ "$rc" -ne 0 ]; then
    echo "== test-repeat: run $i of $runs FAILED (exit status $rc, after ${took}s)" >&2
    echo "   its output:   $log" >&2
    echo "   CTest's logs: build/debug/Testing/Temporary/ and build/asan/Testing/Temporary/" >&2
    echo "                 (LastTestsFailed.log names the tests, LastTest.log has their output)" >&2
    exit 1
  fi
  echo "== test-repeat: run $i of $runs passed (${took}s)" >&2
  i=$((i + 1))
done
echo "== test-repeat: all $runs runs passed; logs in $logs/" >&2
