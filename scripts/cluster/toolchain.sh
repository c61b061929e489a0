#!/bin/sh
# Builds, once, every program the cluster tests need, from the Go module
# proxy and PyPI, into ${XDG_CACHE_HOME:-~/.cache}/webtoon/cluster (never
# into the repository). Later runs find them there and take seconds.
#
#   scripts/cluster/toolchain.sh          build what is missing, print the bin directory
#   scripts/cluster/toolchain.sh linters  only helm, kubeconform, actionlint, checkov and schemas
#   scripts/cluster/toolchain.sh env      build everything, then print shell settings (PATH, ...)
#
# What and which versions (pinned; each one is rebuilt when its pin changes):
#   Kubernetes 1.30.14   kube-apiserver, kube-controller-manager, kube-scheduler,
#                        kubelet, kube-proxy, kubectl (k8s.io/kubernetes with its
#                        staging modules at v0.30.14: only some 1.3x releases have
#                        every staging module on the proxy)
#   etcd 3.6.16          a three-line main around etcdmain (its own module has replace
#                        directives, so `go install` refuses it)
#   CoreDNS 1.11.3       cluster DNS, with only the plugins a cluster needs
#   metrics-server 0.8.0 the HPA's CPU metrics
#   helm 3.22.0, kubeconform 0.8.0, actionlint 1.7.12
#   Istio's CRDs         from istio.io/api 1.32.0
#   kubernetes-validate 1.37.0 (its JSON schemas, for kubeconform offline),
#   checkov 3.3.30       in a Python venv
#
# A first build takes about 15 minutes on two cores and needs about 3 GB of
# memory and 10 GB of disk for the Go module and build caches (kept in the
# same cache directory).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon"
top="$cache/cluster"
bin="$top/bin"
src="$top/src"

k8s_version=1.30.14
etcd_version=3.6.16
coredns_version=1.11.3
metrics_server_version=0.8.0
helm_version=3.22.0
kubeconform_version=0.8.0
actionlint_version=1.7.12
istio_api_version=1.32.0
kubernetes_validate_version=1.37.0
checkov_version=3.3.30

say() { echo "toolchain: $*" >&2; }
# $go, the Go environment (caches in $top), fresh, pinned and go_tool.
# shellcheck source=scripts/lib/go-tools.sh
. "$root/scripts/lib/go-tools.sh"

k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$k8s_version \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=30 \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=v$k8s_version \
-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=30"

# Kubernetes: a module requiring k8s.io/kubernetes, whose staging modules
# (replaced by ./staging paths in its own go.mod) are pointed at their
# published versions; the sample and generator modules, never built, at
# empty stubs.
k8s_module() {
  dir="$src/k8s-$k8s_version"
  [ -f "$dir/go.sum" ] && return 0
  say "preparing the Kubernetes $k8s_version module (downloads about 2 GB once)"
  rm -rf "$dir"
  mkdir -p "$dir"
  mod=$(cd "$dir" && "$go" mod download -json "k8s.io/kubernetes@v$k8s_version" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  {
    echo "module example.test/k8sbuild"
    echo
    echo "go 1.22.0"
    echo
    echo "require k8s.io/kubernetes v$k8s_version"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$mod" | while read -r m; do
      case "$m" in
        k8s.io/code-generator | k8s.io/sample-*)
          name=${m#k8s.io/}
          mkdir -p "$dir/stub/$name"
          echo "module $m" >"$dir/stub/$name/go.mod"
          echo "	$m => ./stub/$name"
          ;;
        *) echo "	$m => $m v0.${k8s_version#1.}" ;;
      esac
    done
    echo ")"
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
  (cd "$dir" && "$go" mod tidy)
}

k8s_binaries() {
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    fresh "$b" "$k8s_version" && continue
    k8s_module
    say "building $b $k8s_version"
    case "$b" in
      kubectl) pkg=k8s.io/kubernetes/cmd/kubectl ;;
      *) pkg=k8s.io/kubernetes/cmd/$b ;;
    esac
    (cd "$src/k8s-$k8s_version" && "$go" build -ldflags "$k8s_ldflags" -o "$bin/$b" "$pkg")
    pinned "$b" "$k8s_version"
  done
}

