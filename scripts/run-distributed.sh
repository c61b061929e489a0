#!/bin/sh
# `make run-distributed`: the whole system on the real engines, on this one
# machine: Apache Kafka (KRaft) for events, PostgreSQL with a database per
# service, Redis for the history view, Keycloak as the OpenID Connect
# issuer (realm webtoon), and an S3 server (SeaweedFS) holding the images
# in bucket webtoon-media, then `webtoon up` against them.
# The engines keep running after Ctrl-C (their data survives for the next
# run); `scripts/run-distributed.sh stop` stops them.
set -eu
cd "$(dirname "$0")/.."
export KAFKA_PORT=${KAFKA_PORT:-9092} PG_PORT=${PG_PORT:-5433} REDIS_PORT=${REDIS_PORT:-6380}
export PG_DIR=${PG_DIR:-"$PWD/.cache/pg-$PG_PORT"} REDIS_DIR=${REDIS_DIR:-"$PWD/.cache/redis-$REDIS_PORT"}
export KC_PORT=${KC_PORT:-8180} KC_MANAGEMENT_PORT=${KC_MANAGEMENT_PORT:-8181}
export KC_DATA=${KC_DATA:-"$PWD/.cache/keycloak/run-$KC_PORT"}
# S3 on 8333, its other ports 8330-8337 (clear of the services' replica ports).
export S3_PORT_BASE=${S3_PORT_BASE:-8330}
export S3_DIR=${S3_DIR:-"$PWD/.cache/s3-$((S3_PORT_BASE + 3))"}

if [ "${1:-}" = stop ]; then
  scripts/kafka.sh stop
  scripts/pg.sh stop
  scripts/redis.sh stop
  scripts/keycloak.sh stop
  scripts/s3.sh stop
  exit 0
fi

scripts/kafka.sh start
scripts/pg.sh start
scripts/redis.sh start
scripts/keycloak.sh start
scripts/s3.sh start

export WEBTOON_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
export WEBTOON_STORE_URL="postgres://postgres@127.0.0.1:$PG_PORT/webtoon_{service}"
export WEBTOON_HISTORY_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
# The services and the gateway take Keycloak's keys from its discovery document.
export WEBTOON_AUTH_ISSUER="http://127.0.0.1:$KC_PORT/realms/webtoon"
export WEBTOON_AUTH_CLI_SECRET_FILE="$KC_DATA/cli-client-secret"
# The endpoint and the keys scripts/s3.sh generated for its data directory.
eval "$(scripts/s3.sh env)"
export WEBTOON_BLOB_URL=s3://webtoon-media
export WEBTOON_DATA_DIR=${WEBTOON_DATA_DIR:-./var-distributed}
demo=""
[ -e "$WEBTOON_DATA_DIR/run/demo-loaded" ] || demo="--demo"
mkdir -p "$WEBTOON_DATA_DIR/run" && touch "$WEBTOON_DATA_DIR/run/demo-loaded"
echo "events: kafka 127.0.0.1:$KAFKA_PORT (topic webtoon.events)" >&2
echo "stores: postgresql 127.0.0.1:$PG_PORT (webtoon_<service>), history view: redis 127.0.0.1:$REDIS_PORT" >&2
echo "images: s3 $WEBTOON_S3_ENDPOINT, bucket webtoon-media (keys in $S3_DIR/keys)" >&2
echo "issuer: keycloak $WEBTOON_AUTH_ISSUER (sign up on its page; admin console http://127.0.0.1:$KC_PORT/admin/)" >&2
exec build/release/webtoon up $demo "$@"
