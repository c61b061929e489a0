/* Idempotent inbox, dead letters and the consumer loop; see inbox.h. */
#include "core/inbox/inbox.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/outbox/outbox.h"
#include "core/store/store_group.h"
#include "core/trace/trace.h"

#define INBOX_PURGE_EVERY_MS 60000
#define INBOX_LAG_EVERY_MS 1000
#define INBOX_GROUP_MAX 256 /* events applied in one transaction at most: a poll's worth */
/* store_after_commit actions one handler may register: a group leaves
 * room for them before each event. */
#define INBOX_HANDLER_DEFERRED_MAX 8

const struct store_migration inbox_schema[] = {
    {1, "CREATE TABLE inbox ("
        " event_id TEXT PRIMARY KEY,"
        " handled_at BIGINT NOT NULL);"
        "CREATE INDEX inbox_handled_at ON inbox (handled_at);"},
    {2, "CREATE TABLE consumer_progress ("
        " part INTEGER PRIMARY KEY,"
        " applied BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "CREATE TABLE dead_letters ("
        " event_id TEXT PRIMARY KEY,"
        " part INTEGER NOT NULL,"
        " event_offset BIGINT NOT NULL,"
        " event_key TEXT NOT NULL,"
        " type TEXT NOT NULL,"
        " payload TEXT NOT NULL,"
        " error TEXT NOT NULL,"
        " detail TEXT NOT NULL,"
        " attempts BIGINT NOT NULL,"
        " failed_at BIGINT NOT NULL);"},
    /* The event's traceparent, so a dead letter can be found in its trace
     * and a retry continues it. */
    {3, "ALTER TABLE dead_letters ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';"},
};
const size_t inbox_schema_len = ARRAY_LEN(inbox_schema);

struct inbox_pending;

struct inbox_consumer {
    struct inbox_consumer_options opts;
    struct store *store;
    struct bus *bus;
    pthread_t thread;
    atomic_bool stopping;
    bool replaying;  /* inbox_replay: its "event applied" lines are debug */
    int64_t handled; /* events applied (for the fault injection) */
    /* stall watch: written by the consumer thread, read by any */
    atomic_int_fast64_t advanced_at; /* monotonic ms of the last progress */
    atomic_bool waiting;             /* events are known to wait */
    atomic_int_fast64_t lag;         /* last measured */
    atomic_bool bus_failing;         /* the last poll failed */
    atomic_bool lag_failing;         /* the last lag measurement did not reach the bus */
    bool reported_stall;             /* consumer thread only */
    pthread_mutex_t lock;            /* guards error and lag_error */
    char error[200];                 /* failure being retried; "" */
    char lag_error[200];             /* why the lag could not be measured */
    struct metrics_gauge *lag_gauge;
    struct metrics_gauge *stalled;
    struct metrics_gauge *dead_gauge;
    struct metrics_counter *applied;
    struct metrics_counter *duplicates;
    struct metrics_counter *retries;
    struct metrics_counter *dead_lettered;
    struct metrics_counter *consumed;
    struct metrics_histogram *delay;
    int64_t next_measure;        /* monotonic ms; consumer thread only */
    struct inbox_pending *group; /* INBOX_GROUP_MAX; consumer thread only */
};

/* Time from an event's append to its effect, microseconds (1 ms to 5 min). */
static const int64_t inbox_delay_bounds_us[] = {
    1000,   2500,    5000,    10000,   25000,    50000,    100000,   250000,
    500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 300000000};

/* --- error classes and reasons ------------------------------------------------ */

static _Thread_local char inbox_reason[200];

enum inbox_error_class inbox_error_class(int rc)
{
    switch (rc) {
    case RC_NOMEM:
    case RC_STORE:
    case RC_RETRY:
    case RC_BUS:
    case RC_UNAVAILABLE:
    case RC_TIMEOUT:
    case RC_IO:
        return INBOX_TRANSIENT;
    case RC_ALREADY_APPLIED:
        return INBOX_ALREADY_APPLIED;
    default:
        return INBOX_PERMANENT;
    }
}

int inbox_reject(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(inbox_reason, sizeof inbox_reason, fmt, ap);
    va_end(ap);
    return rc;
}

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

static const struct inbox_handler *inbox_find(const struct inbox_handler *handlers, size_t n,
                                              const char *type)
{
    const struct inbox_handler *any = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(handlers[i].type, type))
            return &handlers[i];
        if (!strcmp(handlers[i].type, "*"))
            any = &handlers[i];
    }
    return any;
}

/* The ids an event payload names, for its log line: its top-level string
 * members whose names end in "Id" (eventId, userId, purchaseId, webtoonId,
 * paymentId, ...), at most 8 of up to 64 bytes each. A new object, or NULL
 * when out of memory. */
static json_t *inbox_event_ids(json_t *payload)
{
    json_t *ids = json_object(), *v;
    const char *k;
    size_t n = 0;
    json_object_foreach(payload, k, v)
    {
        size_t len = strlen(k);
        if (ids && n < 8 && len > 2 && len <= 32 && !strcmp(k + len - 2, "Id") &&
            json_is_string(v) && json_string_length(v) <= 64 && json_object_set(ids, k, v) == 0)
            n++;
    }
    return ids;
}

