#!/bin/sh
# Prints the path of a Go command recent enough to build the cluster
# toolchain (Go 1.22 or newer), getting one when the machine has none.
#
# A Go already on PATH (or in /usr/local/go) is used as it is. Otherwise the
# official toolchain is taken from the Go module proxy, the way
# GOTOOLCHAIN=go1.26.8 would fetch it (module golang.org/toolchain), checked
# against the SHA-256 pinned below, and unpacked once into
# ${XDG_CACHE_HOME:-~/.cache}/webtoon/go-<version>. Debian 12's own golang
# (1.19) is too old for Kubernetes 1.30.
set -eu
version=1.26.8
sha256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
cache="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon"
proxy=${GOPROXY_URL:-https://proxy.golang.org}

recent_enough() { # go binary
  v=$("$1" env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
  major=${v%%.*}
  rest=${v#*.}
  minor=${rest%%.*}
  [ "${major:-0}" -gt 1 ] || { [ "${major:-0}" -eq 1 ] && [ "${minor:-0}" -ge 22 ]; }
}

for go in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "$cache/go-$version/bin/go"; do
  if [ -n "$go" ] && [ -x "$go" ] && recent_enough "$go"; then
    echo "$go"
    exit 0
  fi
done

# make test builds several Go tools at once (observability, S3, cluster):
# one of them fetches and unpacks, the others wait and then find it there.
mkdir -p "$cache/downloads"
exec 9>"$cache/go-$version.lock"
flock 9
if [ -x "$cache/go-$version/bin/go" ] && recent_enough "$cache/go-$version/bin/go"; then
  echo "$cache/go-$version/bin/go"
  exit 0
fi
zip="$cache/downloads/go$version.linux-amd64.zip"
if ! echo "$sha256  $zip" | sha256sum -c --status 2>/dev/null; then
  echo "go: fetching Go $version from the Go module proxy (about 70 MB)" >&2
  curl -fsSL --retry 3 -o "$zip.part" \
    "$proxy/golang.org/toolchain/@v/v0.0.1-go$version.linux-amd64.zip"
  mv "$zip.part" "$zip"
  echo "$sha256  $zip" | sha256sum -c --status || {
    echo "go: $zip does not have the pinned SHA-256; removed" >&2
    rm -f "$zip"
    exit 1
  }
fi
tmp="$cache/go-$version.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
unzip -q "$zip" -d "$tmp"
# The module zip holds the Go tree under golang.org/toolchain@<version>/.
mv "$tmp"/golang.org/toolchain@*/ "$cache/go-$version"
rm -rf "$tmp"
chmod +x "$cache/go-$version"/bin/* "$cache/go-$version"/pkg/tool/*/* 2>/dev/null || true
echo "$cache/go-$version/bin/go"
