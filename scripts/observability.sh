#!/bin/sh
# `make run-observability`: the system as `make run` starts it, with Debian's
# Prometheus scraping every process of it (the five services, the issuer,
# the web server and the gateway) and evaluating the alerting rules of
# deploy/monitoring/webtoon-rules.yaml, and Alertmanager receiving the
# alerts. Prints the URLs; Ctrl-C stops everything.
#
#   scripts/observability.sh              start it all
#   scripts/observability.sh render DIR   only write DIR/prometheus.yml and
#                                         DIR/alertmanager.yml (the tests
#                                         start both themselves)
#
# Settings, from the environment:
#   PROMETHEUS_PORT      9090   Prometheus on 127.0.0.1
#   ALERTMANAGER_PORT    9095   Alertmanager on 127.0.0.1 (not 9093: Kafka's
#                               controller of `make run-distributed` has it)
#   SCRAPE_INTERVAL      5s     how often every process is scraped
#   EVALUATION_INTERVAL  5s     how often the rules are evaluated
#   RULE_FILE            deploy/monitoring/webtoon-rules.yaml
#   WEBTOON_*_PORT, WEBTOON_REPLICAS, WEBTOON_AUTH_ISSUER, WEBTOON_DATA_DIR
#                               as `webtoon up` reads them, so that the
#                               targets are where the processes listen
set -eu
cd "$(dirname "$0")/.."
root=$PWD
prometheus_port=${PROMETHEUS_PORT:-9090}
alertmanager_port=${ALERTMANAGER_PORT:-9095}
scrape=${SCRAPE_INTERVAL:-5s}
evaluation=${EVALUATION_INTERVAL:-5s}
rules=${RULE_FILE:-$root/deploy/monitoring/webtoon-rules.yaml}
replicas=${WEBTOON_REPLICAS:-1}

# One static target per process, with the `service` label the rules and
# dashboards group by; replica r of a service listens on its port + 100 * r.
targets() {
  for name in pointer:8082 payment:8083 history:8084 webtoon:8085 purchase:8086 web:8087; do
    service=${name%%:*}
    var=$(echo "WEBTOON_${service}_PORT" | tr '[:lower:]' '[:upper:]')
    eval "port=\${$var:-${name#*:}}"
    r=0
    while [ "$r" -lt "$replicas" ]; do
      printf "      - targets: ['127.0.0.1:%s']\n        labels: {service: %s}\n" "$((port + 100 * r))" "$service"
      r=$((r + 1))
    done
  done
  if [ -z "${WEBTOON_AUTH_ISSUER:-}" ]; then
    printf "      - targets: ['127.0.0.1:%s']\n        labels: {service: auth}\n" "${WEBTOON_AUTH_PORT:-8089}"
  fi
  printf "      - targets: ['127.0.0.1:%s']\n        labels: {service: gateway}\n" "${WEBTOON_GATEWAY_PORT:-8088}"
}

render() {
  dir=$1
  mkdir -p "$dir"
  cat >"$dir/prometheus.yml" <<YAML
# Rendered by scripts/observability.sh; edits are overwritten.
global:
  scrape_interval: $scrape
  scrape_timeout: $scrape
  evaluation_interval: $evaluation
rule_files:
  - $rules
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$alertmanager_port']
scrape_configs:
  # Every process of the platform. The services label their series with
  # \`service\` themselves: honor_labels keeps that as it is.
  - job_name: webtoon
    honor_labels: true
    static_configs:
$(targets)
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$prometheus_port']
  - job_name: alertmanager
    static_configs:
      - targets: ['127.0.0.1:$alertmanager_port']
YAML
  cat >"$dir/alertmanager.yml" <<YAML
# Rendered by scripts/observability.sh. Alerts are grouped per alert and
# service and kept for the UI and the API; add a receiver (email, a
# webhook, a chat) to be told about them.
route:
  receiver: webtoon
  group_by: [alertname, service]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: webtoon
YAML
}

# Waits until <url> answers, at most <seconds>.
wait_ready() {
  i=0
  until curl -fs "$1" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt "$(($2 * 10))" ]; then
      return 1
    fi
    sleep 0.1
  done
}

port_taken() {
  ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

if [ "${1:-}" = render ]; then
  render "$2"
  exit 0
fi

data=${WEBTOON_DATA_DIR:-./var}
dir=$data/observability
for p in "$prometheus_port:PROMETHEUS_PORT" "$alertmanager_port:ALERTMANAGER_PORT"; do
  if port_taken "${p%%:*}"; then
    echo "observability: port ${p%%:*} is in use; set ${p#*:} to another port" \
         "(Debian's prometheus packages start system services on 9090 and 9093:" \
         "systemctl disable --now prometheus prometheus-alertmanager)" >&2
    exit 1
  fi
done
render "$dir"
pids=""
stop() {
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
  --web.listen-address="127.0.0.1:$prometheus_port" >"$dir/prometheus.log" 2>&1 &
pids="$pids $!"
prometheus-alertmanager --config.file="$dir/alertmanager.yml" --storage.path="$dir/alertmanager" \
  --web.listen-address="127.0.0.1:$alertmanager_port" --cluster.listen-address= \
  >"$dir/alertmanager.log" 2>&1 &
pids="$pids $!"
if ! wait_ready "http://127.0.0.1:$prometheus_port/-/ready" 30 ||
   ! wait_ready "http://127.0.0.1:$alertmanager_port/-/ready" 30; then
  echo "observability: Prometheus or Alertmanager did not start; see $dir/*.log" >&2
  exit 1
fi
cat >&2 <<TEXT

  prometheus    http://127.0.0.1:$prometheus_port   (targets: /targets, alerts: /alerts; log $dir/prometheus.log)
  alertmanager  http://127.0.0.1:$alertmanager_port   (log $dir/alertmanager.log)
  dashboards    deploy/monitoring/dashboards/*.json, for a Grafana with
                deploy/monitoring/grafana/provisioning (docs/OBSERVABILITY.md)

TEXT
demo=""
[ -e "$data/webtoon.db" ] || demo="--demo"
# Not exec: the trap above stops Prometheus and Alertmanager afterwards.
build/release/webtoon up $demo "$@"
