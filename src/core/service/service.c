/* One service process: start in dependency order, drain in reverse; see
 * service.h. */
#include "core/service/service.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/outbox/outbox.h"
#include "core/service/command.h"

struct service_app {
    const struct service_def *def;
    const struct config *cfg;
    char store_url[PATH_MAX + 16];
    struct bus_options bus;
    char event_log[PATH_MAX];
    struct outbox_relay *relay;
    struct service_ctx consumer_ctx; /* what event handlers see as their context */
};

static const char *service_api_document;

void service_set_api_document(const char *json) { service_api_document = json; }

void service_store_url(const struct config *cfg, const char *service, char *url, size_t len)
{
    const char *configured = config_str(cfg, CONFIG_STORE_URL);
    if (*configured) {
        /* "{service}" becomes the name: one URL template, one database
         * per service (postgres://db:5432/webtoon_{service}). */
        static const char placeholder[] = "{service}";
        size_t at = 0;
        url[0] = '\0';
        for (const char *p = configured; *p && at < len;) {
            bool hit = !strncmp(p, placeholder, sizeof placeholder - 1);
            int wrote = snprintf(url + at, len - at, "%.*s", hit ? (int)strlen(service) : 1,
                                 hit ? service : p);
            at += wrote > 0 ? (size_t)wrote : 0;
            p += hit ? sizeof placeholder - 1 : 1;
        }
    } else
        snprintf(url, len, "sqlite:%s/%s.db", config_str(cfg, CONFIG_DATA_DIR), service);
}

void service_bus_options(const struct config *cfg, const char *event_log, struct bus_options *out)
{
    *out = (struct bus_options){
        .event_log = event_log,
        .topic = config_str(cfg, CONFIG_TOPIC),
        .kafka_brokers = config_str(cfg, CONFIG_KAFKA_BROKERS),
        .partitions = (int)config_int(cfg, CONFIG_TOPIC_PARTITIONS),
    };
}

void service_event_log(const struct config *cfg, char *path, size_t len)
{
    const char *configured = config_str(cfg, CONFIG_EVENT_LOG);
    if (*configured)
        snprintf(path, len, "%s", configured);
    else
        snprintf(path, len, "%s/events.db", config_str(cfg, CONFIG_DATA_DIR));
}

struct store *service_store(struct http_req *req)
{
    return ((struct service_ctx *)http_req_ctx(req))->store;
}

static int service_worker_init(void *arg, void **out)
{
    struct service_app *app = arg;
    struct service_ctx *ctx = mem_calloc(1, sizeof *ctx);
    if (!ctx)
        return RC_NOMEM;
    ctx->def = app->def;
    ctx->cfg = app->cfg;
    if (app->def->stateless) {
        *out = ctx;
        return RC_OK;
    }
    char err[256] = "";
    int rc = store_open(app->store_url, &ctx->store, err, sizeof err);
    if (rc == RC_OK)
        rc = bus_open(&app->bus, &ctx->bus, err, sizeof err);
    if (rc == RC_OK && app->def->ext_open && (rc = app->def->ext_open(ctx)) != RC_OK)
        snprintf(err, sizeof err, "%s", rc_title(rc));
    if (rc != RC_OK) {
        log_error("worker cannot start: %s", err);
        store_close(ctx->store);
        bus_close(ctx->bus);
        mem_free(ctx);
        return rc;
    }
    store_set_commit_hook(ctx->store, outbox_relay_notify, app->relay);
    *out = ctx;
    return RC_OK;
}

static void service_worker_cleanup(void *arg)
{
    struct service_ctx *ctx = arg;
    if (ctx->def->ext_close)
        ctx->def->ext_close(ctx);
    store_close(ctx->store);
    bus_close(ctx->bus);
    mem_free(ctx);
}

static bool service_is_ready(void *arg)
{
    struct service_ctx *ctx = arg;
    if (ctx->def->stateless)
        return true;
    return store_ping(ctx->store) && bus_is_ready(ctx->bus) &&
           (!ctx->def->ext_is_ready || ctx->def->ext_is_ready(ctx));
}

/* Creates <dir> and its parents (mkdir -p). */
static int service_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return RC_IO;
        *p = '/';
    }
    return mkdir(path, 0755) == 0 || errno == EEXIST ? RC_OK : RC_IO;
}

int service_prepare_store(const struct service_def *def, const struct config *cfg)
{
    char url[PATH_MAX + 16];
    service_store_url(cfg, def->name, url, sizeof url);
    int rc = service_mkdirs(config_str(cfg, CONFIG_DATA_DIR));
    if (rc != RC_OK) {
        log_error("cannot create data directory %s: %s", config_str(cfg, CONFIG_DATA_DIR),
                  strerror(errno));
        return rc;
    }
    struct store *st = NULL;
    char err[256];
    rc = store_open(url, &st, err, sizeof err);
    if (rc != RC_OK) {
        log_error("cannot open the database: %s", err);
        return rc;
    }
    rc = store_migrate(st, "outbox", outbox_schema, outbox_schema_len);
    if (rc == RC_OK)
        rc = store_migrate(st, "inbox", inbox_schema, inbox_schema_len);
    if (rc == RC_OK)
        rc = store_migrate(st, "idempotency", service_idempotency_schema,
                           service_idempotency_schema_len);
    for (const struct service_schema *sc = def->schemas; rc == RC_OK && sc && sc->component; sc++)
        rc = store_migrate(st, sc->component, sc->steps, sc->nsteps);
    if (rc != RC_OK)
        log_error("database migration failed: %s", store_error(st));
    store_close(st);
    return rc;
}

