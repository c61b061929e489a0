/*
 * Configuration from environment variables (12-factor), so a Kubernetes
 * ConfigMap configures any process without rebuilding.
 *
 * CONFIG_MAP below is the one table of names, types, defaults, bounds and
 * descriptions; docs/CONFIG.md is generated from it (`webtoon config`).
 * config_load() validates everything at start and refuses bad values with a
 * message naming the variable, so a typo never surfaces later as odd
 * behaviour.
 */
#ifndef WEBTOON_CONFIG_H
#define WEBTOON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type { CONFIG_STR, CONFIG_INT, CONFIG_BOOL, CONFIG_LEVEL };

/* X(id, type, default, min, max, description); min/max bound INT values
 * and STR lengths. Names are "WEBTOON_" #id. */
#define CONFIG_MAP(X)                                                                              \
    X(DATA_DIR, CONFIG_STR, "./var", 1, 1024,                                                      \
      "Directory holding all state: databases, the event log, run files")                          \
    X(LISTEN_ADDR, CONFIG_STR, "127.0.0.1", 1, 64,                                                 \
      "Address services listen on (0.0.0.0 in containers)")                                        \
    X(PORT, CONFIG_INT, "0", 0, 65535,                                                             \
      "Port of `webtoon serve`; 0 means the service's own port below")                             \
    X(POINTER_PORT, CONFIG_INT, "8082", 1, 65535, "Port of the pointer service")                   \
    X(PAYMENT_PORT, CONFIG_INT, "8083", 1, 65535, "Port of the payment service")                   \
    X(HISTORY_PORT, CONFIG_INT, "8084", 1, 65535, "Port of the history service")                   \
    X(WEBTOON_PORT, CONFIG_INT, "8085", 1, 65535, "Port of the webtoon service")                   \
    X(PURCHASE_PORT, CONFIG_INT, "8086", 1, 65535, "Port of the purchase service")                 \
    X(WEB_PORT, CONFIG_INT, "8087", 1, 65535, "Port of the web frontend's static file server")     \
    X(GATEWAY_PORT, CONFIG_INT, "8088", 1, 65535, "Port of the gateway, the single entry point")   \
    X(REPLICAS, CONFIG_INT, "1", 1, 16,                                                            \
      "Processes per service under `webtoon up` (replica r listens on port + 100 * r)")            \
    X(UPSTREAM_HOST, CONFIG_STR, "127.0.0.1", 1, 253,                                              \
      "Where the gateway finds the services; {service} in it becomes the backend's name (e.g. "    \
      "webtoon-{service} for Kubernetes Services)")                                                \
    X(GATEWAY_RATE_LIMIT, CONFIG_INT, "1000", 1, 10000000,                                         \
      "Requests one client (IP address) may send through the gateway per 10 seconds")              \
    X(HAPROXY, CONFIG_STR, "haproxy", 1, 1024, "The HAProxy executable the gateway runs")          \
    X(WEB_ROOT, CONFIG_STR, "web/dist", 1, 1024,                                                   \
      "The built web frontend the web server serves (a placeholder page when absent)")             \
    X(HTTP_THREADS, CONFIG_INT, "0", 0, 64,                                                        \
      "Event-loop threads per service process; 0: one per usable CPU (affinity and cgroup quota)") \
    X(HTTP_MAX_BODY, CONFIG_INT, "65536", 1024, 16777216, "Largest accepted request body, bytes")  \
    X(HTTP_TIMEOUT_MS, CONFIG_INT, "10000", 100, 600000,                                           \
      "Connection timeout: slow request or idle keep-alive, milliseconds")                         \
    X(MEDIA_KEY, CONFIG_STR, "", 0, 128,                                                           \
      "Secret (hex, 32 bytes or more) the webtoon service signs page-image access with; every "    \
      "replica needs the same one (`webtoon up` makes one per run); empty: each process makes "    \
      "its own at start")                                                                          \
    X(IMAGE_MAX_BYTES, CONFIG_INT, "20971520", 1024, 268435456,                                    \
      "Largest cover or page image the webtoon service accepts, bytes")                            \
    X(IMAGE_MAX_PIXELS, CONFIG_INT, "50000000", 1, 1000000000,                                     \
      "Most pixels (width x height) of a cover or page image")                                     \
    X(CLOCK_FILE, CONFIG_STR, "", 0, 1024,                                                         \
      "For tests: a file holding the milliseconds since the epoch that business rules (free "      \
      "from a date, new episodes) take as now; empty means the wall clock")                        \
    X(HTTP_CACHE_ENTRIES, CONFIG_INT, "1024", 0, 1000000,                                          \
      "Responses the read cache of a service process keeps (catalog pages and items), split "      \
      "among its event-loop threads; 0 turns the cache off")                                       \
    X(HTTP_CACHE_BYTES, CONFIG_INT, "4194304", 0, 1073741824,                                      \
      "Bytes the read cache of a service process holds at most, split among its event-loop "       \
      "threads; 0 turns the cache off")                                                            \
    X(HTTP_OFFLOAD_THREADS, CONFIG_INT, "1", 0, 64,                                                \
      "Threads of a service process for blocking work requests hand off the event loop (image "    \
      "processing, object storage, payment provider calls); 0: none, and such requests are "       \
      "refused (a charge then calls its provider on the loop)")                                    \
    X(DRAIN_DELAY_MS, CONFIG_INT, "0", 0, 600000,                                                  \
      "On SIGTERM, how long /readyz reports 503 before the listener closes")                       \
    X(DRAIN_TIMEOUT_MS, CONFIG_INT, "10000", 100, 600000,                                          \
      "On SIGTERM, how long to wait for in-flight work before exiting anyway")                     \
    X(LOG_LEVEL, CONFIG_LEVEL, "info", 0, 0, "Lowest level logged: debug, info, warn or error")    \
    X(OTLP_ENDPOINT, CONFIG_STR, "", 0, 1024,                                                      \
      "OpenTelemetry collector for trace spans, an OTLP/HTTP base URL (e.g. "                      \
      "http://127.0.0.1:4318): each process POSTs its spans as JSON to <endpoint>/v1/traces; "     \
      "empty means no export (trace ids are still propagated and logged)")                         \
    X(LOKI_URL, CONFIG_STR, "", 0, 1024,                                                           \
      "`webtoon up` pushes every process's log lines to this Loki push URL as well as printing "   \
      "them (e.g. http://127.0.0.1:3100/loki/api/v1/push, or VictoriaLogs' "                       \
      "http://127.0.0.1:9428/insert/loki/api/v1/push?_msg_field=msg); empty means off")            \
    X(LOKI_BUFFER_LINES, CONFIG_INT, "10000", 10, 1000000,                                         \
      "Log lines `webtoon up` keeps for the push URL while it is slow or down (at most 16 MiB); "  \
      "beyond that the oldest are dropped and counted in a warn line (droppedLines)")              \
    X(STORE_URL, CONFIG_STR, "", 0, 1024,                                                          \
      "Write store: sqlite:<path> or postgres://host:port/db; {service} in it becomes the "        \
      "service name (database per service); empty means sqlite:<DATA_DIR>/<service>.db")           \
    X(STORE_COALESCE_WAL, CONFIG_BOOL, "false", 0, 0,                                              \
      "SQLite stores write each transaction's log frames in one write instead of two a frame "     \
      "(a VFS of our own; durability is unchanged)")                                               \
    X(EVENT_LOG, CONFIG_STR, "", 0, 1024,                                                          \
      "Embedded event log file; empty means <DATA_DIR>/events.db")                                 \
    X(TOPIC, CONFIG_STR, "webtoon.events", 1, 200, "Topic carrying all domain events")             \
    X(KAFKA_BROKERS, CONFIG_STR, "", 0, 1024,                                                      \
      "Kafka bootstrap servers (host:port,...); empty means the embedded event log")               \
    X(TOPIC_PARTITIONS, CONFIG_INT, "6", 1, 10000,                                                 \
      "Partitions of the topic when the service creates it on Kafka")                              \
    X(HISTORY_REDIS_URL, CONFIG_STR, "", 0, 1024,                                                  \
      "Keep the history view in Redis, shared by all history replicas: one server "                \
      "(redis://host:port[/db]) or a Redis Cluster (redis+cluster://host:port,host:port,...: "     \
      "any of its nodes); empty means in the history service's own store")                         \
    X(REDIS_PREFIX, CONFIG_STR, "webtoon:", 1, 100, "Prefix of every Redis key the system writes") \
    X(BLOB_URL, CONFIG_STR, "", 0, 1024,                                                           \
      "Where images (and other blobs) live: file:///abs/dir, or s3://<bucket> on the "             \
      "S3-compatible server of WEBTOON_S3_ENDPOINT (created when missing); empty means the "       \
      "directory <DATA_DIR>/blobs")                                                                \
    X(S3_ENDPOINT, CONFIG_STR, "", 0, 1024,                                                        \
      "Base URL of the S3-compatible server of an s3:// WEBTOON_BLOB_URL, e.g. "                   \
      "http://127.0.0.1:18333 (path-style requests: <endpoint>/<bucket>/<key>)")                   \
    X(S3_REGION, CONFIG_STR, "us-east-1", 1, 40, "Region S3 requests are signed for (SigV4)")      \
    X(S3_ACCESS_KEY, CONFIG_STR, "", 0, 256, "Access key id S3 requests are signed with")          \
    X(S3_SECRET_KEY, CONFIG_STR, "", 0, 256,                                                       \
      "Secret key S3 requests are signed with: a secret, never logged (in Kubernetes, from a "     \
      "Secret)")                                                                                   \
    X(S3_TIMEOUT_MS, CONFIG_INT, "10000", 100, 600000,                                             \
      "Longest one S3 request may take, connecting included (at most 2 s of it); then the "        \
      "request fails as unavailable")                                                              \
    X(OUTBOX_RETENTION_MS, CONFIG_INT, "86400000", 0, 31536000000,                                 \
      "How long sent outbox rows are kept before purging")                                         \
    X(INBOX_RETENTION_MS, CONFIG_INT, "604800000", 60000, 31536000000,                             \
      "How long ids of handled events are kept (must exceed any redelivery window)")               \
    X(POLL_INTERVAL_MS, CONFIG_INT, "1000", 10, 60000,                                             \
      "Fallback poll of outbox and event log when no wake-up arrives")                             \
    X(RETRY_MAX_MS, CONFIG_INT, "5000", 10, 600000,                                                \
      "Longest back-off between retries of a failed publish or event handler")                     \
    X(PRICE_PER_POINT, CONFIG_INT, "100", 1, 1000000,                                              \
      "Money (smallest currency unit) paid per point when charging")                               \
    X(RELAY_PAUSED, CONFIG_BOOL, "false", 0, 0,                                                    \
      "Testing only: keep the outbox relay from publishing")                                       \
    X(FAULT_CONSUMER_KILL_AFTER, CONFIG_INT, "0", 0, 1000000,                                      \
      "Testing only: SIGKILL the process after handling this many events, before their offset "    \
      "commit (0: off)")                                                                           \
    X(PUBLISH_WAIT_MS, CONFIG_INT, "2000", 0, 60000,                                               \
      "A command answers once its events are on the bus, waiting at most this long (not at all "   \
      "while the relay cannot publish)")                                                           \
    X(CATCHUP_WAIT_MS, CONFIG_INT, "2000", 0, 60000,                                               \
      "A request naming a user or webtoon not seen yet waits at most this long for the events "    \
      "published before it, then gets 503 with Retry-After")                                       \
    X(CONSUMER_STALL_MS, CONFIG_INT, "30000", 100, 86400000,                                       \
      "An event consumer that applies nothing this long while events wait is reported stalled")    \
    X(SWEEP_INTERVAL_MS, CONFIG_INT, "1000", 10, 600000,                                           \
      "How often a service looks for sagas past their deadline and payments to reconcile")         \
    X(PURCHASE_DEADLINE_MS, CONFIG_INT, "60000", 100, 86400000,                                    \
      "A purchase still pending this long is rejected and any points taken come back")             \
    X(CANCEL_DEADLINE_MS, CONFIG_INT, "60000", 100, 86400000,                                      \
      "A cancellation unconfirmed this long fails and the purchase stays approved")                \
    X(REFUND_DEADLINE_MS, CONFIG_INT, "60000", 100, 86400000,                                      \
      "A refund unconfirmed this long fails and the payment stays approved")                       \
    X(PAYMENT_RECONCILE_MS, CONFIG_INT, "5000", 100, 86400000,                                     \
      "A payment still pending this long (its process died mid-charge) is settled by asking the "  \
      "payment provider")                                                                          \
    X(LEDGER_CHECK_INTERVAL_MS, CONFIG_INT, "60000", 100, 86400000,                                \
      "How often the pointer service checks that every balance equals the sum of its ledger "      \
      "(webtoon_ledger_violations)")                                                               \
    X(PROVIDER_STORE_URL, CONFIG_STR, "", 0, 1024,                                                 \
      "The simulated payment provider's ledger (a store URL); empty means "                        \
      "sqlite:<DATA_DIR>/provider.db")                                                             \
    X(FAULT_PAYMENT_CRASH, CONFIG_STR, "", 0, 32,                                                  \
      "Testing only: SIGKILL the payment service around a charge: before-charge or after-charge")  \
    X(GATEWAY_MAX_CONNECTIONS_PER_CLIENT, CONFIG_INT, "100", 1, 100000,                            \
      "Connections one client (IP address) may have open to the gateway at once; requests on "     \
      "more get 429")                                                                              \
    X(AUTH_PORT, CONFIG_INT, "8089", 1, 65535,                                                     \
      "Port of the built-in OpenID Connect issuer (webtoon serve auth)")                           \
    X(AUTH_ISSUER, CONFIG_STR, "", 0, 1024,                                                        \
      "Issuer URL every token must carry (iss), e.g. a Keycloak realm; empty means the built-in "  \
      "issuer at WEBTOON_AUTH_BUILTIN_URL")                                                        \
    X(AUTH_BUILTIN_URL, CONFIG_STR, "", 0, 1024,                                                   \
      "The built-in issuer's own URL, the iss of its tokens (in a cluster, its Service's URL); "   \
      "empty means http://127.0.0.1:<AUTH_PORT>")                                                  \
    X(AUTH_JWKS_URL, CONFIG_STR, "", 0, 1024,                                                      \
      "Where the services and the gateway fetch the issuer's public keys (http: or file:); empty " \
      "means file:<DATA_DIR>/auth/jwks.json for the built-in issuer, else the issuer's discovery " \
      "document")                                                                                  \
    X(AUTH_AUDIENCE, CONFIG_STR, "webtoon-api", 1, 200,                                            \
      "Audience every token must name (aud): the API")                                             \
    X(AUTH_WEB_CLIENT, CONFIG_STR, "webtoon-web", 1, 200,                                          \
      "Client id of the web app, a public client (authorization code + PKCE)")                     \
    X(AUTH_CLI_CLIENT, CONFIG_STR, "webtoon-cli", 1, 200,                                          \
      "Client id of the confidential client for scripts, tests and operators")                     \
    X(AUTH_CLI_SECRET_FILE, CONFIG_STR, "", 0, 1024,                                               \
      "File holding that client's secret (generated at first start, never committed); empty "      \
      "means <DATA_DIR>/auth/cli-client-secret")                                                   \
    X(AUTH_TOKEN_TTL_S, CONFIG_INT, "300", 10, 86400,                                              \
      "Lifetime of access tokens the built-in issuer signs, seconds")                              \
    X(AUTH_REFRESH_TTL_S, CONFIG_INT, "28800", 60, 2592000,                                        \
      "Lifetime of the built-in issuer's refresh tokens, seconds")                                 \
    X(AUTH_SIGNIN_RATE, CONFIG_INT, "10", 1, 100000,                                               \
      "Failed sign-ins per minute the built-in issuer accepts per account and per client "         \
      "address before answering 429")                                                              \
    X(AUTH_REDIRECT_URIS, CONFIG_STR, "", 0, 4096,                                                 \
      "Comma-separated redirect URIs the built-in issuer accepts for the web client; empty means " \
      "http://127.0.0.1:<GATEWAY_PORT>/callback and http://localhost:<GATEWAY_PORT>/callback")     \
    X(AUTH_JWKS_REFRESH_MS, CONFIG_INT, "30000", 100, 86400000,                                    \
      "How often the gateway re-reads the issuer's keys (a service re-reads them at once when a "  \
      "token names a key it does not know)")