# go_main <name> <pin> <module requirement> <main.go text>: builds a small
# main in its own module.
go_main() {
  fresh "$1" "$2" && return 0
  say "building $1 $2"
  dir="$src/$1-$2"
  mkdir -p "$dir"
  printf '%s\n' "$4" >"$dir/main.go"
  [ -f "$dir/go.mod" ] || (cd "$dir" && "$go" mod init "example.test/$1" >/dev/null 2>&1)
  (cd "$dir" && "$go" get "$3" && "$go" mod tidy && "$go" build -ldflags "-s -w" -o "$bin/$1" .)
  pinned "$1" "$2"
}

etcd() {
  go_main etcd "$etcd_version" "go.etcd.io/etcd/server/v3@v$etcd_version" 'package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }'
}

# CoreDNS with the plugins a cluster's DNS uses (the full build pulls in
# every cloud provider's SDK).
coredns() {
  go_main coredns "$coredns_version" "github.com/coredns/coredns@v$coredns_version" 'package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order plugins see a query in.
func init() {
	dnsserver.Directives = []string{"errors", "health", "ready", "cache", "loadbalance", "kubernetes"}
}

func main() { coremain.Run() }'
}

# Helm's own release build stamps its version and the Kubernetes version it
# assumes offline (helm template, lint), from its client-go: v0.37 is 1.37.
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=v$helm_version \
-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"

# module_dir <module@version>: where the Go module cache unpacked it.
module_dir() {
  (cd "$src" && "$go" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
}

istio_crds() {
  out="$top/istio-crds-$istio_api_version.yaml"
  [ -s "$out" ] && return 0
  say "fetching Istio's CRDs ($istio_api_version)"
  cp "$(module_dir "istio.io/api@v$istio_api_version")/kubernetes/customresourcedefinitions.gen.yaml" "$out.part"
  mv "$out.part" "$out"
}

python_tools() {
  venv="$top/venv"
  pin="kubernetes-validate==$kubernetes_validate_version checkov==$checkov_version"
  [ "$(cat "$venv/.pin" 2>/dev/null)" = "$pin" ] && return 0
  say "installing $pin (PyPI)"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $pin
  echo "$pin" >"$venv/.pin"
}

# The linters first: the chart checks need only them.
go_tool helm "$helm_version-stamped" "helm.sh/helm/v3/cmd/helm@v$helm_version" "$helm_ldflags"
go_tool kubeconform "$kubeconform_version" "github.com/yannh/kubeconform/cmd/kubeconform@v$kubeconform_version"
go_tool actionlint "$actionlint_version" "github.com/rhysd/actionlint/cmd/actionlint@v$actionlint_version"
istio_crds
python_tools
[ "${1:-}" = linters ] && { echo "$bin"; exit 0; }
etcd
k8s_binaries
coredns
go_tool metrics-server "$metrics_server_version" "sigs.k8s.io/metrics-server/cmd/metrics-server@v$metrics_server_version"

if [ "${1:-}" = env ]; then
  # The venv last: its python3 must not shadow the system's.
  echo "PATH=\"$bin:\$PATH:$top/venv/bin\"; export PATH"
  echo "WEBTOON_CLUSTER_TOOLS=\"$top\"; export WEBTOON_CLUSTER_TOOLS"
  echo "ISTIO_CRDS=\"$top/istio-crds-$istio_api_version.yaml\"; export ISTIO_CRDS"
  echo "KUBECONFORM_SCRIPTS=\"$(module_dir "github.com/yannh/kubeconform@v$kubeconform_version")/scripts\"; export KUBECONFORM_SCRIPTS"
else
  echo "$bin"
fi
