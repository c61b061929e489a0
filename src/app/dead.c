/*
 * `webtoon events dead`: the operator's side of dead letters (events a
 * service could never apply, kept in its database with the error; see
 * inbox.h). `list` prints them as JSON lines, `retry` applies one again
 * through the service's own handlers (with a repaired payload if given),
 * `drop` removes one for good. Works whether the service runs or not: each
 * is one transaction on the service's database.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/inbox/inbox.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/trace/trace.h"

static const char dead_usage[] =
    "Usage: webtoon events dead list [<service>...]\n"
    "       webtoon events dead retry <service> <eventId> [--payload JSON]\n"
    "       webtoon events dead drop <service> <eventId>\n";

/* Opens the database of service module <name>; NULL (said why) on failure. */
static struct store *dead_open(const struct config *cfg, const struct app_module *m)
{
    char url[PATH_MAX + 16], err[256] = "";
    service_store_url(cfg, m->name, url, sizeof url);
    struct store *st = NULL;
    if (store_open(url, &st, err, sizeof err) != RC_OK)
        fprintf(stderr, "webtoon events dead: %s: %s\n", m->name, err);
    else if (store_migrate(st, "inbox", inbox_schema, inbox_schema_len) != RC_OK) {
        fprintf(stderr, "webtoon events dead: %s: %s\n", m->name, store_error(st));
        store_close(st);
        st = NULL;
    }
    return st;
}

struct dead_print {
    const char *service;
    size_t n;
};

static int dead_print_one(void *ud, const struct inbox_dead_letter *d)
{
    struct dead_print *p = ud;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:s}", "service", p->service, "eventId",
        d->event_id, "type", d->type, "key", d->key, "partition", (json_int_t)d->partition,
        "offset", (json_int_t)d->offset, "error", d->error, "detail", d->detail, "attempts",
        (json_int_t)d->attempts, "failedAt", (json_int_t)d->failed_at, "payload", d->payload);
    if (o && *d->traceparent) /* to find the event's trace */
        json_object_set_new(o, "traceparent", json_string(d->traceparent));
    char *text = o ? jx_dump(o) : NULL;
    json_decref(o);
    if (!text)
        return RC_NOMEM;
    printf("%s\n", text);
    mem_free(text);
    p->n++;
    return 0;
}

/* The service module called <name>; NULL (said why) if there is none. */
static const struct app_module *dead_service(const char *name)
{
    const struct app_module *m = app_module_find(name);
    if (!m || !m->service || m->service->stateless) {
        fprintf(stderr, "webtoon events dead: '%s' is not a service\n", name);
        return NULL;
    }
    return m;
}

static int dead_list(const struct config *cfg, int argc, char **argv)
{
    for (int k = 0; k < argc; k++)
        if (!dead_service(argv[k]))
            return 2;
    int status = 0;
    for (size_t i = 0; i < app_modules_len; i++) {
        const struct app_module *m = &app_modules[i];
        bool wanted = argc == 0 && m->service && !m->service->stateless;
        for (int k = 0; k < argc; k++)
            wanted |= !strcmp(argv[k], m->name);
        if (!wanted)
            continue;
        struct store *st = dead_open(cfg, m);
        struct dead_print p = {m->name, 0};
        if (!st || inbox_dead_list(st, dead_print_one, &p) != RC_OK)
            status = 1;
        store_close(st);
    }
    fflush(stdout);
    return status;
}

static int dead_retry(const struct config *cfg, const struct app_module *m, const char *id,
                      const char *payload)
{
    const struct service_def *def = m->service;
    struct store *st = dead_open(cfg, m);
    if (!st)
        return 1;
    struct service_ctx ctx = {.def = def, .cfg = cfg};
    if (def->ext_open && def->ext_open(&ctx) != RC_OK) {
        fprintf(stderr, "webtoon events dead retry: %s cannot reach its %s\n", m->name,
                def->ext_name);
        store_close(st);
        return 1;
    }
    size_t n = 0;
    while (def->handlers && def->handlers[n].type)
        n++;
    char err[256] = "";
    /* The retry continues the event's trace: its span, in the service's
     * name, goes to the collector as the service's own would. */
    if (trace_export_start_config(cfg, m->name, err, sizeof err) != RC_OK)
        fprintf(stderr, "webtoon events dead retry: no trace export: %s\n", err);
    int rc = inbox_dead_retry(st, def->handlers, n, &ctx, id, payload, err, sizeof err);
    trace_export_stop(TRACE_STOP_DEFAULT_MS);
    if (rc == RC_OK)
        fprintf(stderr, "applied %s in %s; it is no longer a dead letter\n", id, m->name);
    else
        fprintf(stderr, "webtoon events dead retry: %s: %s: %s\n", id, rc_name(rc), err);
    if (def->ext_close)
        def->ext_close(&ctx);
    store_close(st);
    return rc == RC_OK ? 0 : 1;
}

static int dead_drop(const struct config *cfg, const struct app_module *m, const char *id)
{
    struct store *st = dead_open(cfg, m);
    if (!st)
        return 1;
    int rc = inbox_dead_drop(st, id);
    if (rc == RC_OK)
        fprintf(stderr, "dropped dead letter %s of %s\n", id, m->name);
    else
        fprintf(stderr, "webtoon events dead drop: %s: %s\n", id,
                rc == RC_NOT_FOUND ? "no such dead letter" : store_error(st));
    store_close(st);
    return rc == RC_OK ? 0 : 1;
}

int app_events_dead(const struct config *cfg, int argc, char **argv)
{
    log_init("events", (enum log_level)config_int(cfg, CONFIG_LOG_LEVEL));
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
        fputs(dead_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "list"))
        return dead_list(cfg, argc - 1, argv + 1);
    bool retry = !strcmp(argv[0], "retry"), drop = !strcmp(argv[0], "drop");
    const char *payload = NULL;
    if (retry && argc == 5 && !strcmp(argv[3], "--payload"))
        payload = argv[4];
    if (!(retry || drop) || (argc != 3 && !payload)) {
        fputs(dead_usage, stderr);
        return 2;
    }
    const struct app_module *m = dead_service(argv[1]);
    if (!m)
        return 2;
    return retry ? dead_retry(cfg, m, argv[2], payload) : dead_drop(cfg, m, argv[2]);
}
