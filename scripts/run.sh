#!/bin/sh
# `make run`: starts the whole system from the release build with its state
# under ./var (or $WEBTOON_DATA_DIR). Ctrl-C stops it cleanly.
set -eu
cd "$(dirname "$0")/.."
exec build/release/webtoon up "$@"
