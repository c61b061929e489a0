#!/bin/sh
# `make test-cluster`: everything about running on Kubernetes, in the order
# a release goes: the pipelines and the chart checked offline, the image
# built and run, then the chart installed on a real single-node cluster on
# this machine and put through self-healing, a zero-downtime upgrade, a
# ConfigMap change, a disruption budget and the history autoscaler.
#
# The first run builds the cluster toolchain from the Go module proxy
# (scripts/cluster/toolchain.sh, about 15 minutes); later runs take seconds
# for it. The cluster is always stopped at the end, and the host left as it
# was, also when a test fails.
set -eu
. "$(dirname "$0")/lib/mount-root.sh"
mount_root_reexec "$0" "$@"
cd "$(dirname "$0")/.."
# Stopped by a signal, it still runs its EXIT trap (the cluster's stop).
trap 'exit 130' INT
trap 'exit 143' TERM
eval "$(scripts/cluster/toolchain.sh env)"

echo "== cluster: chart, Containerfile, pipelines (helm lint, kubeconform, checkov, actionlint)" >&2
scripts/cluster/chart-check.sh

echo "== cluster: image" >&2
archive=$(scripts/image.sh build)
tests/image/smoke.sh

echo "== cluster: a single-node Kubernetes with the chart installed" >&2
trap 'scripts/cluster/cluster.sh stop' EXIT
scripts/cluster/cluster.sh start
# Debian's python3 runs the suites (the toolchain's venv is for checkov).
WEBTOON_IMAGE_ARCHIVE="$archive" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/cluster
