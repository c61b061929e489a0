/*
 * The history view's one event handler, and its rebuild. Every event goes
 * through history_change_for(); types the view does not show are recorded
 * in the inbox and otherwise ignored.
 */
#include <limits.h>
#include <stdio.h>

#include "core/base/rc.h"
#include "core/bus/bus.h"
#include "core/log/log.h"
#include "core/store/store.h"
#include "svc/history/history.h"

static int history_on_event(void *arg, struct store *st, const struct bus_event *ev,
                            const json_t *payload)
{
    struct service_ctx *ctx = arg;
    const struct history_change *c = history_change_for(ev->type);
    struct history_fields f;
    if (!c)
        return RC_OK;
    int rc = history_read_fields(c, payload, &f);
    return rc == RC_OK ? history_view(ctx)->apply(ctx, st, c, ev, &f) : rc;
}

const struct inbox_handler history_handlers[] = {
    {"*", history_on_event},
    {0},
};

int history_rebuild(const struct config *cfg)
{
    log_init("history", (enum log_level)config_int(cfg, CONFIG_LOG_LEVEL));
    char url[PATH_MAX + 16], log_path[PATH_MAX], err[256] = "";
    service_store_url(cfg, history_service.name, url, sizeof url);
    service_event_log(cfg, log_path, sizeof log_path);
    struct bus_options bus;
    service_bus_options(cfg, log_path, &bus);

    int rc = service_prepare_store(&history_service, cfg);
    struct bus *b = NULL;
    if (rc == RC_OK && (rc = bus_open(&bus, &b, err, sizeof err)) == RC_OK) {
        rc = bus_rewind(b, history_service.name);
        if (rc == RC_NOT_FOUND)
            rc = RC_OK; /* never consumed: it starts at the beginning anyway */
        else if (rc == RC_CONFLICT)
            snprintf(err, sizeof err, "the history service is running; stop it first");
    }
    bus_close(b);
    /* Both views are cleared: the store's (which holds the inbox) and,
     * when configured, the one in Redis. */
    struct service_ctx ctx = {.def = &history_service, .cfg = cfg};
    if (rc == RC_OK && (rc = store_open(url, &ctx.store, err, sizeof err)) == RC_OK &&
        (rc = history_store_view.clear(&ctx)) != RC_OK)
        snprintf(err, sizeof err, "cannot clear the view: %s", store_error(ctx.store));
    if (rc == RC_OK && (rc = history_redis_open(&ctx)) == RC_OK && ctx.ext &&
        (rc = history_redis_view.clear(&ctx)) != RC_OK)
        snprintf(err, sizeof err, "cannot clear the view in Redis");
    store_close(ctx.store);
    ctx.store = NULL; /* the replay opens its own; it keeps the Redis connection */

    int64_t replayed = 0;
    if (rc == RC_OK) {
        struct inbox_consumer_options opts = {
            .group = history_service.name,
            .store_url = url,
            .bus = bus,
            .handlers = history_handlers,
            .nhandlers = 1,
            .ctx = &ctx,
            .retry_max_ms = config_int(cfg, CONFIG_RETRY_MAX_MS),
            .retention_ms = config_int(cfg, CONFIG_INBOX_RETENTION_MS),
        };
        rc = inbox_replay(&opts, &replayed, err, sizeof err);
    }
    history_redis_close(&ctx);
    if (rc != RC_OK) {
        fprintf(stderr, "webtoon history rebuild: %s\n", *err ? err : rc_title(rc));
        return 1;
    }
    fprintf(stderr, "history view rebuilt from %lld events\n", (long long)replayed);
    return 0;
}
