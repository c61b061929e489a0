#!/bin/sh
# A real S3-compatible server for development and tests: SeaweedFS (`weed
# server`: master, volume server, filer and S3 gateway in one process),
# built once from the Go module proxy into
# ${XDG_CACHE_HOME:-~/.cache}/webtoon/s3/bin, every listener on 127.0.0.1
# (or S3_HOST), requests signed with SigV4 against keys generated at the
# first start of a state directory. Its telemetry is off. Holds the blobs
# (images) when WEBTOON_BLOB_URL=s3://<bucket> points at it.
#
#   scripts/s3.sh build    build weed when missing (idempotent, locked), print its path
#   scripts/s3.sh start    build, start it (idempotent), wait until a signed request works
#   scripts/s3.sh stop     stop it
#   scripts/s3.sh status   "running ..." and exit 0, or "stopped" and exit 1
#   scripts/s3.sh url      the WEBTOON_S3_ENDPOINT that uses it
#   scripts/s3.sh env      shell settings: WEBTOON_S3_ENDPOINT, _REGION, _ACCESS_KEY, _SECRET_KEY
#
# Settings (environment):
#   S3_HOST=127.0.0.1   address every listener binds
#   S3_PORT_BASE=18330  first of the eight ports it uses: master base, volume
#                       base+1, filer base+2, S3 base+3, and their gRPC ports
#                       base+4 to base+7
#   S3_PORT=base+3      the S3 port alone
#   S3_DIR=DIR          data, keys, pid and log (default /tmp/webtoon-s3-<S3 port>)
#
# SeaweedFS is Apache-2.0; the pin below is the Go module proxy's pseudo-version
# (commit 7506e5f91cd6 of 2026-11-09), weed 4.53. Build (-trimpath, -s -w: a
# 164 MB binary): 8 minutes here the first time, module downloads included,
# with a Go build cache already warm from the cluster toolchain; 16.5 minutes
# from an empty build cache, at nice 19 on two cores other work kept busy.
# Start takes 2 to 5 s, a restart with data about 17 s (the master refuses
# writes for 15 s after it takes over).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
host=${S3_HOST:-127.0.0.1}
base=${S3_PORT_BASE:-18330}
port=${S3_PORT:-$((base + 3))}
dir=${S3_DIR:-"/tmp/webtoon-s3-$port"}
region=us-east-1
weed_version=v0.0.0-20261109003541-7506e5f91cd6
tools="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon/s3"
weed="$tools/bin/weed"
pidfile="$dir/weed.pid"
# The hash of an empty body, which S3 wants named in signed requests.
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
access_key="" secret_key="" # from $dir/keys

say() { echo "s3: $*" >&2; }

# One build at a time: `make test` starts one in the background and the
# CTest fixture runs start, which waits here and then finds it built.
build() {
  mkdir -p "$tools"
  # A subshell: go-tools.sh sets variables of its own ($dir among them).
  (
    exec 9>"$tools/.lock"
    flock 9
    # shellcheck disable=SC2034 # bin and src are go-tools.sh's inputs
    bin="$tools/bin" src="$tools/src"
    # $go, the Go environment (caches shared with the cluster toolchain), go_tool.
    # shellcheck source=scripts/lib/go-tools.sh
    . "$root/scripts/lib/go-tools.sh"
    # -trimpath and -s -w (go_tool): smaller binary, no local paths in it.
    export GOFLAGS="$GOFLAGS -trimpath"
    go_tool weed "$weed_version" "github.com/seaweedfs/seaweedfs/weed@$weed_version"
  )
}

