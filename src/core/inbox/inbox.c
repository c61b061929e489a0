/* Idempotent inbox and consumer loop; see inbox.h. */
#include "core/inbox/inbox.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"

#define INBOX_PURGE_EVERY_MS 60000
#define INBOX_LAG_EVERY_MS 1000

const struct store_migration inbox_schema[] = {
    {1, "CREATE TABLE inbox ("
        " event_id TEXT PRIMARY KEY,"
        " handled_at BIGINT NOT NULL);"
        "CREATE INDEX inbox_handled_at ON inbox (handled_at);"},
};
const size_t inbox_schema_len = ARRAY_LEN(inbox_schema);

struct inbox_consumer {
    struct inbox_consumer_options opts;
    struct store *store;
    struct bus *bus;
    pthread_t thread;
    atomic_bool stopping;
    int64_t handled; /* events applied (for the fault injection) */
    struct metrics_gauge *lag;
    struct metrics_counter *applied;
    struct metrics_counter *duplicates;
    struct metrics_counter *retries;
    struct metrics_counter *skipped;
};

int inbox_claim(struct store *st, const char *event_id, bool *fresh)
{
    int64_t changes = 0;
    int rc = store_exec(st,
                        "INSERT INTO inbox (event_id, handled_at) VALUES ($1, $2)"
                        " ON CONFLICT (event_id) DO NOTHING",
                        STORE_ARGS(STORE_TEXT(event_id), STORE_INT(clock_wall_ms())), NULL, NULL,
                        &changes);
    *fresh = rc == RC_OK && changes == 1;
    return rc;
}

static const struct inbox_handler *inbox_find(const struct inbox_consumer *c, const char *type)
{
    const struct inbox_handler *any = NULL;
    for (size_t i = 0; i < c->opts.nhandlers; i++) {
        if (!strcmp(c->opts.handlers[i].type, type))
            return &c->opts.handlers[i];
        if (!strcmp(c->opts.handlers[i].type, "*"))
            any = &c->opts.handlers[i];
    }
    return any;
}

/* One attempt at applying <ev>: claim and handle in one transaction. */
static int inbox_apply_once(struct inbox_consumer *c, const struct inbox_handler *h,
                            const struct bus_event *ev, bool skip)
{
    int rc = store_begin(c->store);
    if (rc != RC_OK)
        return rc;
    bool fresh = false;
    json_t *payload = NULL;
    rc = inbox_claim(c->store, ev->id, &fresh);
    if (rc == RC_OK && fresh && !skip) {
        char detail[160];
        rc = jx_parse(ev->payload, strlen(ev->payload), true, &payload, detail, sizeof detail);
        if (rc == RC_OK)
            rc = h->fn(c->opts.ctx, c->store, ev, payload);
        else if (rc == RC_BAD_JSON)
            rc = RC_BAD_EVENT; /* RC_NOMEM is transient: retried, not skipped */
    }
    json_decref(payload);
    if (rc != RC_OK) {
        store_rollback(c->store);
        return rc;
    }
    if ((rc = store_commit(c->store)) != RC_OK)
        return rc;
    metrics_counter_add(fresh ? c->applied : c->duplicates, 1);
    return RC_OK;
}

/* Applies <ev> until it succeeds or the consumer stops. Returns RC_OK when
 * applied (or skipped as poison), else the last error (only when stopping). */
static int inbox_apply(struct inbox_consumer *c, const struct bus_event *ev)
{
    const struct inbox_handler *h = inbox_find(c, ev->type);
    if (!h)
        return RC_OK; /* not ours: nothing to record */
    int64_t backoff = 10;
    for (;;) {
        int rc = inbox_apply_once(c, h, ev, false);
        if (rc == RC_OK)
            return RC_OK;
        if (rc == RC_BAD_EVENT) {
            log_write(LOG_ERROR, NULL,
                      json_pack("{s:s, s:s, s:I}", "eventId", ev->id, "eventType", ev->type,
                                "offset", (json_int_t)ev->offset),
                      "skipping an event that cannot be applied");
            metrics_counter_add(c->skipped, 1);
            backoff = 10;
            while ((rc = inbox_apply_once(c, h, ev, true)) != RC_OK && !atomic_load(&c->stopping))
                clock_sleep_ms(backoff);
            return rc;
        }
        metrics_counter_add(c->retries, 1);
        log_write(LOG_WARN, NULL,
                  json_pack("{s:s, s:s, s:s, s:s}", "eventId", ev->id, "eventType", ev->type,
                            "error", rc_name(rc), "store", store_error(c->store)),
                  "event handler failed; retrying in %lld ms", (long long)backoff);
        if (atomic_load(&c->stopping))
            return rc;
        clock_sleep_ms(backoff);
        backoff = backoff * 2 > c->opts.retry_max_ms ? c->opts.retry_max_ms : backoff * 2;
    }
}

static void inbox_purge(struct inbox_consumer *c)
{
    int rc =
        store_exec(c->store, "DELETE FROM inbox WHERE handled_at < $1",
                   STORE_ARGS(STORE_INT(clock_wall_ms() - c->opts.retention_ms)), NULL, NULL, NULL);
    if (rc != RC_OK)
        log_warn("inbox purge failed: %s", store_error(c->store));
}

