# Sourced, not run: what every bench/ script shares. Sourcing it
#   - makes a scratch directory ($bench_dir, removed at exit) and sets the
#     data directory inside it, so a run never touches ./var;
#   - moves every port `webtoon up` opens to BENCH_PORT_BASE (31000) plus
#     the default's last two digits (gateway 31088, pointer 31082, ...), so
#     a bench never meets `make run` or a test run, nor a client's port
#     (the kernel picks those from 32768 up); bench_port gives the
#     others (nginx, a bare HAProxy, the engines);
#   - raises the gateway's per-client limits, which a load generator on one
#     address would hit at once;
#   - stops, at exit (also on Ctrl-C), everything started with bench_up,
#     bench_engines or bench_track, and runs the bench_at_exit commands.
# Everything listens on 127.0.0.1. Every wait here has a deadline.
# shellcheck shell=sh

set -eu
bench_root=$(cd "$(dirname "$0")/.." && pwd)
bench_bin="$bench_root/build/release/webtoon"
bench_cache="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon/bench"
bench_dir=$(mktemp -d "${TMPDIR:-/tmp}/webtoon-bench.XXXXXX")
bench_pids=""
bench_exit_cmds=""
bench_up_pid=""
vegeta_version=12.13.0

say() { echo "bench: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# Ports: BENCH_PORT_BASE + n, n < 100.
bench_port_base=${BENCH_PORT_BASE:-31000}
bench_port() { echo $((bench_port_base + $1)); }
for _s in POINTER:82 PAYMENT:83 HISTORY:84 WEBTOON:85 PURCHASE:86 WEB:87 GATEWAY:88 AUTH:89; do
  export "WEBTOON_${_s%%:*}_PORT=$(bench_port "${_s##*:}")"
done
bench_gateway="http://127.0.0.1:$WEBTOON_GATEWAY_PORT"

# The embedded engines and the built-in issuer, whatever this shell had set
# (bench_engines sets the others).
unset WEBTOON_KAFKA_BROKERS WEBTOON_STORE_URL WEBTOON_HISTORY_REDIS_URL WEBTOON_EVENT_LOG \
  WEBTOON_PROVIDER_STORE_URL WEBTOON_AUTH_ISSUER WEBTOON_AUTH_JWKS_URL WEBTOON_AUTH_BUILTIN_URL
export WEBTOON_DATA_DIR="$bench_dir/var" WEBTOON_LISTEN_ADDR=127.0.0.1
export WEBTOON_LOG_LEVEL="${WEBTOON_LOG_LEVEL:-warn}" WEBTOON_DRAIN_DELAY_MS=0
export WEBTOON_GATEWAY_RATE_LIMIT=10000000 WEBTOON_GATEWAY_MAX_CONNECTIONS_PER_CLIENT=100000

# bench_track <pid>: stop this process at exit.
bench_track() { bench_pids="$1 $bench_pids"; }
# bench_at_exit <command>: run it (eval) at exit, latest first.
bench_at_exit() { bench_exit_cmds="$1; $bench_exit_cmds"; }

# bench_stop <pid>: SIGTERM, then after 30 s SIGKILL to it and to what it
# had started (which would otherwise outlive it).
bench_stop() {
  _tree=$(bench_descendants "$1")
  kill "$1" 2>/dev/null || return 0
  _i=0
  while kill -0 "$1" 2>/dev/null && [ $_i -lt 300 ]; do
    sleep 0.1
    _i=$((_i + 1))
  done
  if kill -0 "$1" 2>/dev/null; then
    say "process $1 ignored SIGTERM for 30 s: killed"
    # shellcheck disable=SC2086 # a list of pids
    kill -9 "$1" $_tree 2>/dev/null || true
  fi
  wait "$1" 2>/dev/null || true
}

bench_cleanup() {
  trap - EXIT INT TERM
  for _pid in $bench_pids; do bench_stop "$_pid"; done
  eval "$bench_exit_cmds" || true
  rm -rf "$bench_dir"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# bench_build: `make build` when the release binary is missing or older
# than the sources.
bench_build() {
  if [ -x "$bench_bin" ] && [ -z "$(find "$bench_root/src" "$bench_root/CMakeLists.txt" \
    -newer "$bench_bin" 2>/dev/null | head -n 1)" ]; then
    return 0
  fi
  say "building the release binary (make build)"
  make -C "$bench_root" build >"$bench_dir/build.log" 2>&1 || {
    tail -n 30 "$bench_dir/build.log" >&2
    die "make build failed"
  }
}

# bench_need <command> <debian package>: install it when missing.
bench_need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  # shellcheck source=scripts/lib/packages.sh
  . "$bench_root/scripts/lib/packages.sh"
  need_packages "$2"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# bench_wait <seconds> <what> <command...>: until the command succeeds, or
# fail after <seconds>.
bench_wait() {
  _deadline=$(($(now_ms) + $1 * 1000))
  _what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$_deadline" ] || die "timed out waiting for $_what"
    sleep 0.02
  done
}

healthy() { curl -sf --max-time 1 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; }
up_alive() { kill -0 "$bench_up_pid" 2>/dev/null || die "webtoon up exited: $(tail -n 20 "$bench_dir/up.log")"; }
up_healthy() { up_alive && healthy "$1"; }

# bench_up [args]: `webtoon up` in the background, waiting for every process
# to answer /healthz (60 s at most); bench_ready_ms is how long that took.
bench_up() {
  _start=$(now_ms)
  "$bench_bin" up "$@" >>"$bench_dir/up.log" 2>&1 &
  bench_up_pid=$!
  bench_track "$bench_up_pid"
  for _port in $WEBTOON_AUTH_PORT $WEBTOON_POINTER_PORT $WEBTOON_PAYMENT_PORT $WEBTOON_HISTORY_PORT \
    $WEBTOON_WEBTOON_PORT $WEBTOON_PURCHASE_PORT $WEBTOON_WEB_PORT $WEBTOON_GATEWAY_PORT; do
    bench_wait 60 "port $_port to be healthy" up_healthy "$_port"
  done
  # shellcheck disable=SC2034 # for the scripts
  bench_ready_ms=$(($(now_ms) - _start))
}

# bench_down: stop what bench_up started (the data stays, for the next up).
bench_down() {
  [ -n "$bench_up_pid" ] || return 0
  bench_stop "$bench_up_pid"
  bench_pids=$(echo "$bench_pids" | sed "s/\b$bench_up_pid\b//")
  bench_up_pid=""
}

# bench_descendants <pid>: every process under <pid>, parents first.
bench_descendants() {
  for _child in $(pgrep -P "$1" || true); do
    echo "$_child"
    bench_descendants "$_child"
  done
}

# bench_processes: "<pid> <name>" of `webtoon up` and everything under it:
# the services by target, HAProxy's master and worker.
bench_processes() {
  echo "$bench_up_pid up"
  for _pid in $(bench_descendants "$bench_up_pid"); do
    _name=$(tr '\0' ' ' <"/proc/$_pid/cmdline" | awk '{ n = $1; sub(".*/", "", n); print ($2 == "serve" ? $3 : n) }')
    if [ "$_name" = haproxy ]; then
      case $(tr '\0' ' ' <"/proc/$(ps -o ppid= -p "$_pid" | tr -d ' ')/cmdline") in
      haproxy*) _name="haproxy worker" ;;
      *) _name="haproxy master" ;;
      esac
    fi
    echo "$_pid $_name"
  done
}

# bench_cpu_ticks <pid>: user + system clock ticks the process used so far.
bench_cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# bench_system_cpu_ms: CPU milliseconds used so far by `webtoon up` and
# everything under it (a figure the machine's other load hardly moves).
bench_system_cpu_ms() {
  _ticks=0
  for _pid in $bench_up_pid $(bench_descendants "$bench_up_pid"); do
    _ticks=$((_ticks + $(bench_cpu_ticks "$_pid" 2>/dev/null || echo 0)))
  done
  echo $((_ticks * 1000 / $(getconf CLK_TCK)))
}

# bench_system_written_kib: KiB `webtoon up` and everything under it have
# sent to the disk so far (write_bytes of /proc/<pid>/io: WAL frames,
# checkpoints, logs). Unlike time, it hardly depends on the machine's load.
bench_system_written_kib() {
  _bytes=0
  for _pid in $bench_up_pid $(bench_descendants "$bench_up_pid"); do
    _b=$(sed -n 's/^write_bytes: //p' "/proc/$_pid/io" 2>/dev/null || true)
    _bytes=$((_bytes + ${_b:-0}))
  done
  echo $((_bytes / 1024))
}

# bench_token <user> [--admin]: a bearer token for an hour.
bench_token() { "$bench_bin" token "$@" --ttl 3600; }

# bench_tokens <file> <user>...: "<user> <token>" lines, appended to <file>.
bench_tokens() {
  _file=$1
  shift
  for _u in "$@"; do printf '%s %s\n' "$_u" "$(bench_token "$_u")"; done >>"$_file"
}

# bench_targets <tokens file>: vegeta's JSON targets from lines
# "METHOD URL USER [BODY]" on stdin (USER - for none; a body is JSON).
bench_targets() {
  python3 -c '
import base64, json, sys
tokens = dict(line.split() for line in open(sys.argv[1]))
for line in sys.stdin:
    method, url, user, *body = line.rstrip("\n").split(" ", 3)
    header = {} if user == "-" else {"Authorization": ["Bearer " + tokens[user]]}
    target = {"method": method, "url": url, "header": header}
    if body:
        header["Content-Type"] = ["application/json"]
        target["body"] = base64.b64encode(body[0].encode()).decode()
    print(json.dumps(target, separators=(",", ":")))
' "$1"
}

# bench_vegeta_build: vegeta (github.com/tsenart/vegeta), built once from the
# Go module proxy into $bench_cache/bin (scripts/lib/go-tools.sh); sets $vegeta.
bench_vegeta_build() {
  vegeta="$bench_cache/bin/vegeta"
  mkdir -p "$bench_cache"
  (
    exec 9>"$bench_cache/.lock"
    flock 9
    # shellcheck disable=SC2034 # read by go-tools.sh
    root=$bench_root bin="$bench_cache/bin" src="$bench_cache/src"
    # shellcheck source=scripts/lib/go-tools.sh
    . "$bench_root/scripts/lib/go-tools.sh"
    go_tool vegeta "$vegeta_version" "github.com/tsenart/vegeta/v12@v$vegeta_version"
  ) >&2
}

# bench_attack <results> <targets> <vegeta attack options...>: one attack,
# its results into <results>; the targets are read lazily, so the attack
# ends when they run out (or at -duration).
bench_attack() {
  _out=$1 _targets=$2
  shift 2
  "$vegeta" attack -lazy -format=json -targets="$_targets" -timeout=30s "$@" >"$_out"
}

# bench_stats <results>: "requests rate p50 p90 p99 max success codes bad"
# of an attack's results (rate in requests/s over the attack, latencies in
# ms, success in % of 2xx and 3xx, codes as code:count,... with 0 for no
# answer, bad the count of the others). The workers' tries after the targets ran out are not requests.
bench_stats() {
  "$vegeta" encode --to csv "$1" | python3 -c '
import collections, csv, sys
rows = [r for r in csv.reader(sys.stdin) if r[5] != "no targets to attack"]
if not rows:
    sys.exit("no requests")
lat = sorted(int(r[2]) for r in rows)
pct = lambda p: "%.1f" % (lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6)
start = min(int(r[0]) for r in rows)
end = max(int(r[0]) + int(r[2]) for r in rows)
codes = collections.Counter(int(r[1]) for r in rows)
ok = sum(n for c, n in codes.items() if 200 <= c < 400)
print(len(rows), "%.0f" % (len(rows) * 1e9 / max(1, end - start)), pct(0.5), pct(0.9), pct(0.99),
      pct(1.0), "%.1f" % (100 * ok / len(rows)), ",".join("%d:%d" % kv for kv in sorted(codes.items())),
      len(rows) - ok)
'
}

# bench_wrk <url> <seconds> <connections> [wrk options]: "req/s p50 p99
# bad" of wrk -t1 against <url> (latencies in ms; bad: answers other than
# 2xx/3xx, plus socket errors).
bench_wrk() {
  _url=$1 _secs=$2 _conns=$3
  shift 3
  wrk -t1 -c"$_conns" -d"${_secs}s" --timeout 10s --latency "$@" "$_url" | awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /s$/) return v * 1000
      return v / 1000
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { bad += $NF }
    /Socket errors:/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) bad += $i }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad }'
}

