#!/bin/sh
# Rolls a released image out to a Kubernetes cluster with the chart, as the
# pipelines do (Jenkinsfile, .github/workflows/ci.yml), and waits until every
# Deployment has finished its rollout. A release that does not become ready
# is rolled back by Helm (--atomic), so the previous version keeps serving.
#
#   scripts/deploy.sh NAMESPACE IMAGE_REPOSITORY TAG [VALUES_FILE...]
#
# KUBECONFIG names the cluster. helm and kubectl are taken from PATH, or
# else from the pinned toolchain (scripts/cluster/toolchain.sh).
set -eu
cd "$(dirname "$0")/.."
[ "$#" -ge 3 ] || { echo "usage: scripts/deploy.sh NAMESPACE IMAGE_REPOSITORY TAG [VALUES_FILE...]" >&2; exit 2; }
namespace=$1 repository=$2 tag=$3
shift 3
if ! command -v helm >/dev/null 2>&1 || ! command -v kubectl >/dev/null 2>&1; then
  eval "$(scripts/cluster/toolchain.sh env)"
fi
release=${WEBTOON_RELEASE:-webtoon}
values=""
for f in "$@"; do values="$values -f $f"; done
# shellcheck disable=SC2086
helm upgrade --install "$release" deploy/helm/webtoon --namespace "$namespace" --create-namespace \
  $values --set image.repository="$repository" --set-string image.tag="$tag" \
  --atomic --wait --timeout 10m
for d in $(kubectl -n "$namespace" get deploy -l app.kubernetes.io/instance="$release" -o name); do
  kubectl -n "$namespace" rollout status "$d" --timeout 5m
done