static void *inbox_consumer_main(void *arg)
{
    struct inbox_consumer *c = arg;
    int64_t next_purge = clock_mono_ms(), next_lag = 0, backoff = 0;
    while (!atomic_load(&c->stopping)) {
        const struct bus_event *events;
        size_t n;
        int rc = bus_poll(c->bus, (int)c->opts.poll_interval_ms, &events, &n);
        if (rc != RC_OK) {
            backoff = backoff ? backoff * 2 : 10;
            if (backoff > c->opts.retry_max_ms)
                backoff = c->opts.retry_max_ms;
            log_warn("event bus poll failed (%s: %s); retrying", rc_name(rc), bus_error(c->bus));
            clock_sleep_ms(backoff);
            continue;
        }
        backoff = 0;
        size_t done = 0;
        for (; done < n; done++) {
            if (inbox_apply(c, &events[done]) != RC_OK)
                break; /* stopping mid-batch: the offset stays, so it replays */
            if (c->opts.kill_after && ++c->handled >= c->opts.kill_after) {
                log_warn("fault injection: killing the process before the offset commit");
                raise(SIGKILL);
            }
        }
        if (done == n && n > 0) {
            while ((rc = bus_commit(c->bus)) != RC_OK && !atomic_load(&c->stopping)) {
                log_warn("offset commit failed (%s); retrying", bus_error(c->bus));
                clock_sleep_ms(100);
            }
        }
        int64_t now = clock_mono_ms();
        if (now >= next_lag) {
            int64_t lag = 0;
            if (bus_lag(c->bus, &lag) == RC_OK)
                metrics_gauge_set(c->lag, lag);
            next_lag = now + INBOX_LAG_EVERY_MS;
        }
        if (now >= next_purge) {
            inbox_purge(c);
            next_purge = now + INBOX_PURGE_EVERY_MS;
        }
    }
    return NULL;
}

static void inbox_consumer_free(struct inbox_consumer *c)
{
    bus_close(c->bus);
    store_close(c->store);
    mem_free(c);
}

/* New consumer with its store and bus handles, subscribed; no thread. */
static int inbox_consumer_open(const struct inbox_consumer_options *opts,
                               struct inbox_consumer **out, char *err, size_t errlen)
{
    *out = NULL;
    struct inbox_consumer *c = mem_calloc(1, sizeof *c);
    if (!c)
        return RC_NOMEM;
    c->opts = *opts;
    char labels[128];
    snprintf(labels, sizeof labels, "group=\"%s\"", opts->group);
    c->lag = metrics_gauge("webtoon_consumer_lag", "Events published but not yet consumed", labels);
    c->applied = metrics_counter("webtoon_consumer_events_applied_total",
                                 "Events applied once by a handler", labels);
    c->duplicates = metrics_counter("webtoon_consumer_events_duplicate_total",
                                    "Redelivered events recognised by the inbox", labels);
    c->retries = metrics_counter("webtoon_consumer_handler_retries_total",
                                 "Handler attempts that failed and were retried", labels);
    c->skipped = metrics_counter("webtoon_consumer_events_skipped_total",
                                 "Events that could never be applied and were skipped", labels);
    int rc = store_open(opts->store_url, &c->store, err, errlen);
    if (rc == RC_OK && opts->commit_hook)
        store_set_commit_hook(c->store, opts->commit_hook, opts->commit_hook_ud);
    if (rc == RC_OK)
        rc = bus_open(&opts->bus, &c->bus, err, errlen);
    if (rc == RC_OK && (rc = bus_subscribe(c->bus, opts->group, BUS_FROM_COMMITTED)) != RC_OK)
        snprintf(err, errlen, "cannot subscribe group %s: %s", opts->group, bus_error(c->bus));
    if (rc != RC_OK) {
        inbox_consumer_free(c);
        return rc;
    }
    *out = c;
    return RC_OK;
}

int inbox_consumer_start(const struct inbox_consumer_options *opts, struct inbox_consumer **out,
                         char *err, size_t errlen)
{
    int rc = inbox_consumer_open(opts, out, err, errlen);
    if (rc == RC_OK && pthread_create(&(*out)->thread, NULL, inbox_consumer_main, *out) != 0) {
        snprintf(err, errlen, "cannot start the consumer thread");
        inbox_consumer_free(*out);
        *out = NULL;
        rc = RC_INTERNAL;
    }
    return rc;
}

int inbox_replay(const struct inbox_consumer_options *opts, int64_t *applied, char *err,
                 size_t errlen)
{
    struct inbox_consumer *c;
    *applied = 0;
    int rc = inbox_consumer_open(opts, &c, err, errlen);
    if (rc != RC_OK)
        return rc;
    atomic_store(&c->stopping, true); /* a failing handler is an error here, not a retry */
    for (;;) {
        const struct bus_event *events;
        size_t n;
        if ((rc = bus_poll(c->bus, 0, &events, &n)) != RC_OK || n == 0)
            break;
        for (size_t i = 0; i < n && rc == RC_OK; i++)
            rc = inbox_apply(c, &events[i]);
        if (rc == RC_OK)
            rc = bus_commit(c->bus);
        if (rc != RC_OK) {
            snprintf(err, errlen, "replay stopped: %s %s %s", rc_name(rc), bus_error(c->bus),
                     store_error(c->store));
            break;
        }
        *applied += (int64_t)n;
    }
    inbox_consumer_free(c);
    return rc;
}

void inbox_consumer_stop(struct inbox_consumer *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    bus_interrupt(c->bus);
    pthread_join(c->thread, NULL);
    inbox_consumer_free(c);
}
