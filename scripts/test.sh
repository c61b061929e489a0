#!/bin/sh
# Everything `make test` runs: the debug build's suite, the full suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer, the web frontend's
# tests, the lint, and the Kubernetes half (scripts/test-cluster.sh).
#
# The tests on the real engines (label `engines`: the distributed suite and
# the Kafka, PostgreSQL and S3 unit tests) run once, under the sanitizers:
# twice, they made half of the debug suite's time (11 of its 26 minutes on
# a fresh machine), and the sanitizer build is the stricter of the two.
# Every other suite runs in both builds, so the fast binary's timing still
# meets the embedded saga, the gateway and the faults.
#
# The cluster suite runs beside the ASan suite: it mostly waits (image
# layers, rollouts, the autoscaler), and on a fresh machine it first builds
# its toolchain for about 15 minutes, which then overlaps the sanitizer run
# instead of adding to it. Its output goes to test-output/test-cluster.log
# and is shown when it ends.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p test-output
cluster_log=test-output/test-cluster.log
cluster_pid=""

# A failure of the foreground suites stops the cluster suite too (its own
# trap then stops the cluster and restores the host).
stop_cluster_suite() {
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    # Its running step first: a shell runs its traps only between commands.
    pkill -TERM -P "$cluster_pid" 2>/dev/null || true
    kill -TERM "$cluster_pid" 2>/dev/null || true
    wait "$cluster_pid" 2>/dev/null || true
  fi
}
stop_background() {
  for pid in ${tools_pid:-} ${s3_tools_pid:-}; do
    if kill -0 "$pid" 2>/dev/null; then
      pkill -TERM -P "$pid" 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  stop_cluster_suite
}
trap stop_background EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The receivers the observability tests push to (VictoriaLogs, Jaeger),
# from the Go module proxy into ~/.cache/webtoon/observability: a first
# build takes about 20 minutes of Go compiling, so it starts now, beside the
# C builds and the first suites, which mostly wait. CTest's
# tools/observability fixture runs the script again, which waits for this
# one (a lock) and finds them built, or says why not.
echo "== tools: VictoriaLogs and Jaeger, in the background (log: test-output/observability-tools.log)" >&2
scripts/observability-tools.sh >test-output/observability-tools.log 2>&1 &
tools_pid=$!
# The S3 server of the blob tests (SeaweedFS's weed: 8 to 17 minutes of Go
# compiling the first time) the same way: CTest's engines/s3_start waits
# for this build (a lock).
echo "== tools: SeaweedFS, in the background (log: test-output/s3-tools.log)" >&2
scripts/s3.sh build >test-output/s3-tools.log 2>&1 &
s3_tools_pid=$!

# The optimised build `make run` uses: -O2 enables warnings (format
# truncation) that the debug builds never see, and -Werror makes them fatal.
echo "== release: build" >&2
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs" >/dev/null

for preset in debug asan; do
  echo "== $preset: build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs" >/dev/null
  if [ "$preset" = asan ]; then
    echo "== cluster: started beside the ASan suite (log: $cluster_log)" >&2
    scripts/test-cluster.sh >"$cluster_log" 2>&1 &
    cluster_pid=$!
  fi
  echo "== $preset: test" >&2
  if [ "$preset" = debug ]; then
    ctest --preset "$preset" -j "$jobs" -LE engines
  else
    ctest --preset "$preset" -j "$jobs"
  fi
done
echo "== web: build and component tests" >&2
make --no-print-directory -C web build test
echo "== web: end-to-end tests in Chromium against the debug build" >&2
WEBTOON_BIN="$PWD/build/debug/webtoon" make --no-print-directory -C web e2e
scripts/lint.sh

echo "== cluster: waiting for the cluster suite" >&2
status=0
wait "$cluster_pid" || status=$?
cluster_pid=""
cat "$cluster_log" >&2
[ "$status" -eq 0 ] || { echo "== cluster: FAILED (exit $status), log above" >&2; exit "$status"; }
