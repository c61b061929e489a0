#!/bin/sh
# `make run`: starts the whole system from the release build with its state
# under ./var (or $WEBTOON_DATA_DIR); a new data directory gets the demo
# catalog. Ctrl-C stops everything cleanly.
set -eu
cd "$(dirname "$0")/.."
data=${WEBTOON_DATA_DIR:-./var}
demo=""
[ -e "$data/webtoon.db" ] || demo="--demo"
exec build/release/webtoon up $demo "$@"
