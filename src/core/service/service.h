/*
 * Running one service process: the glue every service shares. A service is
 * described by a service_def (name, port, schema, routes, event handlers);
 * service_run opens its database and applies migrations, starts the outbox
 * relay, the event consumer and the HTTP server, then waits for SIGTERM or
 * SIGINT and drains in order: readiness red, listener closed after the
 * drain delay, in-flight requests finished, consumer stopped, outbox
 * flushed, exit 0.
 */
#ifndef WEBTOON_SERVICE_H
#define WEBTOON_SERVICE_H

#include "core/config/config.h"
#include "core/http/http.h"
#include "core/inbox/inbox.h"
#include "core/store/store.h"

struct service_def {
    const char *name;            /* "pointer": logs, metrics, consumer group */
    enum config_id port_setting; /* CONFIG_POINTER_PORT */
    const struct store_migration *migrations;
    size_t nmigrations;
    const struct http_route *routes;
    size_t nroutes;
    const struct inbox_handler *handlers; /* events this service consumes */
    size_t nhandlers;
};

/* What a route handler reaches through http_req_ctx() (one per HTTP
 * thread), and the context event handlers receive (store and bus NULL
 * there: a handler gets its store as an argument). */
struct service_ctx {
    const struct service_def *def;
    const struct config *cfg;
    struct store *store; /* this thread's connection to the service database */
    struct bus *bus;     /* this thread's bus handle (readiness checks) */
};

/* The store of the request's thread. */
struct store *service_store(struct http_req *req);

/* Runs <def> until SIGTERM/SIGINT. Returns the process exit status: 0
 * after a clean drain, 2 when it cannot start (bad configuration, port in
 * use, database unreachable). */
int service_run(const struct service_def *def, const struct config *cfg);

/* Resolves the store URL and event log path of <service> from <cfg> into
 * <url> and <log> (defaults under the data directory). */
void service_store_url(const struct config *cfg, const char *service, char *url, size_t len);
void service_event_log(const struct config *cfg, char *path, size_t len);

#endif
