/* One service process: start in dependency order, drain in reverse; see
 * service.h. */
#include "core/service/service.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/auth/policy.h"
#include "core/base/clock.h"
#include "core/base/cpus.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/outbox/outbox.h"
#include "core/service/command.h"
#include "core/service/service_internal.h"
#include "core/store/store_group.h"
#include "core/trace/trace.h"

static const char *service_api_document;

void service_set_api_document(const char *json) { service_api_document = json; }

void service_store_url(const struct config *cfg, const char *service, char *url, size_t len)
{
    if (*config_str(cfg, CONFIG_STORE_URL)) {
        /* One URL template, one database per service
         * (postgres://db:5432/webtoon_{service}). */
        config_str_for(cfg, CONFIG_STORE_URL, service, url, len);
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
    ctx->app = app;
    if (app->verifier && !(ctx->auth_cache = auth_cache_new())) {
        mem_free(ctx);
        return RC_NOMEM;
    }
    if (app->def->stateless) {
        *out = ctx;
        return RC_OK;
    }
    char err[256] = "";
    int rc = store_open(app->store_url, &ctx->store, err, sizeof err);
    if (rc == RC_OK && app->def->ext_open && (rc = app->def->ext_open(ctx)) != RC_OK)
        snprintf(err, sizeof err, "%s", rc_title(rc));
    if (rc != RC_OK) {
        log_error("worker cannot start: %s", err);
        store_close(ctx->store);
        mem_free(ctx);
        return rc;
    }
    if (app->relay)
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
    auth_cache_free(ctx->auth_cache);
    mem_free(ctx);
}

enum auth_verdict service_verify_token(struct http_req *req, const char *token,
                                       struct auth_identity *id, char *why, size_t whylen)
{
    struct service_ctx *ctx = http_req_ctx(req);
    enum auth_verdict v =
        auth_verify(ctx->app->verifier, ctx->auth_cache, token, strlen(token), id, why, whylen);
    if (v == AUTH_UNKNOWN_KEY || v == AUTH_NO_KEYS)
        auth_keys_refresh(ctx->app->verifier);
    return v;
}

static int service_authorize(void *arg, struct http_req *req)
{
    struct service_ctx *ctx = arg;
    return auth_authorize(req, ctx->def->access_rules, ctx->app->verifier, ctx->auth_cache);
}

/* Every route of a service has an access rule (or the service guards its
 * routes itself); starts reading the issuer's keys. */
static int service_start_auth(struct service_app *app)
{
    const struct service_def *def = app->def;
    if (def->stateless)
        return RC_OK;
    for (const struct http_route *r = def->routes; !def->open_access && r && r->method; r++)
        if (!auth_rule_for(def->access_rules, r->method, r->pattern)) {
            log_error("no access rule for %s %s (service_def.access_rules)", r->method, r->pattern);
            return RC_CONFIG;
        }
    char err[256] = "";
    int rc = auth_verifier_start(app->cfg, &app->verifier, err, sizeof err);
    if (rc != RC_OK)
        log_error("cannot verify tokens: %s", err);
    return rc;
}

/* Adds "<name>": "<text>" to <checks>. */
static void service_check(json_t *checks, const char *name, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void service_check(json_t *checks, const char *name, const char *fmt, ...)
{
    char text[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_object_set_new(checks, name, json_string(text));
}

/* Ready means the store (and the service's extra connection, if any) answers and the
 * issuer's keys were read: a service whose routes need a token can check
 * none without them (in a rollout, a pod started while the issuer restarts
 * must not take traffic from one that has them). Not the issuer itself: it
 * may read its keys through its own Service, which only a ready pod is
 * behind. The relay and the consumer are reported, not required: taking
 * every replica out of rotation because Kafka is slow would turn a delay
 * into an outage. */
static bool service_readiness(void *arg, json_t *checks)
{
    struct service_ctx *ctx = arg;
    bool has_keys = !ctx->app->verifier || auth_verifier_has_keys(ctx->app->verifier);
    bool keys = has_keys || ctx->def->open_access;
    if (ctx->app->verifier)
        service_check(checks, "keys", "%s", has_keys ? "read" : "not read yet");
    if (ctx->def->stateless)
        return keys;
    bool store = store_ping(ctx->store);
    bool ext = !ctx->def->ext_is_ready || ctx->def->ext_is_ready(ctx);
    service_check(checks, "store", "%s", store ? "up" : "down");
    if (ctx->def->ext_is_ready)
        service_check(checks, ctx->def->ext_name, "%s", ext ? "up" : "down");
    if (!ctx->app->relay)
        return store && ext && keys; /* no_events: no bus to report on */
    struct outbox_relay_status relay;
    outbox_relay_status(ctx->app->relay, &relay);
    bool bus_ok = relay.publishing || relay.paused;
    if (relay.paused)
        service_check(checks, "outbox", "paused");
    else if (relay.publishing)
        service_check(checks, "outbox", "publishing");
    else
        service_check(checks, "outbox", "failing for %lld ms: %s", (long long)relay.failing_ms,
                      relay.error);
    if (ctx->app->consumer) {
        struct inbox_consumer_status c;
        inbox_consumer_status(ctx->app->consumer, &c);
        if (c.stalled)
            service_check(checks, "consumer", "stalled for %lld ms with %lld events waiting%s%s",
                          (long long)c.stalled_ms, (long long)c.lag, *c.error ? ": " : "", c.error);
        else if (*c.error)
            service_check(checks, "consumer", "retrying: %s", c.error);
        else
            service_check(checks, "consumer", "ok");
        bus_ok &= !c.bus_failing;
    }
    service_check(checks, "bus", "%s", bus_ok ? "up" : "degraded");
    return store && ext && keys;
}

/* --- the sweeper: measurements, forgotten keys and service_def.sweep ------------------ */

#define SERVICE_KEY_PURGE_EVERY_MS (5 * 60 * 1000)

struct service_sweeper {
    struct service_app *app;
    struct store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping; /* under lock */
};

static void *service_sweeper_main(void *arg)
{
    struct service_sweeper *w = arg;
    struct service_ctx ctx = {.def = w->app->def, .cfg = w->app->cfg, .app = w->app};
    int64_t every = config_int(w->app->cfg, CONFIG_SWEEP_INTERVAL_MS);
    bool ext = ctx.def->sweep && ctx.def->ext_open; /* measuring needs no extra connection */
    if (ext && ctx.def->ext_open(&ctx) != RC_OK)
        log_warn("the sweeper runs without its service's extra connection");
    int64_t next_purge = 0;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        pthread_mutex_unlock(&w->lock);
        if (clock_mono_ms() >= next_purge) {
            service__command_purge(w->store);
            next_purge = clock_mono_ms() + SERVICE_KEY_PURGE_EVERY_MS;
        }
        if (w->app->relay) /* apart from the relay: a stuck relay still shows */
            (void)outbox_measure(w->store, outbox_relay_published_upto(w->app->relay));
        if (w->app->def->sweep)
            w->app->def->sweep(&ctx, w->store);
        pthread_mutex_lock(&w->lock);
        struct timespec until = clock_mono_after(every);
        while (!w->stopping && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&w->lock);
    if (ext && ctx.def->ext_close)
        ctx.def->ext_close(&ctx);
    return NULL;
}

static void service_sweeper_stop(struct service_sweeper *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    store_close(w->store);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    mem_free(w);
}

static int service_sweeper_start(struct service_app *app, struct service_sweeper **out)
{
    *out = NULL;
    struct service_sweeper *w = mem_calloc(1, sizeof *w);
    if (!w)
        return RC_NOMEM;
    w->app = app;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    char err[256] = "";
    int rc = store_open(app->store_url, &w->store, err, sizeof err);
    if (rc == RC_OK) {
        if (app->relay)
            store_set_commit_hook(w->store, outbox_relay_notify, app->relay);
        if (thread_start(&w->thread, "sweeper", service_sweeper_main, w) != 0) {
            snprintf(err, sizeof err, "cannot start the sweeper thread");
            rc = RC_INTERNAL;
        }
    }
    if (rc != RC_OK) {
        log_error("the sweeper cannot start: %s", err);
        store_close(w->store);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        mem_free(w);
        return rc;
    }
    *out = w;
    return RC_OK;
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

/* Commands wait for their events to be published: they are, ask now. */
static void service_wake_loops(void *ud)
{
    struct service_app *app = ud;
    struct http_server *server = atomic_load(&app->server);
    if (server)
        http_server_wake(server);
}

/* Starts the outbox relay. */
static int service_start_relay(struct service_app *app)
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
        .on_published = service_wake_loops,
        .on_published_ud = app,
    };
    int rc = outbox_relay_start(&relay, &app->relay, err, sizeof err);
    if (rc != RC_OK)
        log_error("cannot start the outbox relay: %s", err);
    return rc;
}

/* Starts the command writer: one connection and thread that commits the
 * commands, and the consumer's groups of events, in shared transactions. */
static int service_start_writer(struct service_app *app)
{
    char err[256] = "";
    int rc = store_group_start(app->store_url, app->relay ? outbox_relay_notify : NULL, app->relay,
                               &app->writer, err, sizeof err);
    if (rc != RC_OK)
        log_error("cannot start the command writer: %s", err);
    return rc;
}

/* When <app>'s service consumes events, starts the consumer and the
 * log-end snapshots of read-your-writes. */
static int service_start_consumer(struct service_app *app)
{
    const struct config *cfg = app->cfg;
    char err[256] = "";
    int rc;
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
        .stall_ms = config_int(cfg, CONFIG_CONSUMER_STALL_MS),
        .kill_after = config_int(cfg, CONFIG_FAULT_CONSUMER_KILL_AFTER),
        .writer = app->writer,
        .commit_hook = outbox_relay_notify, /* handlers may emit events too */
        .commit_hook_ud = app->relay,
    };
    if ((rc = inbox_consumer_start(&copts, &app->consumer, err, sizeof err)) != RC_OK)
        log_error("cannot start the event consumer: %s", err);
    else if ((rc = service_catchup_start(&app->bus, &app->catchup, err, sizeof err)) != RC_OK)
        log_error("cannot start the catch-up thread: %s", err);
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
    clock_business_use_file(config_str(cfg, CONFIG_CLOCK_FILE));
    int64_t started = clock_mono_ms();

    /* Signals go to this thread's sigwait only (thread_start keeps them from
     * every other thread). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct service_app app = {.def = def, .cfg = cfg, .consumer_ctx = {.def = def, .cfg = cfg}};
    app.consumer_ctx.app = &app;
    service_store_url(cfg, def->name, app.store_url, sizeof app.store_url);
    store_sqlite_coalesce_wal(config_bool(cfg, CONFIG_STORE_COALESCE_WAL));
    service_event_log(cfg, app.event_log, sizeof app.event_log);
    service_bus_options(cfg, app.event_log, &app.bus);

    struct http_server *server = NULL;
    struct service_sweeper *sweeper = NULL;
    char err[256] = "";
    size_t nroutes = 0;
    while (def->routes && def->routes[nroutes].method)
        nroutes++;
    int rc = RC_OK;
    /* First, so that everything started below has somewhere to send spans;
     * stopped last, once nothing makes any. */
    if ((rc = trace_export_start_config(cfg, def->name, err, sizeof err)) != RC_OK) {
        log_error("cannot export traces: %s", err);
        goto out;
    }
    if ((rc = service_start_auth(&app)) != RC_OK)
        goto out;
    if (!def->stateless && ((rc = service_prepare_store(def, cfg)) != RC_OK ||
                            (!def->no_events && (rc = service_start_relay(&app)) != RC_OK) ||
                            (rc = service_start_writer(&app)) != RC_OK ||
                            (!def->no_events && (rc = service_start_consumer(&app)) != RC_OK) ||
                            (rc = service_sweeper_start(&app, &sweeper)) != RC_OK))
        goto out;
    int port = (int)config_int(cfg, CONFIG_PORT);
    struct http_server_options hopts = {
        .addr = config_str(cfg, CONFIG_LISTEN_ADDR),
        .port = port ? port : (int)config_int(cfg, def->port_setting),
        .threads = config_int(cfg, CONFIG_HTTP_THREADS) ? (int)config_int(cfg, CONFIG_HTTP_THREADS)
                                                        : cpus_usable(),
        .max_body = (size_t)config_int(cfg, CONFIG_HTTP_MAX_BODY),
        .timeout_ms = (int)config_int(cfg, CONFIG_HTTP_TIMEOUT_MS),
        .cache_entries = (size_t)config_int(cfg, CONFIG_HTTP_CACHE_ENTRIES),
        .cache_bytes = (size_t)config_int(cfg, CONFIG_HTTP_CACHE_BYTES),
        .routes = def->routes,
        .nroutes = nroutes,
        .app = &app,
        .worker_init = service_worker_init,
        .worker_cleanup = service_worker_cleanup,
        .readiness = service_readiness,
        .authorize = app.verifier && !def->open_access ? service_authorize : NULL,
        .openapi = service_api_document,
        .static_root = def->static_root,
        .offload_threads = (int)config_int(cfg, CONFIG_HTTP_OFFLOAD_THREADS),
        .body_limits = def->body_limits ? def->body_limits(cfg) : NULL,
    };
    if ((rc = http_server_start(&hopts, &server, err, sizeof err)) != RC_OK) {
        log_error("cannot start the HTTP server: %s", err);
        goto out;
    }
    atomic_store(&app.server, server);
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
    http_server_drain(server, (int)config_int(cfg, CONFIG_DRAIN_TIMEOUT_MS));
    service_sweeper_stop(sweeper);
    service_catchup_stop(app.catchup);
    inbox_consumer_stop(app.consumer);
    if (def->ext_close)
        def->ext_close(&app.consumer_ctx);
    store_group_stop(app.writer); /* after the server and the consumer: none waits for it */
    outbox_relay_stop(app.relay, config_int(cfg, CONFIG_DRAIN_TIMEOUT_MS));
    atomic_store(&app.server, NULL);
    http_server_stop(server, 0); /* last: the threads above may wake it */
    auth_verifier_stop(app.verifier);
    trace_export_stop(TRACE_STOP_DEFAULT_MS); /* the relay's last spans included */
    if (rc == RC_OK)
        log_info("stopped cleanly");
    metrics_cleanup();
    return rc == RC_OK ? 0 : 2;
}
