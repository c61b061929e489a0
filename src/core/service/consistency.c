/*
 * Read-your-writes for ids a service learns from events: a handler that
 * finds no such user or webtoon says so with service_unseen; the wrapper
 * (service_command, service_read) then parks the request until the
 * consumer's recorded progress (table consumer_progress, written by the
 * inbox after each batch, by whichever replica consumes) reaches the log's
 * end as it was after the request arrived, and runs the handler again.
 * Progress is read from the thread's own store, at most once per
 * CONSISTENCY_PROGRESS_MS for all the requests a loop has parked.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "core/service/service_internal.h"

#define CONSISTENCY_PROGRESS_MS 3

/* This thread's last look at consumer_progress. */
static _Thread_local struct {
    int64_t at_ms; /* monotonic; 0: never */
    bool ok;
    int64_t applied[BUS_PARTITIONS_MAX]; /* -1: nothing applied */
} consistency_progress;

static int consistency_take_row(void *ud, const struct store_row *row)
{
    (void)ud;
    int64_t part = row->cols[0].i;
    if (part >= 0 && part < BUS_PARTITIONS_MAX)
        consistency_progress.applied[part] = row->cols[1].i;
    return 0;
}

/* True when every partition's progress has reached <rw>'s snapshot. */
static bool consistency_reached(struct store *st, const struct service_rw *rw)
{
    int64_t now = clock_mono_ms();
    if (!consistency_progress.at_ms ||
        now - consistency_progress.at_ms >= CONSISTENCY_PROGRESS_MS) {
        for (int p = 0; p < BUS_PARTITIONS_MAX; p++)
            consistency_progress.applied[p] = -1;
        consistency_progress.ok = store_exec(st, "SELECT part, applied FROM consumer_progress",
                                             NULL, 0, consistency_take_row, NULL, NULL) == RC_OK;
        consistency_progress.at_ms = now;
    }
    if (!consistency_progress.ok)
        return false;
    for (int p = 0; p < rw->nends; p++)
        if (consistency_progress.applied[p] < rw->ends[p])
            return false;
    return true;
}

static int consistency_lagging(struct http_req *req, const char *why)
{
    http_reply_header(req, "Retry-After", "1");
    return http_fail(req, RC_CATCHING_UP,
                     "this service has not yet applied the events published before this request"
                     " (%s); retry in a moment",
                     why);
}

static int consistency_check(struct http_req *req, void *ud, bool expired)
{
    struct service_rw *rw = ud;
    struct service_ctx *ctx = http_req_ctx(req);
    if (!rw->ends) {
        int64_t ends[BUS_PARTITIONS_MAX];
        int n = 0;
        bool failed = false;
        if (service_catchup_snapshot(ctx->app->catchup, rw->want, ends, &n, &failed)) {
            if (failed)
                return consistency_lagging(req, "the event bus cannot say where its log ends");
            if (!(rw->ends = http_req_alloc(req, sizeof ends[0] * (size_t)(n ? n : 1))))
                return RC_NOMEM;
            memcpy(rw->ends, ends, sizeof ends[0] * (size_t)n);
            rw->nends = n;
        }
    }
    if (rw->ends && consistency_reached(ctx->store, rw)) {
        rw->caught_up = true;
        return rw->rerun(req, rw->rerun_ud);
    }
    if (expired)
        return consistency_lagging(req, "its event consumer is behind");
    return HTTP_PARKED;
}

int service__catch_up(struct http_req *req, struct service_rw *rw, int rc)
{
    struct service_ctx *ctx = http_req_ctx(req);
    if (!ctx->app || !ctx->app->catchup)
        return rc;
    rw->want = service_catchup_request(ctx->app->catchup);
    rw->ends = NULL;
    return http_req_park(req, (int)config_int(ctx->cfg, CONFIG_CATCHUP_WAIT_MS), consistency_check,
                         rw);
}

int service_unseen(struct http_req *req, int rc, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    struct service_rw *rw = http_req_state(req);
    if (rw)
        rw->unseen = true;
    return http_fail(req, rc, "%s", detail);
}

struct consistency_read {
    struct service_rw rw; /* first: what http_req_state points at */
    http_handler_cb fn;
};

static int consistency_read_once(struct http_req *req, void *ud)
{
    struct consistency_read *run = ud;
    run->rw.unseen = false;
    int rc = run->fn(req);
    if (rc != RC_OK && run->rw.unseen && !run->rw.caught_up)
        return service__catch_up(req, &run->rw, rc);
    return rc;
}

int service_read(struct http_req *req, http_handler_cb fn)
{
    struct consistency_read *run = http_req_alloc(req, sizeof *run);
    if (!run)
        return RC_NOMEM;
    run->fn = fn;
    run->rw.rerun = consistency_read_once;
    run->rw.rerun_ud = run;
    http_req_set_state(req, run);
    return consistency_read_once(req, run);
}