/* Parses <payload> and runs <h> on it inside the open transaction of <st>;
 * the ids the payload names go to <ids> (a new object, or NULL) unless it
 * is NULL. */
static int inbox_run_handler(const struct inbox_handler *h, void *ctx, struct store *st,
                             const struct bus_event *ev, const char *payload,
                             json_t **ids /* OUT */)
{
    json_t *parsed = NULL;
    char detail[160];
    inbox_reason[0] = '\0';
    int rc = jx_parse(payload, strlen(payload), true, &parsed, detail, sizeof detail);
    if (rc == RC_BAD_JSON) /* RC_NOMEM is transient: retried */
        rc = inbox_reject(RC_BAD_EVENT, "the payload is not a JSON object: %s", detail);
    if (rc == RC_OK) {
        /* What the handler adds continues the story of whoever acted. */
        outbox_set_actor(json_string_value(json_object_get(parsed, "actor")));
        rc = h->fn(ctx, st, ev, parsed);
        outbox_set_actor(NULL);
    }
    if (rc == RC_OK && ids)
        *ids = inbox_event_ids(parsed);
    json_decref(parsed);
    return rc;
}

/* The reason a handler gave for <rc>, else the store's message, else the
 * code's title; borrowed until the next handler runs on this thread. */
static const char *inbox_why(int rc, struct store *st)
{
    if (inbox_reason[0])
        return inbox_reason;
    if (*store_error(st))
        return store_error(st);
    return rc_title(rc);
}

/* --- the consumer's status ------------------------------------------------------- */

static void inbox_set_error(struct inbox_consumer *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void inbox_set_error(struct inbox_consumer *c, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&c->lock);
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&c->lock);
}

/* The consumer got somewhere: applied a batch, or found nothing to do. */
static void inbox_advanced(struct inbox_consumer *c, bool more_waiting)
{
    atomic_store(&c->advanced_at, clock_mono_ms());
    atomic_store(&c->waiting, more_waiting);
    inbox_set_error(c, "%s", "");
}

static bool inbox_is_stalled(struct inbox_consumer *c, int64_t *for_ms)
{
    *for_ms = clock_mono_ms() - atomic_load(&c->advanced_at);
    return atomic_load(&c->waiting) && *for_ms >= c->opts.stall_ms;
}

/* Logs and flags a stall once when it begins and once when it ends. */
static void inbox_watch_stall(struct inbox_consumer *c)
{
    int64_t for_ms;
    bool stalled = inbox_is_stalled(c, &for_ms);
    if (stalled == c->reported_stall)
        return;
    c->reported_stall = stalled;
    metrics_gauge_set(c->stalled, stalled);
    char error[sizeof c->error];
    pthread_mutex_lock(&c->lock);
    snprintf(error, sizeof error, "%s", c->error);
    pthread_mutex_unlock(&c->lock);
    if (stalled)
        log_write(LOG_ERROR, NULL,
                  json_pack("{s:s, s:I, s:I, s:s}", "group", c->opts.group, "stalledMs",
                            (json_int_t)for_ms, "lag", (json_int_t)atomic_load(&c->lag), "error",
                            error),
                  "the event consumer is stalled: events wait and none was applied");
    else
        log_info("the event consumer of %s is moving again", c->opts.group);
}

void inbox_consumer_status(struct inbox_consumer *c, struct inbox_consumer_status *out)
{
    /* A poll finds nothing both when the log is idle and when the broker is
     * away: the lag, measured every second, tells them apart. */
    bool lag_failing = atomic_load(&c->lag_failing);
    *out = (struct inbox_consumer_status){
        .lag = atomic_load(&c->lag), .bus_failing = atomic_load(&c->bus_failing) || lag_failing};
    out->stalled = inbox_is_stalled(c, &out->stalled_ms);
    if (!out->stalled)
        out->stalled_ms = 0;
    pthread_mutex_lock(&c->lock);
    snprintf(out->error, sizeof out->error, "%s",
             *c->error || !lag_failing ? c->error : c->lag_error);
    pthread_mutex_unlock(&c->lock);
}

/* --- applying one event ------------------------------------------------------------ */

enum inbox_step {
    INBOX_RUN,         /* claim and run the handler */
    INBOX_CLAIM_ONLY,  /* claim: the effect is already there */
    INBOX_DEAD_LETTER, /* claim and keep the event as a dead letter */
};

static int inbox_add_dead_letter(struct store *st, const struct bus_event *ev, int error,
                                 const char *detail)
{
    return store_exec(
        st,
        "INSERT INTO dead_letters (event_id, part, event_offset, event_key, type, payload, error,"
        " detail, attempts, failed_at, traceparent)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10) ON CONFLICT (event_id) DO NOTHING",
        STORE_ARGS(STORE_TEXT(ev->id), STORE_INT(ev->partition), STORE_INT(ev->offset),
                   STORE_TEXT(ev->key), STORE_TEXT(ev->type), STORE_TEXT(ev->payload),
                   STORE_TEXT(rc_name(error)), STORE_TEXT(detail), STORE_INT(clock_wall_ms()),
                   STORE_TEXT(ev->traceparent ? ev->traceparent : "")),
        NULL, NULL, NULL);
}

