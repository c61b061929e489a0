#!/bin/sh
# A single-node Apache Kafka broker for development and tests: KRaft mode
# (broker and controller in one JVM, no ZooKeeper), listening on 127.0.0.1
# (or KAFKA_HOST) only. The broker's jars come from Maven Central
# (scripts/kafka/pom.xml) into .cache/kafka/<version>/ (gitignored); nothing
# is built.
#
#   scripts/kafka.sh fetch     install Java and Maven if missing, download the jars
#   scripts/kafka.sh start     fetch, format the storage once, start, wait until it answers
#   scripts/kafka.sh stop      stop it (controlled shutdown, SIGKILL after 30 s)
#   scripts/kafka.sh status    "running ..." and exit 0, or "stopped" and exit 1
#   scripts/kafka.sh tail T    read topic T from the start with kcat (Ctrl-C ends)
#
# Settings (environment):
#   KAFKA_HOST=127.0.0.1   address it listens on and advertises (the local
#                          cluster's pods use the node address 10.245.255.1)
#   KAFKA_PORT=19092       client port; the controller listens on KAFKA_PORT + 1
#   KAFKA_DATA=DIR         logs, pid file and settings (default .cache/kafka/run-<port>)
#   KAFKA_VERSION=4.1.1    broker version (org.apache.kafka:kafka_2.13)
#   KAFKA_HEAP=384m        JVM heap
#
# Why 4.1.1: a current 4.x release (4.0 to 4.4 are served), whose broker
# starts in about two seconds. Kafka 4 dropped old protocol versions
# (KIP-896); Debian's librdkafka 2.0.2 negotiates newer ones for everything
# we use (idempotent produce, consumer groups, offsets, topic creation), as
# tests/unit/bus/test_bus_kafka.c and the distributed integration suite show
# against this broker, so the 3.9 line is not needed.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

version=${KAFKA_VERSION:-4.1.1}
host=${KAFKA_HOST:-127.0.0.1}
port=${KAFKA_PORT:-19092}
controller_port=$((port + 1))
home="$root/.cache/kafka/$version"
data=${KAFKA_DATA:-"$root/.cache/kafka/run-$port"}
heap=${KAFKA_HEAP:-384m}
pidfile="$data/broker.pid"

say() { echo "kafka: $*" >&2; }

. scripts/lib/packages.sh

fetch() {
  command -v java >/dev/null 2>&1 || need_packages default-jre-headless
  command -v mvn >/dev/null 2>&1 || need_packages maven
  [ -f "$home/.complete" ] && return 0
  say "downloading Kafka $version and its dependencies into $home"
  rm -rf "$home"
  mkdir -p "$home"
  if ! mvn -q -B -f scripts/kafka/pom.xml dependency:copy-dependencies \
    -Dkafka.version="$version" -DincludeScope=runtime -DoutputDirectory="$home/libs" \
    >"$home/fetch.log" 2>&1; then
    cat "$home/fetch.log" >&2
    exit 1
  fi
  touch "$home/.complete"
}

is_running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# True once the broker answers a metadata request.
answers() {
  if command -v kcat >/dev/null 2>&1; then
    kcat -b "$host:$port" -L -m 2 >/dev/null 2>&1
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

write_settings() {
  mkdir -p "$data/logs"
  cat >"$data/server.properties" <<EOF
# Written by scripts/kafka.sh: one node, broker and controller, on $host only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$host:$controller_port
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data/logs
# The services create their topic with the partitions they want.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A consumer group forms at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
log.retention.hours=168
EOF
  cat >"$data/log4j2.properties" <<EOF
# Written by scripts/kafka.sh: warnings and errors to broker.log.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = OUT
EOF
}

java_run() {
  java -Xmx"$heap" -Xms64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$home/libs/*" "$@"
}

# Waits until the broker answers; fails with its log when it dies or hangs.
wait_answers() {
  i=0
  while ! answers; do
    i=$((i + 1))
    if [ $i -gt 600 ] || { [ -f "$pidfile" ] && ! is_running; }; then
      say "broker did not start; the end of $data/broker.log:"
      tail -n 30 "$data/broker.log" >&2
      exit 1
    fi
    sleep 0.1
  done
}

start() {
  if is_running; then
    wait_answers
    say "already running on $host:$port"
    return 0
  fi
  fetch
  write_settings
  if [ ! -f "$data/logs/meta.properties" ]; then
    cluster=$(java_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    java_run kafka.tools.StorageTool format -t "$cluster" -c "$data/server.properties" >"$data/format.log" 2>&1 ||
      { cat "$data/format.log" >&2; exit 1; }
  fi
  # setsid: the broker outlives this script and the test run's process group.
  setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" \
    java -Xmx"$heap" -Xms64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$home/libs/*" \
    kafka.Kafka "$data/server.properties" >>"$data/broker.log" 2>&1 </dev/null &
  sleep 0.2 # the pid file appears
  wait_answers
  sleep 0.5
  if ! is_running; then
    say "port $port answers, but not our broker; the end of $data/broker.log:"
    tail -n 10 "$data/broker.log" >&2
    exit 1
  fi
  say "running on $host:$port (pid $(cat "$pidfile"), data in $data)"
}

stop() {
  if ! is_running; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -eq 300 ] && kill -9 "$pid" 2>/dev/null
    sleep 0.1
  done
  rm -f "$pidfile"
  say "stopped"
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
stop) stop ;;
status)
  if is_running && answers; then
    echo "running on $host:$port (pid $(cat "$pidfile"))"
  else
    echo "stopped"
    exit 1
  fi
  ;;
tail)
  # How to read the event stream without webtoon: key, the type and id
  # headers, and the JSON payload of every event.
  [ $# -eq 2 ] || { echo "usage: $0 tail <topic>" >&2; exit 2; }
  exec kcat -b "$host:$port" -C -t "$2" -o beginning -f 'partition=%p offset=%o key=%k %h\t%s\n'
  ;;
*)
  sed -n '2,/^set -eu/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