# bench_metric <port> <name> [label text]: the sum of the series of metric
# <name> at 127.0.0.1:<port>/metrics whose labels contain <label text>.
bench_metric() {
  curl -sf --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v n="$2{" -v l="${3:-}" 'index($0, n) == 1 && index($0, l) { s += $NF } END { printf "%d\n", s }'
}

# settled: every consumer group has committed every event.
settled() {
  "$bench_bin" events lag pointer payment history webtoon purchase 2>/dev/null |
    awk '{ s += $2 } END { exit NR < 5 || s > 0 }'
}
# bench_settle: wait until nothing is in flight (seen twice).
bench_settle() {
  bench_wait 120 "the consumers to catch up" settled
  sleep 0.2
  bench_wait 120 "the consumers to catch up" settled
}

# bench_api <method> <path> <user> [body]: one request through the gateway
# as <user> (an admin for "admin"), failing on anything but 2xx.
bench_api() {
  if [ "$3" = admin ]; then _t=$(bench_token bench-admin --admin); else _t=$(bench_token "$3"); fi
  curl -sf --max-time 10 -X "$1" -H "Authorization: Bearer $_t" -H 'Content-Type: application/json' \
    ${4:+-d "$4"} "$bench_gateway$2" >/dev/null || die "$1 $2 as $3 failed"
}