/* Starts the CONSUMER span of <ev> ("process <type>"), a child of the span
 * that published it (the root of a new trace when the event has no valid
 * traceparent) and linked to it, and makes it the thread's current
 * context, so that events the handler adds continue the trace.
 * <system> and <topic> may be NULL (not known). */
static void inbox_trace_begin(struct trace_span *sp, const struct bus_event *ev, const char *system,
                              const char *topic)
{
    struct trace_ctx producer;
    bool known = ev->traceparent &&
                 trace_parse(ev->traceparent, strlen(ev->traceparent), &producer) == RC_OK;
    char name[TRACE_NAME_MAX];
    snprintf(name, sizeof name, "process %s", ev->type);
    trace_span_begin(sp, name, TRACE_CONSUMER, known ? &producer : NULL);
    if (known)
        trace_span_link(sp, &producer);
    if (system)
        trace_span_attr_str(sp, "messaging.system", system);
    if (topic)
        trace_span_attr_str(sp, "messaging.destination.name", topic);
    trace_span_attr_str(sp, "messaging.operation.type", "process");
    trace_span_attr_str(sp, "messaging.message.id", ev->id);
    trace_set_current(&sp->ctx);
}

/* Ends the span of inbox_trace_begin with the outcome <rc> of its
 * transaction (<why> when it failed) and clears the current context. */
static void inbox_trace_end(struct trace_span *sp, int rc, const char *why)
{
    if (rc != RC_OK && rc != RC_ALREADY_APPLIED)
        trace_span_set_error(sp, why && *why ? why : rc_name(rc));
    trace_span_end(sp);
    trace_set_current(NULL);
}

/* After the commit that applied <ev> (<fresh>: its handler ran; else the
 * inbox knew it): one line in the log with the ids the event names (<ids>,
 * stolen), found by any of them and by the trace, still current here; and
 * the metrics. */
static void inbox_applied(struct inbox_consumer *c, const struct bus_event *ev, bool fresh,
                          json_t *ids, int64_t started_us)
{
    if (!fresh) {
        json_decref(ids);
        metrics_counter_add(c->duplicates, 1);
        return;
    }
    int64_t delay_ms = ev->timestamp_ms > 0 ? clock_wall_ms() - ev->timestamp_ms : 0;
    if (ids) {
        json_object_set_new(ids, "group", json_string(c->opts.group));
        json_object_set_new(ids, "eventId", json_string(ev->id));
        json_object_set_new(ids, "eventType", json_string(ev->type));
        json_object_set_new(ids, "partition", json_integer(ev->partition));
        json_object_set_new(ids, "offset", json_integer(ev->offset));
        json_object_set_new(ids, "durationMs",
                            json_real((double)(clock_mono_us() - started_us) / 1000.0));
        json_object_set_new(ids, "delayMs", json_integer(delay_ms > 0 ? delay_ms : 0));
    }
    log_write(c->replaying ? LOG_DEBUG : LOG_INFO, NULL, ids, "event applied: %s", ev->type);
    metrics_counter_add(c->applied, 1);
    if (ev->timestamp_ms > 0) /* clocks may disagree a little */
        metrics_histogram_observe_us(c->delay, delay_ms > 0 ? delay_ms * 1000 : 0);
}

/* One attempt at <step> for <ev>, in one transaction. A handler's run is
 * a CONSUMER span (its transaction included), with one line in the log. */
static int inbox_apply_once(struct inbox_consumer *c, const struct inbox_handler *h,
                            const struct bus_event *ev, enum inbox_step step, int error,
                            const char *detail)
{
    int rc = store_begin(c->store);
    if (rc != RC_OK)
        return rc;
    bool fresh = false, traced = false;
    struct trace_span span;
    json_t *ids = NULL;
    int64_t started_us = clock_mono_us();
    rc = inbox_claim(c->store, ev->id, &fresh);
    if (rc == RC_OK && fresh && step == INBOX_RUN) {
        inbox_trace_begin(&span, ev, c->bus->ops->name, c->opts.bus.topic);
        traced = true;
        if (c->opts.parse_hook)
            c->opts.parse_hook(c->opts.ctx, ev);
        rc = inbox_run_handler(h, c->opts.ctx, c->store, ev, ev->payload, &ids);
    } else if (rc == RC_OK && fresh && step == INBOX_DEAD_LETTER) {
        rc = inbox_add_dead_letter(c->store, ev, error, detail);
    }
    if (rc != RC_OK)
        store_rollback(c->store);
    else
        rc = store_commit(c->store);
    if (rc == RC_OK && step == INBOX_RUN)
        inbox_applied(c, ev, fresh, ids, started_us);
    else
        json_decref(ids);
    if (traced)
        inbox_trace_end(&span, rc, inbox_reason);
    return rc;
}

/* Repeats <step> (which only claims or records) until it sticks or the
 * consumer stops. */
