#!/bin/sh
# Builds, once, the receivers the observability tests push logs and traces
# to, from the Go module proxy, into
# ${XDG_CACHE_HOME:-~/.cache}/webtoon/observability/bin (never into the
# repository). Later runs find them there and take a second.
#
#   scripts/observability-tools.sh       build what is missing, print the bin directory
#   scripts/observability-tools.sh env   the same, then print shell settings (PATH, and
#                                        WEBTOON_TEST_VICTORIALOGS / WEBTOON_TEST_JAEGER,
#                                        the paths the integration tests look for)
#
# What and which versions (pinned; each one is rebuilt when its pin changes):
#   VictoriaLogs 1.52.1  victoria-logs (Apache-2.0): accepts Loki's push protocol,
#                        stands in for Loki (AGPL, not served) in tests/integration/test_logs.py
#   Jaeger 1.76.0        jaeger, the module's cmd/jaeger: in this release that is the
#                        OpenTelemetry-Collector-based Jaeger ("v2", configured with a
#                        YAML file, not the v1 all-in-one's flags, which is cmd/all-in-one):
#                        OTLP receiver, memory storage, query API. To run it on loopback
#                        only: deploy/monitoring/jaeger.yaml
#
# A first build took 44 s for VictoriaLogs (a 15 MB binary) and 19 minutes
# for Jaeger (85 MB) on two cores shared with another test run (load average
# 11 to 15), module downloads included; the Go module and build caches are
# the cluster toolchain's (scripts/lib/go-tools.sh), so what it already
# built is not built again.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
top="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon/observability"
bin="$top/bin"
src="$top/src"

victorialogs_version=1.52.1
jaeger_version=1.76.0

say() { echo "observability-tools: $*" >&2; }
# One build at a time: `make test` starts one in the background and its
# CTest fixture runs this again, which waits here and then finds it done.
mkdir -p "$top"
exec 9>"$top/.lock"
flock 9
# $go, the Go environment (caches shared with the cluster toolchain),
# fresh, pinned and go_tool.
# shellcheck source=scripts/lib/go-tools.sh
. "$root/scripts/lib/go-tools.sh"

go_tool victoria-logs "$victorialogs_version" \
  "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v$victorialogs_version" \
  "-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-v$victorialogs_version"
go_tool jaeger "$jaeger_version" "github.com/jaegertracing/jaeger/cmd/jaeger@v$jaeger_version" \
  "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$jaeger_version"

if [ "${1:-}" = env ]; then
  echo "PATH=\"$bin:\$PATH\"; export PATH"
  echo "WEBTOON_TEST_VICTORIALOGS=\"$bin/victoria-logs\"; export WEBTOON_TEST_VICTORIALOGS"
  echo "WEBTOON_TEST_JAEGER=\"$bin/jaeger\"; export WEBTOON_TEST_JAEGER"
else
  echo "$bin"
fi