# bench_template_user <user>: a real user's life on the running system
# (needs --demo's catalog): joins, buys 1,000 points, buys niceguy, opens the
# free tower-1; then waits until every service has applied it. Its events
# in the log are the template bench_grow_log copies.
bench_template_user() {
  bench_api POST /pointers "$1" "{\"userId\":\"$1\"}"
  bench_api POST /payments "$1" "{\"userId\":\"$1\",\"point\":1000}"
  bench_settle
  bench_api POST /purchases "$1" "{\"userId\":\"$1\",\"webtoonId\":\"niceguy\"}"
  bench_api POST /webtoons/tower-1/open "$1" "{\"userId\":\"$1\"}"
  bench_settle
}

# bench_grow_log <count> <template user>: appends <count> events to the
# embedded event log, straight into its table (services stopped): copies
# of <template user>'s events, copy r for user gu<r>, with its own event,
# payment and purchase ids (the template's with the last UUID group
# replaced by r), so every copy is a distinct user the services would
# accept. The payloads are otherwise the services' own. Each user's events
# keep the template's order (no ORDER BY: a sort of 10M rows would cost
# more than the inserts); users may interleave, as they do in a real log.
bench_grow_log() {
  sqlite3 "$WEBTOON_DATA_DIR/events.db" <<EOF
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
CREATE TEMP TABLE tpl AS
  SELECT row_number() OVER (ORDER BY seq) - 1 AS i, event_id, topic, type, payload, appended_at,
         traceparent, coalesce(json_extract(payload, '\$.paymentId'), '') AS pay,
         coalesce(json_extract(payload, '\$.purchaseId'), '') AS pur
  FROM events WHERE key = '$2';
CREATE TEMP TABLE base AS
  SELECT (SELECT count(*) FROM tpl) AS m,
         (SELECT count(*) FROM events WHERE key GLOB 'gu[0-9]*') AS done;
BEGIN;
WITH RECURSIVE n(k) AS (SELECT (SELECT done FROM base) UNION ALL
                        SELECT k + 1 FROM n WHERE k + 1 < (SELECT done FROM base) + $1),
  c AS (SELECT tpl.*, k, k / (SELECT m FROM base) + 1 AS r FROM n JOIN tpl ON tpl.i = k % (SELECT m FROM base))
INSERT INTO events (event_id, topic, key, type, payload, appended_at, traceparent)
  SELECT substr(event_id, 1, 23) || printf('-%012d', r), topic, 'gu' || r, type,
         replace(replace(replace(replace(payload,
           event_id, substr(event_id, 1, 23) || printf('-%012d', r)),
           pay, substr(pay, 1, 23) || printf('-%012d', r)),
           pur, substr(pur, 1, 23) || printf('-%012d', r)),
           '"$2"', '"gu' || r || '"'),
         appended_at, traceparent
  FROM c;
COMMIT;
EOF
}