static int inbox_settle(struct inbox_consumer *c, const struct inbox_handler *h,
                        const struct bus_event *ev, enum inbox_step step, int error,
                        const char *detail)
{
    int rc;
    int64_t backoff = 10;
    while ((rc = inbox_apply_once(c, h, ev, step, error, detail)) != RC_OK &&
           !atomic_load(&c->stopping)) {
        clock_sleep_ms(backoff);
        backoff = backoff * 2 > c->opts.retry_max_ms ? c->opts.retry_max_ms : backoff * 2;
    }
    return rc;
}

static void inbox_measure_due(struct inbox_consumer *c);

/* A handler's failed run: its code and why. */
struct inbox_failure {
    int rc; /* RC_OK: none */
    char why[sizeof inbox_reason];
};

/* Applies <ev> as its error class says. <tried>, when not NULL, is the
 * outcome of a run that already failed (in a group): it is handled as
 * this call's first attempt, so a poison event still runs once. Returns
 * RC_OK once it is applied, recorded as done, or dead-lettered; else the
 * last error (only when stopping). */
static int inbox_apply(struct inbox_consumer *c, const struct bus_event *ev,
                       const struct inbox_failure *tried)
{
    const struct inbox_handler *h = inbox_find(c->opts.handlers, c->opts.nhandlers, ev->type);
    if (!h)
        return RC_OK; /* not ours: nothing to record */
    int64_t backoff = 10;
    for (;;) {
        int rc;
        char why[sizeof inbox_reason];
        if (tried) {
            rc = tried->rc;
            snprintf(why, sizeof why, "%s", tried->why);
            tried = NULL;
        } else {
            if ((rc = inbox_apply_once(c, h, ev, INBOX_RUN, RC_OK, NULL)) == RC_OK)
                return RC_OK;
            snprintf(why, sizeof why, "%s", inbox_why(rc, c->store));
        }
        switch (inbox_error_class(rc)) {
        case INBOX_ALREADY_APPLIED:
            metrics_counter_add(c->duplicates, 1);
            return inbox_settle(c, h, ev, INBOX_CLAIM_ONLY, RC_OK, NULL);
        case INBOX_PERMANENT:
            log_write(LOG_ERROR, NULL,
                      json_pack("{s:s, s:s, s:I, s:i, s:s, s:s}", "eventId", ev->id, "eventType",
                                ev->type, "offset", (json_int_t)ev->offset, "partition",
                                (int)ev->partition, "error", rc_name(rc), "detail", why),
                      "event cannot be applied; kept as a dead letter");
            metrics_counter_add(c->dead_lettered, 1);
            metrics_gauge_add(c->dead_gauge, 1);
            return inbox_settle(c, h, ev, INBOX_DEAD_LETTER, rc, why);
        case INBOX_TRANSIENT:
            break;
        }
        metrics_counter_add(c->retries, 1);
        inbox_set_error(c, "%s %s: %s: %s", ev->type, ev->id, rc_name(rc), why);
        log_write(LOG_WARN, NULL,
                  json_pack("{s:s, s:s, s:s, s:s}", "eventId", ev->id, "eventType", ev->type,
                            "error", rc_name(rc), "detail", why),
                  "event handler failed; retrying in %lld ms", (long long)backoff);
        atomic_store(&c->waiting, true);
        inbox_watch_stall(c);
        inbox_measure_due(c); /* the lag keeps growing while this event blocks the group */
        if (atomic_load(&c->stopping))
            return rc;
        clock_sleep_ms(backoff);
        backoff = backoff * 2 > c->opts.retry_max_ms ? c->opts.retry_max_ms : backoff * 2;
    }
}

/* --- progress, purge, metrics ------------------------------------------------------ */

/* Writes, per partition, the offset of the last of <events> (all
 * applied), inside the open transaction; progress never moves back. */
static int inbox_write_progress(struct store *st, const struct bus_event *events, size_t n)
{
    int32_t parts[BUS_PARTITIONS_MAX];
    int64_t last[BUS_PARTITIONS_MAX];
    size_t nparts = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nparts && parts[k] != events[i].partition)
            k++;
        if (k == nparts) {
            if (nparts == ARRAY_LEN(parts))
                return RC_INTERNAL;
            parts[nparts++] = events[i].partition;
            last[k] = events[i].offset;
        }
        if (events[i].offset > last[k])
            last[k] = events[i].offset;
    }
    int rc = RC_OK;
    for (size_t k = 0; rc == RC_OK && k < nparts; k++)
        rc = store_exec(
            st,
            "INSERT INTO consumer_progress (part, applied, updated_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (part) DO UPDATE SET"
            " applied = CASE WHEN excluded.applied > consumer_progress.applied"
            " THEN excluded.applied ELSE consumer_progress.applied END,"
            " updated_at = excluded.updated_at",
            STORE_ARGS(STORE_INT(parts[k]), STORE_INT(last[k]), STORE_INT(clock_wall_ms())), NULL,
            NULL, NULL);
    return rc;
}

/* inbox_write_progress in a transaction of its own. */
static int inbox_record_progress(struct store *st, const struct bus_event *events, size_t n)
{
    int rc = store_begin(st);
    if (rc == RC_OK && (rc = inbox_write_progress(st, events, n)) == RC_OK)
        return store_commit(st);
    store_rollback(st);
    return rc;
}

/* --- groups: many events, one commit ----------------------------------------------- */

