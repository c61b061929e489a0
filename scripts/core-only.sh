#!/bin/sh
# Builds libcore and its own tests from a source tree that holds nothing of
# what sits above it (src/domain, src/svc, src/app, main.c are not there at
# all, so an #include of them from core fails to compile), then runs those
# tests: core stands alone. CTest runs this as build/core-only.
#
#   scripts/core-only.sh BUILD_DIR [CMAKE_ARG...]
#
# The tree is made of symbolic links under BUILD_DIR/tree, so a second run
# rebuilds only what changed. It runs the unit tests and fuzz replays with
# -j JOBS (default 2), except those that need the real engines (label
# engines: Kafka, PostgreSQL on fixed ports), which the full suite runs;
# no fixture starts anything (the tree has no scripts/ to start it with).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [CMAKE_ARG...]" >&2; exit 2; }
build=$1
shift
jobs=${JOBS:-2}

tree=$build/tree
mkdir -p "$tree/src"
ln -sfn "$root/CMakeLists.txt" "$tree/CMakeLists.txt"
ln -sfn "$root/src/core" "$tree/src/core"
ln -sfn "$root/tests" "$tree/tests"

cmake -S "$tree" -B "$build/out" -DWEBTOON_CORE_ONLY=ON "$@" >/dev/null
cmake --build "$build/out" -j "$jobs" >/dev/null
ctest --test-dir "$build/out" -L "^(unit|fuzz)$" -LE engines -j "$jobs" --output-on-failure
