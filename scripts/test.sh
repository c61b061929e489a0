#!/bin/sh
# Everything `make test` runs: the debug build's full suite, then the same
# suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

# The optimised build `make run` uses: -O2 enables warnings (format
# truncation) that the debug builds never see, and -Werror makes them fatal.
echo "== release: build" >&2
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs" >/dev/null

for preset in debug asan; do
  echo "== $preset: build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs" >/dev/null
  echo "== $preset: test" >&2
  ctest --preset "$preset" -j "$jobs"
done
echo "== web: build and component tests" >&2
make --no-print-directory -C web build test
echo "== web: end-to-end tests in Chromium against the debug build" >&2
WEBTOON_BIN="$PWD/build/debug/webtoon" make --no-print-directory -C web e2e
scripts/lint.sh