/* An event applied in the open group, reported once the group commits. */
struct inbox_pending {
    const struct bus_event *ev;
    bool fresh;  /* its handler ran (else the inbox knew it) */
    bool traced; /* span was begun */
    json_t *ids; /* for its log line */
    int64_t started_us;
    struct trace_span span;
};

/* Claims and runs <ev> inside the open group of <st>, in a savepoint of its
 * own. RC_OK: applied, reported in <p> once the group commits. Else its
 * work is undone and <failed> says why, or, when even the undo failed, the
 * group is lost (*<lost>). */
static int inbox_group_add(struct inbox_consumer *c, struct store *st,
                           const struct inbox_handler *h, const struct bus_event *ev,
                           struct inbox_pending *p, struct inbox_failure *failed, bool *lost)
{
    struct store_mark mark;
    int rc = store_savepoint(st, &mark);
    if (rc != RC_OK) {
        *lost = true;
        return rc;
    }
    *p = (struct inbox_pending){.ev = ev, .started_us = clock_mono_us()};
    rc = inbox_claim(st, ev->id, &p->fresh);
    if (rc == RC_OK && p->fresh) {
        inbox_trace_begin(&p->span, ev, c->bus->ops->name, c->opts.bus.topic);
        p->traced = true;
        if (c->opts.parse_hook)
            c->opts.parse_hook(c->opts.ctx, ev);
        rc = inbox_run_handler(h, c->opts.ctx, st, ev, ev->payload, &p->ids);
        trace_set_current(NULL);
    }
    if (rc == RC_OK && (rc = store_release(st)) == RC_OK)
        return RC_OK;
    failed->rc = rc;
    snprintf(failed->why, sizeof failed->why, "%s", inbox_why(rc, st));
    if (p->traced)
        inbox_trace_end(&p->span, rc, failed->why);
    json_decref(p->ids);
    p->ids = NULL;
    if (store_rollback_to(st, &mark) != RC_OK)
        *lost = true;
    return rc;
}

/* One group in the making: events[from..n) to apply, and how far it got. */
struct inbox_group_run {
    struct inbox_consumer *c;
    const struct bus_event *events;
    size_t from, n;
    size_t upto;     /* events[from..upto) applied */
    size_t npending; /* of them, those with a handler: c->group[0..npending) */
    struct inbox_failure failed;
};

/* Forgets what a run of the group did, for a run from scratch or a group
 * that did not commit (its spans are dropped: each event runs again, in
 * a span of its own). */
static void inbox_group_discard(struct inbox_group_run *r)
{
    for (size_t i = 0; i < r->npending; i++) {
        json_decref(r->c->group[i].ids);
        r->c->group[i].ids = NULL;
    }
    r->npending = 0;
    r->upto = r->from;
    r->failed.rc = RC_OK;
}

/* Applies, inside the open transaction of <st>, the longest run of the
 * group's events that applies cleanly, each in its own savepoint, with
 * the progress of all of them. RC_OK when at least one was applied; else
 * the first event's failure (r->failed), or RC_STORE when the group is
 * lost or has no room. May run more than once: it starts from scratch. */
static int inbox_group_fill(struct store *st, void *ud)
{
    struct inbox_group_run *r = ud;
    struct inbox_consumer *c = r->c;
    inbox_group_discard(r);
    size_t k = r->from;
    bool lost = false;
    for (; k < r->n && store_deferred_room(st) >= INBOX_HANDLER_DEFERRED_MAX; k++) {
        const struct inbox_handler *h =
            inbox_find(c->opts.handlers, c->opts.nhandlers, r->events[k].type);
        if (!h)
            continue; /* not ours: nothing to record */
        if (inbox_group_add(c, st, h, &r->events[k], &c->group[r->npending], &r->failed, &lost) !=
            RC_OK)
            break;
        r->npending++;
    }
    r->upto = k;
    if (lost || k == r->from)
        return !lost && r->failed.rc != RC_OK ? r->failed.rc : RC_STORE;
    return inbox_write_progress(st, r->events, k);
}

/* inbox_group_fill in a transaction of the consumer's own connection. */
static int inbox_group_commit_alone(struct inbox_consumer *c, struct inbox_group_run *r)
{
    int rc = store_begin(c->store);
    if (rc != RC_OK)
        return rc;
    if ((rc = inbox_group_fill(c->store, r)) == RC_OK)
        return store_commit(c->store);
    store_rollback(c->store);
    return rc;
}

/* inbox_group_fill as a unit of the command writer's next transaction:
 * the events share its commit (and its fsync) with the commands waiting,
 * and never wait for a lock the writer holds. */
static int inbox_group_commit_with_writer(struct inbox_consumer *c, struct inbox_group_run *r)
{
    struct store_group_unit unit = {.run = inbox_group_fill, .ud = r};
    store_group_submit(c->opts.writer, &unit);
    store_group_wait(c->opts.writer, &unit);
    return unit.rc;
}

/*
 * Applies the longest run of events[from..n) that applies cleanly in one
 * transaction (the command writer's, when the consumer has one), so a
 * group costs one commit (one fsync) however many events it holds. Stops
 * at the first event that fails: <failed> then says why, and the caller
 * goes on with that one alone, with its retries or its dead letter (a lost
 * race on PostgreSQL is retried for that event only). Returns how many
 * events it applied: 0 when none (the first failed, or the commit did:
 * then <failed> says nothing, and the events go one by one).
 */
