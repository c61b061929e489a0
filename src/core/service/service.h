/*
 * Running one service process: the glue every service shares. A service is
 * described by a service_def (name, port, schema, routes, event handlers,
 * a periodic sweep); service_run opens its database and applies
 * migrations, starts the outbox relay, the event consumer, the sweeper and
 * the HTTP server, then waits for SIGTERM or SIGINT and drains in order:
 * readiness red, listener closed after the drain delay, in-flight requests
 * finished, consumer and sweeper stopped, outbox flushed, trace spans
 * flushed (when WEBTOON_OTLP_ENDPOINT is set; at most
 * TRACE_STOP_DEFAULT_MS), exit 0.
 *
 * Readiness (/readyz) means this process can serve requests: its store
 * answers (commands need nothing else: their events wait in the outbox).
 * How the relay, the bus and the consumer are doing shows in the answer's
 * `checks`, in metrics and logs, but does not take the process out of
 * rotation.
 *
 * Read-your-writes across services: a command answers only once the relay
 * has published the events it committed (bounded by
 * WEBTOON_PUBLISH_WAIT_MS, and not at all while the relay is failing), and
 * a request naming a user or webtoon this service has not seen yet waits,
 * parked, until the consumer has applied the log up to where it ended when
 * the request arrived (bounded by WEBTOON_CATCHUP_WAIT_MS), then decides:
 * 404 only for ids that really do not exist, 503 catching-up with
 * Retry-After when the wait ran out.
 */
#ifndef WEBTOON_SERVICE_H
#define WEBTOON_SERVICE_H

#include "core/auth/policy.h"
#include "core/auth/verify.h"
#include "core/config/config.h"
#include "core/http/http.h"
#include "core/inbox/inbox.h"
#include "core/store/store.h"

/* One independently versioned part of a service's schema. */
struct service_schema {
    const char *component; /* recorded in schema_migrations */
    const struct store_migration *steps;
    size_t nsteps;
};

/* A service. The three lists end with an all-zero entry, so that each can
 * be defined in the file that owns it. */
struct service_ctx;

struct service_def {
    const char *name;                     /* "pointer": logs, metrics, consumer group */
    enum config_id port_setting;          /* CONFIG_POINTER_PORT */
    const struct service_schema *schemas; /* its tables and views */
    const struct http_route *routes;      /* its API */
    const struct inbox_handler *handlers; /* the events it consumes; NULL: none */
    bool stateless;                       /* no database, outbox or events (web) */
    bool no_events; /* a database, but no outbox relay and no bus: publishes and consumes
                     * nothing (auth); <handlers> must be NULL */
    /* Its routes authenticate callers themselves (the built-in issuer);
     * every other service's routes follow <access_rules>, which must have
     * one for each (service_run refuses to start otherwise). */
    bool open_access;
    const struct auth_route_rule *access_rules; /* ends with an all-zero entry */
    const char *static_root;                    /* directory served for unmatched GETs */
    /* Optional per-thread extras beyond the store and bus (a Redis
     * connection, say), kept in service_ctx.ext for every HTTP thread and for
     * the event consumer. open may leave ext NULL (nothing needed). */
    int (*ext_open)(struct service_ctx *ctx);
    void (*ext_close)(struct service_ctx *ctx);
    bool (*ext_is_ready)(struct service_ctx *ctx);
    const char *ext_name; /* what ext is, in /readyz checks ("view") */
    /* Optional periodic work (saga deadlines, reconciliation, checks), every
     * WEBTOON_SWEEP_INTERVAL_MS and once at start, on its own thread with
     * its own store <st> (events it adds are published like a command's).
     * That thread also measures the outbox for the metrics, in every
     * service that has one. */
    void (*sweep)(struct service_ctx *ctx, struct store *st);
    /* Optional: the routes whose bodies may exceed WEBTOON_HTTP_MAX_BODY
     * (image uploads), a table ended by {0} that lives as long as the
     * process, made from <cfg> once at start. */
    const struct http_body_limit *(*body_limits)(const struct config *cfg);
};

/* What a route handler reaches through http_req_ctx() (one per HTTP
 * thread), and the context event handlers receive (store and bus NULL
 * there: a handler gets its store as an argument). */
struct service_ctx {
    const struct service_def *def;
    const struct config *cfg;
    struct store *store;           /* this thread's connection to the service database */
    void *ext;                     /* made by service_def.ext_open, or NULL */
    struct auth_cache *auth_cache; /* tokens this thread verified */
    struct service_app *app;       /* the running process (service_internal.h) */
};

/* The store of the request's thread. */
struct store *service_store(struct http_req *req);

/* For a service with open_access (it authenticates callers itself): checks
 * the bearer token <token> like every other service's routes do, filling
 * <id>, or answers why not in <why>. A key the process has not read yet
 * asks for a fresh read and is refused this time. */
enum auth_verdict service_verify_token(struct http_req *req, const char *token,
                                       struct auth_identity *id /* OUT */, char *why,
                                       size_t whylen);

/*
 * For handlers run through service_command or service_read: <req> names an
 * id (a user, a webtoon) that this service learns from events and has not
 * seen. Returns <rc> with the reason; before answering, the wrapper waits
 * until the consumer has caught up and runs the handler again; only then
 * is <rc> the answer.
 */
int service_unseen(struct http_req *req, int rc, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Runs read handler <fn> for <req>, with the catch-up wait of
 * service_unseen. */
int service_read(struct http_req *req, http_handler_cb fn);

/* Sets the OpenAPI document (JSON text, kept borrowed) every service
 * serves at GET /openapi.json. */
void service_set_api_document(const char *json);

/* Runs <def> until SIGTERM/SIGINT. Returns the process exit status: 0
 * after a clean drain, 2 when it cannot start (bad configuration, port in
 * use, database unreachable). */
int service_run(const struct service_def *def, const struct config *cfg);

/* Creates the data directory and brings <def>'s database up to its
 * current schema (also done by service_run). */
int service_prepare_store(const struct service_def *def, const struct config *cfg);

/* Resolves the store URL and event log path of <service> from <cfg> into
 * <url> and <log> (defaults under the data directory); "{service}" in a
 * configured store URL is replaced by <service>. */
void service_store_url(const struct config *cfg, const char *service, char *url, size_t len);
void service_event_log(const struct config *cfg, char *path, size_t len);
/* Fills <out> with the bus settings of <cfg>: Kafka when brokers are
 * configured, else the embedded log at <event_log> (kept borrowed, as are
 * the configuration's strings). */
void service_bus_options(const struct config *cfg, const char *event_log,
                         struct bus_options *out /* OUT */);

#endif
