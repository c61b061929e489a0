#!/bin/sh
# Installs schemathesis (the version and dependencies pinned in
# scripts/schemathesis-requirements.txt) into a virtualenv kept outside the
# repository, under ${XDG_CACHE_HOME:-$HOME/.cache}/webtoon/, built on
# Debian's /usr/bin/python3 (python3-venv, from scripts/deps.sh). Prints the
# path of the schemathesis executable on stdout.
#
# Safe to run any number of times, also several at once: when the pinned
# environment is there it prints the path and nothing else. A changed
# requirements file gets a virtualenv of its own (the name carries its hash);
# an install cut short is noticed (no .complete marker) and redone.
#
#   "$(scripts/schemathesis.sh)" run http://127.0.0.1:8088/openapi.json
set -eu
here=$(cd "$(dirname "$0")" && pwd)
requirements="$here/schemathesis-requirements.txt"
version=$(sed -n 's/^schemathesis==//p' "$requirements")
hash=$(sha256sum "$requirements" | cut -c1-12)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon"
venv="$cache/schemathesis-$version-$hash"
exe="$venv/bin/schemathesis"

if [ -f "$venv/.complete" ] && [ -x "$exe" ]; then
  echo "$exe"
  exit 0
fi

mkdir -p "$cache"
(
  flock 9
  # Another run may have finished the install while this one waited.
  if [ ! -f "$venv/.complete" ]; then
    echo "schemathesis: installing $version into $venv" >&2
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
    "$exe" --version >/dev/null
    touch "$venv/.complete"
  fi
) 9>"$cache/.schemathesis.lock"
echo "$exe"