static size_t inbox_apply_group(struct inbox_consumer *c, const struct bus_event *events,
                                size_t from, size_t n, struct inbox_failure *failed)
{
    if (n - from > INBOX_GROUP_MAX)
        n = from + INBOX_GROUP_MAX;
    if (c->opts.kill_after && n - from > (size_t)(c->opts.kill_after - c->handled))
        n = from + (size_t)(c->opts.kill_after - c->handled); /* the fault strikes on time */
    struct inbox_group_run r = {.c = c, .events = events, .from = from, .n = n, .upto = from};
    int rc =
        c->opts.writer ? inbox_group_commit_with_writer(c, &r) : inbox_group_commit_alone(c, &r);
    *failed = r.failed;
    if (rc != RC_OK) {
        if (r.upto > from)
            failed->rc = RC_OK; /* nothing stands: all from the first again */
        inbox_group_discard(&r);
        return 0;
    }
    for (size_t i = 0; i < r.npending; i++) {
        struct inbox_pending *p = &c->group[i];
        if (p->traced)
            trace_set_current(&p->span.ctx); /* the log line joins its trace */
        inbox_applied(c, p->ev, p->fresh, p->ids, p->started_us);
        p->ids = NULL;
        if (p->traced)
            inbox_trace_end(&p->span, RC_OK, NULL);
    }
    return r.upto - from;
}

/* Counts <n> more events applied, for the fault injection. */
static void inbox_count_handled(struct inbox_consumer *c, size_t n)
{
    c->handled += (int64_t)n;
    if (c->opts.kill_after && c->handled >= c->opts.kill_after) {
        log_warn("fault injection: killing the process before the offset commit");
        raise(SIGKILL);
    }
}

/* Applies events[0..n): in groups, and one by one where a group stopped.
 * Sets *<done> to how many were applied: all of them, or fewer when the
 * consumer stopped (then returns the failure that stopped it). Sets
 * *<recorded> when the last group recorded the progress of all of them. */
static int inbox_apply_batch(struct inbox_consumer *c, const struct bus_event *events, size_t n,
                             size_t *done, bool *recorded)
{
    *done = 0;
    *recorded = true;
    while (*done < n) {
        struct inbox_failure failed;
        size_t applied = inbox_apply_group(c, events, *done, n, &failed);
        inbox_count_handled(c, applied);
        *done += applied;
        if (applied > 0)
            *recorded = true; /* of all before it too */
        if (*done < n && (applied == 0 || failed.rc != RC_OK)) {
            int rc = inbox_apply(c, &events[*done], failed.rc != RC_OK ? &failed : NULL);
            if (rc != RC_OK)
                return rc; /* stopping mid-batch: the offset stays, so it replays */
            *recorded = false;
            inbox_count_handled(c, 1);
            ++*done;
        }
    }
    return RC_OK;
}

static void inbox_purge(struct inbox_consumer *c)
{
    int rc =
        store_exec(c->store, "DELETE FROM inbox WHERE handled_at < $1",
                   STORE_ARGS(STORE_INT(clock_wall_ms() - c->opts.retention_ms)), NULL, NULL, NULL);
    if (rc != RC_OK)
        log_warn("inbox purge failed: %s", store_error(c->store));
}

/* Lag and dead letters for the metrics. */
static void inbox_measure(struct inbox_consumer *c)
{
    int64_t lag = 0, dead = 0;
    int rc = bus_lag(c->bus, &lag);
    if (rc == RC_OK) {
        metrics_gauge_set(c->lag_gauge, lag);
        atomic_store(&c->lag, lag);
        if (lag > 0)
            atomic_store(&c->waiting, true);
    } else {
        pthread_mutex_lock(&c->lock);
        snprintf(c->lag_error, sizeof c->lag_error, "cannot measure the lag: %s: %s", rc_name(rc),
                 bus_error(c->bus));
        pthread_mutex_unlock(&c->lock);
    }
    bool was_failing = atomic_exchange(&c->lag_failing, rc != RC_OK);
    if (rc != RC_OK && !was_failing)
        log_warn("the event bus cannot be reached to measure the lag (%s: %s)", rc_name(rc),
                 bus_error(c->bus));
    else if (rc == RC_OK && was_failing)
        log_info("the event bus answers again");
    if (store_query_int(c->store, "SELECT COUNT(*) FROM dead_letters", NULL, 0, &dead, NULL) ==
        RC_OK)
        metrics_gauge_set(c->dead_gauge, dead);
}

/* inbox_measure, at most once per INBOX_LAG_EVERY_MS. */
static void inbox_measure_due(struct inbox_consumer *c)
{
    int64_t now = clock_mono_ms();
    if (now < c->next_measure)
        return;
    inbox_measure(c);
    c->next_measure = now + INBOX_LAG_EVERY_MS;
}

