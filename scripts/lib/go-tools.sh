# Sourced, not run: building pinned Go programs once from the Go module
# proxy, shared by scripts/cluster/toolchain.sh,
# scripts/observability-tools.sh and bench/lib.sh (vegeta).
#
# Before sourcing, set
#   root   the repository's top directory
#   bin    where the programs go (made here), each beside a .<name>.pin stamp
#   src    where the throwaway build modules go (made here)
# and define say() for progress lines on stderr. This sets $go (the Go
# command of scripts/cluster/go.sh) and exports the Go environment: one
# module cache and one build cache for every tool, under
# ${XDG_CACHE_HOME:-~/.cache}/webtoon/cluster (about 10 GB with the
# Kubernetes toolchain), static binaries (CGO_ENABLED=0), no toolchain
# switching, no VCS stamping.
# shellcheck shell=sh disable=SC2154 # root, bin and src come from the sourcing script

go_tools_cache="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon/cluster"
mkdir -p "$bin" "$src"
go=$("$root/scripts/cluster/go.sh")
export GOMODCACHE="$go_tools_cache/gomod" GOCACHE="$go_tools_cache/gobuild" GOPATH="$go_tools_cache/gopath"
export GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN=local CGO_ENABLED=0

# fresh <name> <pin>: true when bin/<name> was built from this pin.
fresh() { [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.pin" 2>/dev/null)" = "$2" ]; }
pinned() { echo "$2" >"$bin/.$1.pin"; }

# go_tool <name> <pin> <package@version> [ldflags]: the program built in a
# module of its own (`go get -tool`), which also takes modules whose own
# go.mod has replace directives.
go_tool() {
  fresh "$1" "$2" && return 0
  say "building $1 $2"
  dir="$src/$1-$2"
  mkdir -p "$dir"
  [ -f "$dir/go.mod" ] || (cd "$dir" && "$go" mod init "example.test/$1" >/dev/null 2>&1)
  (cd "$dir" && "$go" get -tool "$3" && "$go" build -ldflags "-s -w ${4:-}" -o "$bin/$1" "${3%@*}")
  pinned "$1" "$2"
}