# bench_log_count: events in the embedded log.
bench_log_count() { sqlite3 "$WEBTOON_DATA_DIR/events.db" "SELECT count(*) FROM events"; }

# bench_skip_log: marks the whole log as consumed by every service (offsets,
# and the progress read-your-writes looks at), so a grown log is there
# without being replayed.
bench_skip_log() {
  _last=$(sqlite3 "$WEBTOON_DATA_DIR/events.db" "UPDATE consumer_offsets SET last_seq = (SELECT max(seq) FROM events);
    SELECT max(seq) FROM events;")
  for _s in pointer payment history webtoon purchase; do
    sqlite3 "$WEBTOON_DATA_DIR/$_s.db" "UPDATE consumer_progress SET applied = $_last"
  done
}

# bench_engines: Kafka, PostgreSQL and Redis on ports of this bench, their
# data in scratch directories, stopped and removed at exit; points
# `webtoon up` at them.
bench_engines() {
  export KAFKA_PORT
  KAFKA_PORT=$(bench_port 92) # and the controller on the next one
  export PG_PORT
  PG_PORT=$(bench_port 32)
  export REDIS_PORT
  REDIS_PORT=$(bench_port 79)
  # PostgreSQL runs as the postgres user when we are root: not under $bench_dir.
  export KAFKA_DATA="$bench_dir/kafka" PG_DIR="/tmp/webtoon-bench-pg-$PG_PORT" REDIS_DIR="$bench_dir/redis"
  bench_at_exit "'$bench_root/scripts/kafka.sh' stop >/dev/null 2>&1"
  bench_at_exit "'$bench_root/scripts/pg.sh' stop >/dev/null 2>&1; rm -rf '$PG_DIR'"
  bench_at_exit "'$bench_root/scripts/redis.sh' stop >/dev/null 2>&1"
  say "starting Kafka, PostgreSQL and Redis"
  "$bench_root/scripts/kafka.sh" start >&2
  "$bench_root/scripts/pg.sh" start >&2
  "$bench_root/scripts/redis.sh" start >&2
  export WEBTOON_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
  WEBTOON_STORE_URL=$("$bench_root/scripts/pg.sh" url)
  WEBTOON_HISTORY_REDIS_URL=$("$bench_root/scripts/redis.sh" url)
  export WEBTOON_STORE_URL WEBTOON_HISTORY_REDIS_URL
}

# bench_machine: the line that says where a figure comes from.
bench_machine() {
  _model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  _rev=$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$bench_root" diff --quiet HEAD -- src 2>/dev/null || _rev="$_rev+changes"
  echo "machine: cores=$(nproc) model=\"$_model\" kernel=$(uname -r)" \
    "date=$(date -u +%Y-%m-%dT%H:%M:%SZ) rev=$_rev load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
}

# bench_row <cell>...: one markdown table row; bench_table also prints the
# header's separator.
bench_row() {
  printf '|'
  for _c in "$@"; do printf ' %s |' "$_c"; done
  printf '\n'
}
bench_table() {
  bench_row "$@"
  printf '|'
  for _ in "$@"; do printf -- '---|'; done
  printf '\n'
}

# bench_per_s <count> <ms>: count per second.
bench_per_s() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.0f\n", (ms > 0 ? n * 1000 / ms : 0) }'; }