/* Says that <what> failed with <rc> and waits a little before its retry. */
static void inbox_failed(struct inbox_consumer *c, const char *what, int rc)
{
    inbox_set_error(c, "%s failed: %s %s%s", what, rc_name(rc), bus_error(c->bus),
                    store_error(c->store));
    log_warn("%s failed (%s %s%s); retrying", what, rc_name(rc), bus_error(c->bus),
             store_error(c->store));
    inbox_watch_stall(c);
    clock_sleep_ms(100);
}

/* After a batch was applied: its progress recorded (unless its groups
 * did), then its offsets committed, each retried until it works or the
 * consumer stops. */
static void inbox_finish_batch(struct inbox_consumer *c, const struct bus_event *events, size_t n,
                               bool recorded)
{
    int rc;
    while (!recorded && (rc = inbox_record_progress(c->store, events, n)) != RC_OK &&
           !atomic_load(&c->stopping))
        inbox_failed(c, "recording consumer progress", rc);
    while ((rc = bus_commit(c->bus)) != RC_OK && !atomic_load(&c->stopping))
        inbox_failed(c, "offset commit", rc);
}

static void *inbox_consumer_main(void *arg)
{
    struct inbox_consumer *c = arg;
    int64_t next_purge = clock_mono_ms(), backoff = 0;
    while (!atomic_load(&c->stopping)) {
        const struct bus_event *events;
        size_t n;
        int rc = bus_poll(c->bus, (int)c->opts.poll_interval_ms, &events, &n);
        atomic_store(&c->bus_failing, rc != RC_OK);
        if (rc != RC_OK) {
            backoff = backoff ? backoff * 2 : 10;
            if (backoff > c->opts.retry_max_ms)
                backoff = c->opts.retry_max_ms;
            inbox_set_error(c, "cannot read the event bus: %s: %s", rc_name(rc), bus_error(c->bus));
            log_warn("event bus poll failed (%s: %s); retrying", rc_name(rc), bus_error(c->bus));
            inbox_watch_stall(c);
            clock_sleep_ms(backoff);
            continue;
        }
        backoff = 0;
        if (n > 0)
            atomic_store(&c->waiting, true);
        bool recorded;
        size_t done;
        (void)inbox_apply_batch(c, events, n, &done, &recorded);
        if (done == n && n > 0) {
            inbox_finish_batch(c, events, n, recorded);
            metrics_counter_add(c->consumed, n);
        }
        if (done == n)
            inbox_advanced(c, n > 0); /* an empty poll: nothing waits */
        inbox_measure_due(c);
        inbox_watch_stall(c);
        int64_t now = clock_mono_ms();
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
    mem_free(c->group);
    pthread_mutex_destroy(&c->lock);
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
    pthread_mutex_init(&c->lock, NULL);
    if (!(c->group = mem_calloc(INBOX_GROUP_MAX, sizeof *c->group))) {
        pthread_mutex_destroy(&c->lock);
        mem_free(c);
        return RC_NOMEM;
    }
    atomic_store(&c->advanced_at, clock_mono_ms());
    char labels[128];
    snprintf(labels, sizeof labels, "group=\"%s\"", opts->group);
    c->lag_gauge =
        metrics_gauge("webtoon_consumer_lag", "Events published but not yet consumed", labels);
    c->stalled = metrics_gauge("webtoon_consumer_stalled",
                               "1 while events wait and the consumer has not advanced", labels);
    c->dead_gauge = metrics_gauge("webtoon_consumer_dead_letters",
                                  "Events kept as dead letters, waiting for an operator", labels);
    c->applied = metrics_counter("webtoon_consumer_events_applied_total",
                                 "Events applied once by a handler", labels);
    c->duplicates = metrics_counter("webtoon_consumer_events_duplicate_total",
                                    "Redelivered events recognised by the inbox or by their "
                                    "business key",
                                    labels);
    c->retries = metrics_counter("webtoon_consumer_handler_retries_total",
                                 "Handler attempts that failed and were retried", labels);
    c->dead_lettered =
        metrics_counter("webtoon_consumer_events_dead_lettered_total",
                        "Events that could never be applied and became dead letters", labels);
    c->consumed = metrics_counter("webtoon_consumer_events_consumed_total",
                                  "Events read from the bus and done with, offset committed "
                                  "(applied, duplicate, dead-lettered, or of a type not handled)",
                                  labels);
    c->delay = metrics_histogram_bounds("webtoon_consumer_event_delay_seconds",
                                        "Time from an event's append to its effect here", labels,
                                        inbox_delay_bounds_us, ARRAY_LEN(inbox_delay_bounds_us));
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
    if (rc == RC_OK && thread_start(&(*out)->thread, "consumer", inbox_consumer_main, *out) != 0) {
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
    atomic_store(&c->stopping, true); /* a transient failure is an error here, not a retry */
    c->replaying = true;
    for (;;) {
        const struct bus_event *events;
        size_t n;
        if ((rc = bus_poll(c->bus, 0, &events, &n)) != RC_OK || n == 0)
            break;
        bool recorded;
        size_t done;
        rc = inbox_apply_batch(c, events, n, &done, &recorded);
        if (rc == RC_OK && !recorded)
            rc = inbox_record_progress(c->store, events, n);
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

/* --- dead letters ----------------------------------------------------------------------- */

#define INBOX_DEAD_COLUMNS                                                                         \
    "event_id, type, event_key, payload, error, detail, part, event_offset, failed_at, attempts,"  \
    " traceparent"

static void inbox_dead_of_row(const struct store_row *row, struct inbox_dead_letter *d)
{
    *d = (struct inbox_dead_letter){
        .event_id = row->cols[0].s,
        .type = row->cols[1].s,
        .key = row->cols[2].s,
        .payload = row->cols[3].s,
        .error = row->cols[4].s,
        .detail = row->cols[5].s,
        .partition = row->cols[6].i,
        .offset = row->cols[7].i,
        .failed_at = row->cols[8].i,
        .attempts = row->cols[9].i,
        .traceparent = row->cols[10].s,
    };
}

struct inbox_dead_walk {
    int (*cb)(void *ud, const struct inbox_dead_letter *d);
    void *ud;
};

static int inbox_dead_row(void *arg, const struct store_row *row)
{
    struct inbox_dead_walk *w = arg;
    struct inbox_dead_letter d;
    inbox_dead_of_row(row, &d);
    return w->cb(w->ud, &d);
}

int inbox_dead_list(struct store *st, int (*cb)(void *ud, const struct inbox_dead_letter *d),
                    void *ud)
{
    struct inbox_dead_walk w = {cb, ud};
    return store_exec(
        st, "SELECT " INBOX_DEAD_COLUMNS " FROM dead_letters ORDER BY failed_at, event_id", NULL, 0,
        inbox_dead_row, &w, NULL);
}

/* The dead letter being retried: an owned copy of its event. */
struct inbox_dead_copy {
    bool found;
    struct bus_event ev;
    char *text; /* owns the event's strings */
};

static int inbox_take_dead(void *arg, const struct store_row *row)
{
    struct inbox_dead_copy *copy = arg;
    struct inbox_dead_letter d;
    inbox_dead_of_row(row, &d);
    copy->found = true;
    copy->ev.partition = (int32_t)d.partition;
    copy->ev.offset = d.offset;
    size_t ltp = strlen(d.traceparent) <= BUS_TRACEPARENT_MAX ? strlen(d.traceparent) : 0;
    return bus_event_copy(&copy->ev, &copy->text, d.event_id, strlen(d.event_id), d.key,
                          strlen(d.key), d.type, strlen(d.type), d.payload, strlen(d.payload),
                          d.traceparent, ltp);
}

int inbox_dead_retry(struct store *st, const struct inbox_handler *handlers, size_t n, void *ctx,
                     const char *event_id, const char *payload, char *err, size_t errlen)
{
    struct inbox_dead_copy copy = {0};
    int rc = store_begin(st);
    if (rc == RC_OK)
        rc = store_exec(st, "SELECT " INBOX_DEAD_COLUMNS " FROM dead_letters WHERE event_id = $1",
                        STORE_ARGS(STORE_TEXT(event_id)), inbox_take_dead, &copy, NULL);
    if (rc == RC_OK && !copy.found)
        rc = RC_NOT_FOUND;
    const struct inbox_handler *h = rc == RC_OK ? inbox_find(handlers, n, copy.ev.type) : NULL;
    struct trace_span span;
    bool traced = false;
    if (rc == RC_OK && h) {
        /* the retry continues the event's trace */
        inbox_trace_begin(&span, &copy.ev, NULL, NULL);
        traced = true;
    }
    if (rc == RC_OK) {
        rc = h ? inbox_run_handler(h, ctx, st, &copy.ev, payload ? payload : copy.ev.payload, NULL)
               : RC_OK; /* no handler takes it any more: nothing to apply */
        if (rc == RC_ALREADY_APPLIED)
            rc = RC_OK;
    }
    if (rc == RC_OK)
        rc = store_exec(st, "DELETE FROM dead_letters WHERE event_id = $1",
                        STORE_ARGS(STORE_TEXT(event_id)), NULL, NULL, NULL);
    if (rc == RC_OK)
        rc = store_commit(st);
    if (traced)
        inbox_trace_end(&span, rc, rc == RC_OK ? NULL : inbox_why(rc, st));
    if (rc == RC_OK)
        goto out;
    snprintf(err, errlen, "%s", rc == RC_NOT_FOUND ? "no such dead letter" : inbox_why(rc, st));
    store_rollback(st);
    if (copy.found) /* keep the new error with it */
        (void)store_exec(st,
                         "UPDATE dead_letters SET error = $2, detail = $3, attempts = attempts + 1,"
                         " failed_at = $4 WHERE event_id = $1",
                         STORE_ARGS(STORE_TEXT(event_id), STORE_TEXT(rc_name(rc)), STORE_TEXT(err),
                                    STORE_INT(clock_wall_ms())),
                         NULL, NULL, NULL);
out:
    mem_free(copy.text);
    return rc;
}

int inbox_dead_drop(struct store *st, const char *event_id)
{
    int64_t n = 0;
    int rc = store_exec(st, "DELETE FROM dead_letters WHERE event_id = $1",
                        STORE_ARGS(STORE_TEXT(event_id)), NULL, NULL, &n);
    return rc == RC_OK && n == 0 ? RC_NOT_FOUND : rc;
}