is_running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# Ready for objects: a signed ListBuckets with the generated keys answers
# 200, and the master hands out a file id, which it does once it leads,
# the volume server has registered and (after a restart with data) its
# 15-second warm-up is over. The id is only reserved, nothing is written.
answers() {
  [ -f "$dir/keys" ] || return 1
  # shellcheck source=/dev/null
  . "$dir/keys"
  curl -fsS -o /dev/null --max-time 2 --aws-sigv4 "aws:amz:$region:s3" \
    --user "$access_key:$secret_key" -H "x-amz-content-sha256: $empty_sha256" \
    "http://$host:$port/" 2>/dev/null &&
    curl -fsS --max-time 2 "http://$host:$base/dir/assign" 2>/dev/null | grep -q '"fid"'
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# The keys of this state directory, made at its first start, and the
# SeaweedFS identity file that grants them every S3 action.
write_keys() {
  if [ ! -f "$dir/keys" ]; then
    umask 077
    printf 'access_key=%s\nsecret_key=%s\n' "WT$(random_hex 9 | tr a-f A-F)" "$(random_hex 20)" \
      >"$dir/keys.part"
    mv "$dir/keys.part" "$dir/keys"
  fi
  # shellcheck source=/dev/null
  . "$dir/keys"
  umask 077
  cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "webtoon",
  "credentials": [{"accessKey": "$access_key", "secretKey": "$secret_key"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
}

start() {
  if is_running; then
    say "already running on $host:$port (pid $(cat "$pidfile"))"
    return 0
  fi
  build >/dev/null
  mkdir -p "$dir/data"
  write_keys
  # Every listener on $host and a port of our own; no WebDAV, SFTP, IAM,
  # message queue, Iceberg or Lance listeners; no telemetry. Small volumes,
  # one more at a time per bucket (not seven), so many test buckets fit; a
  # short election, so a restarted master leads again within seconds.
  WEED_MASTER_VOLUME_GROWTH_COPY_1=1 setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" \
    "$weed" server -ip="$host" -ip.bind="$host" -dir="$dir/data" \
    -master.port="$base" -master.port.grpc=$((base + 4)) -master.telemetry=false \
    -master.electionTimeout=1s -master.volumeSizeLimitMB=64 -volume.max=1000 \
    -volume.port=$((base + 1)) -volume.port.grpc=$((base + 5)) -volume.preStopSeconds=0 \
    -filer -filer.port=$((base + 2)) -filer.port.grpc=$((base + 6)) \
    -s3 -s3.port="$port" -s3.port.grpc=$((base + 7)) -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$dir/s3.json" >>"$dir/weed.log" 2>&1 </dev/null &
  i=0
  until answers; do
    i=$((i + 1))
    if [ $i -gt 600 ] || { [ $i -gt 5 ] && ! is_running; }; then
      say "did not start; the end of $dir/weed.log:"
      tail -n 30 "$dir/weed.log" >&2
      stop
      exit 1
    fi
    sleep 0.1
  done
  say "running on $host:$port (pid $(cat "$pidfile"), data in $dir)"
}

stop() {
  if ! is_running; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill "$pid"
  # The volume server stops at once; the filer then sometimes waits 15 s
  # for its metadata subscription. Its store is on disk by then, and a
  # killed process loses nothing written, so 5 s is enough.
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -eq 50 ] && kill -9 "$pid" 2>/dev/null
    sleep 0.1
  done
  # Its Unix sockets have fixed names under /tmp (named by our ports); a
  # killed weed leaves them behind.
  rm -f "/tmp/seaweedfs-filer-$((base + 2)).sock" "/tmp/seaweedfs-s3-$port.sock" \
    "/tmp/seaweedfs-master-grpc-$((base + 4)).sock" "/tmp/seaweedfs-volume-grpc-$((base + 5)).sock" \
    "/tmp/seaweedfs-filer-grpc-$((base + 6)).sock" "/tmp/seaweedfs-s3-grpc-$((base + 7)).sock"
  rm -f "$pidfile"
  say "stopped"
}

case "${1:-}" in
build)
  build
  echo "$weed"
  ;;
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
url)
  echo "http://$host:$port"
  ;;
env)
  [ -f "$dir/keys" ] || { say "no keys yet in $dir (run: $0 start)"; exit 1; }
  # shellcheck source=/dev/null
  . "$dir/keys"
  echo "WEBTOON_S3_ENDPOINT=http://$host:$port; export WEBTOON_S3_ENDPOINT"
  echo "WEBTOON_S3_REGION=$region; export WEBTOON_S3_REGION"
  echo "WEBTOON_S3_ACCESS_KEY=$access_key; export WEBTOON_S3_ACCESS_KEY"
  echo "WEBTOON_S3_SECRET_KEY=$secret_key; export WEBTOON_S3_SECRET_KEY"
  ;;
*)
  echo "usage: $0 build|start|stop|status|url|env" >&2
  exit 2
  ;;
esac