enum config_id {
#define CONFIG__ENUM(id, type, def, min, max, desc) CONFIG_##id,
    CONFIG_MAP(CONFIG__ENUM)
#undef CONFIG__ENUM
        CONFIG__COUNT
};

enum config_level { CONFIG_LEVEL_DEBUG, CONFIG_LEVEL_INFO, CONFIG_LEVEL_WARN, CONFIG_LEVEL_ERROR };

struct config {
    char *str[CONFIG__COUNT];   /* owned copies for STR entries, NULL otherwise */
    int64_t num[CONFIG__COUNT]; /* INT, BOOL (0/1) and LEVEL values */
};

/*
 * Fills <cfg> from the environment (unset or empty variables take their
 * default). On a bad value returns RC_CONFIG and writes a one-line reason
 * naming the variable into <err> (<errlen> bytes). Free with config_cleanup.
 */
int config_load(struct config *cfg, char *err, size_t errlen);
void config_cleanup(struct config *cfg);

/* Borrowed string value of a STR entry, valid until config_cleanup. */
const char *config_str(const struct config *cfg, enum config_id id);
int64_t config_int(const struct config *cfg, enum config_id id);
bool config_bool(const struct config *cfg, enum config_id id);

/* Writes STR entry <id> into <out> (<len> bytes, truncated if longer) with
 * every "{service}" replaced by <service>: one setting names something per
 * service (webtoon_{service}, webtoon-{service}). */
void config_str_for(const struct config *cfg, enum config_id id, const char *service, char *out,
                    size_t len);

/* Environment variable name of <id> ("WEBTOON_DATA_DIR"). */
const char *config_name(enum config_id id);

/* Writes the documented table (markdown) of every variable to <out>. */
void config_write_markdown(FILE *out);

#endif