/* Starts the outbox relay and, when <app>'s service consumes events, the
 * consumer (returned in <consumer>). */
static int service_start_messaging(struct service_app *app, struct inbox_consumer **consumer)
{
    const struct config *cfg = app->cfg;
    char err[256] = "";
    struct outbox_relay_options relay = {
        .store_url = app->store_url,
        .bus = app->bus,
        .poll_interval_ms = config_int(cfg, CONFIG_POLL_INTERVAL_MS),
        .retry_max_ms = config_int(cfg, CONFIG_RETRY_MAX_MS),
        .retention_ms = config_int(cfg, CONFIG_OUTBOX_RETENTION_MS),
        .paused = config_bool(cfg, CONFIG_RELAY_PAUSED),
    };
    int rc = outbox_relay_start(&relay, &app->relay, err, sizeof err);
    if (rc != RC_OK) {
        log_error("cannot start the outbox relay: %s", err);
        return rc;
    }
    size_t nhandlers = 0;
    while (app->def->handlers && app->def->handlers[nhandlers].type)
        nhandlers++;
    if (nhandlers == 0)
        return RC_OK;
    if (app->def->ext_open && (rc = app->def->ext_open(&app->consumer_ctx)) != RC_OK) {
        log_error("the event consumer cannot start: %s", rc_title(rc));
        return rc;
    }
    struct inbox_consumer_options copts = {
        .group = app->def->name,
        .store_url = app->store_url,
        .bus = app->bus,
        .handlers = app->def->handlers,
        .nhandlers = nhandlers,
        .ctx = &app->consumer_ctx,
        .poll_interval_ms = config_int(cfg, CONFIG_POLL_INTERVAL_MS),
        .retry_max_ms = config_int(cfg, CONFIG_RETRY_MAX_MS),
        .retention_ms = config_int(cfg, CONFIG_INBOX_RETENTION_MS),
        .kill_after = config_int(cfg, CONFIG_FAULT_CONSUMER_KILL_AFTER),
        .commit_hook = outbox_relay_notify, /* handlers may emit events too */
        .commit_hook_ud = app->relay,
    };
    if ((rc = inbox_consumer_start(&copts, consumer, err, sizeof err)) != RC_OK)
        log_error("cannot start the event consumer: %s", err);
    return rc;
}

/* Blocks until SIGTERM or SIGINT; returns the signal. */
static int service_wait_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

int service_run(const struct service_def *def, const struct config *cfg)
{
    log_init(def->name, (enum log_level)config_int(cfg, CONFIG_LOG_LEVEL));
    metrics_init(def->name);
    int64_t started = clock_mono_ms();

    /* Signals go to this thread's sigwait only; threads inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct service_app app = {.def = def, .cfg = cfg, .consumer_ctx = {.def = def, .cfg = cfg}};
    service_store_url(cfg, def->name, app.store_url, sizeof app.store_url);
    service_event_log(cfg, app.event_log, sizeof app.event_log);
    service_bus_options(cfg, app.event_log, &app.bus);

    struct http_server *server = NULL;
    struct inbox_consumer *consumer = NULL;
    char err[256] = "";
    size_t nroutes = 0;
    while (def->routes && def->routes[nroutes].method)
        nroutes++;
    int rc = RC_OK;
    if (!def->stateless && ((rc = service_prepare_store(def, cfg)) != RC_OK ||
                            (rc = service_start_messaging(&app, &consumer)) != RC_OK))
        goto out;
    int port = (int)config_int(cfg, CONFIG_PORT);
    struct http_server_options hopts = {
        .addr = config_str(cfg, CONFIG_LISTEN_ADDR),
        .port = port ? port : (int)config_int(cfg, def->port_setting),
        .threads = (int)config_int(cfg, CONFIG_HTTP_THREADS),
        .max_body = (size_t)config_int(cfg, CONFIG_HTTP_MAX_BODY),
        .timeout_ms = (int)config_int(cfg, CONFIG_HTTP_TIMEOUT_MS),
        .routes = def->routes,
        .nroutes = nroutes,
        .app = &app,
        .worker_init = service_worker_init,
        .worker_cleanup = service_worker_cleanup,
        .is_ready = service_is_ready,
        .openapi = service_api_document,
        .static_root = def->static_root,
    };
    if ((rc = http_server_start(&hopts, &server, err, sizeof err)) != RC_OK) {
        log_error("cannot start the HTTP server: %s", err);
        goto out;
    }
    log_write(LOG_INFO, NULL,
              json_pack("{s:s, s:i, s:s, s:s, s:I}", "addr", hopts.addr, "port",
                        http_server_port(server), "store", app.store_url, "eventLog", app.event_log,
                        "startupMs", (json_int_t)(clock_mono_ms() - started)),
              "serving");

    int sig = service_wait_signal(&set);
    int64_t delay = config_int(cfg, CONFIG_DRAIN_DELAY_MS);
    log_info("received %s: draining (readiness off, listener closes in %lld ms)",
             sig == SIGINT ? "SIGINT" : "SIGTERM", (long long)delay);
    http_server_set_draining(server);
    clock_sleep_ms(delay);
out:
    http_server_stop(server, (int)config_int(cfg, CONFIG_DRAIN_TIMEOUT_MS));
    inbox_consumer_stop(consumer);
    if (def->ext_close)
        def->ext_close(&app.consumer_ctx);
    outbox_relay_stop(app.relay, config_int(cfg, CONFIG_DRAIN_TIMEOUT_MS));
    if (rc == RC_OK)
        log_info("stopped cleanly");
    metrics_cleanup();
    return rc == RC_OK ? 0 : 2;
}
