/* Transactional outbox and its relay thread; see outbox.h. */
#include "core/outbox/outbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/trace/trace.h"

#define OUTBOX_BATCH 128 /* rows published per bus transaction */
#define OUTBOX_PURGE_EVERY_MS 60000
/* A pass longer than this counts as failing: the bus hangs (librdkafka waits
 * 20 s for a broker that is gone). Well above a loaded machine's slowest
 * working publish, since while it counts, commands answer without waiting
 * for their events to reach the bus. */
#define OUTBOX_SLOW_PASS_MS 5000
/* Under steady load, how often the relay marks what it published as sent
 * (it also marks whenever it finds nothing new): on SQLite it keeps its
 * place in memory meanwhile, so a busy outbox costs one bookkeeping write
 * a tenth of a second instead of one per pass, each taking the database's
 * only write lock from the command writer. */
#define OUTBOX_MARK_EVERY_MS 100

const struct store_migration outbox_schema[] = {
    {1, "CREATE TABLE outbox ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " event_id TEXT NOT NULL UNIQUE,"
        " key TEXT NOT NULL,"
        " type TEXT NOT NULL,"
        " payload TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " sent_at BIGINT);"
        "CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;"
        "CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;"},
    /* The PRODUCER span of each event: its context (what the event carries)
     * and its parent's span id ('' for the root of a trace). */
    {2, "ALTER TABLE outbox ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE outbox ADD COLUMN trace_parent_span TEXT NOT NULL DEFAULT '';"},
};
const size_t outbox_schema_len = ARRAY_LEN(outbox_schema);

static _Thread_local const char *outbox_actor;

void outbox_set_actor(const char *actor) { outbox_actor = actor; }

int outbox_add(struct store *st, const char *key, const char *type, const json_t *fields,
               char *event_id)
{
    BUG_ON(!st->in_tx);
    char id[ID_UUID_LEN + 1];
    id_uuid7(id);
    int64_t now = clock_wall_ms();
    json_t *payload = json_pack("{s:s, s:s, s:I}", "eventType", type, "eventId", id, "timestamp",
                                (json_int_t)now);
    if (!payload ||
        (outbox_actor && json_object_set_new(payload, "actor", json_string(outbox_actor)) != 0)) {
        json_decref(payload);
        return RC_NOMEM;
    }
    /* The envelope fields win over a same-named aggregate field. */
    if (json_object_update_missing(payload, (json_t *)fields) != 0) {
        json_decref(payload);
        return RC_NOMEM;
    }
    char *text = jx_dump(payload);
    json_decref(payload);
    if (!text)
        return RC_NOMEM;
    /* The ids of the span that publishes it, below whatever this thread is
     * doing (a new trace when nothing: a sweeper's own decision). The relay
     * submits the span once the event is out, so a rollback leaves none. */
    struct trace_ctx span;
    char parent[TRACE_SPAN_HEX + 1], traceparent[TRACE_PARENT_LEN + 1];
    trace_ctx_child(trace_current(), &span, parent);
    trace_format(&span, traceparent);
    int rc =
        store_exec(st,
                   "INSERT INTO outbox (event_id, key, type, payload, created_at, traceparent,"
                   " trace_parent_span) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   STORE_ARGS(STORE_TEXT(id), STORE_TEXT(key), STORE_TEXT(type), STORE_TEXT(text),
                              STORE_INT(now), STORE_TEXT(traceparent), STORE_TEXT(parent)),
                   NULL, NULL, NULL);
    mem_free(text);
    if (rc == RC_OK && event_id)
        memcpy(event_id, id, sizeof id);
    return rc;
}

int outbox_emit(struct store *st, const char *key, const char *type, json_t *fields)
{
    int rc = fields ? outbox_add(st, key, type, fields, NULL) : RC_NOMEM;
    json_decref(fields);
    return rc;
}

int outbox_backlog(struct store *st, int64_t *out)
{
    return store_query_int(st, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL", NULL, 0, out,
                           NULL);
}

struct outbox_unsent {
    int64_t rows, age_s;
};

static int outbox_take_unsent(void *ud, const struct store_row *row)
{
    struct outbox_unsent *u = ud;
    u->rows = row->cols[0].type == STORE_T_INT ? row->cols[0].i : 0;
    if (row->cols[1].type == STORE_T_INT) {
        int64_t ms = clock_wall_ms() - row->cols[1].i;
        u->age_s = ms > 0 ? ms / 1000 : 0;
    }
    return 0;
}

/* Sets both outbox gauges. */
static void outbox_set_gauges(int64_t backlog, int64_t age_s)
{
    metrics_gauge_set(metrics_gauge("webtoon_outbox_backlog", "Outbox rows not yet published", ""),
                      backlog);
    metrics_gauge_set(metrics_gauge("webtoon_outbox_oldest_unsent_age_seconds",
                                    "How long the oldest unpublished outbox row has waited "
                                    "(0: none waits)",
                                    ""),
                      age_s);
}

int outbox_measure(struct store *st, int64_t published_upto)
{
    struct outbox_unsent u = {0};
    /* One statement, one snapshot: the two gauges agree. */
    int rc = store_exec(st,
                        "SELECT COUNT(*), MIN(created_at) FROM outbox"
                        " WHERE sent_at IS NULL AND seq > $1",
                        STORE_ARGS(STORE_INT(published_upto)), outbox_take_unsent, &u, NULL);
    if (rc == RC_OK)
        outbox_set_gauges(u.rows, u.age_s);
    return rc;
}

/* --- relay ------------------------------------------------------------------- */

struct outbox_relay {
    struct outbox_relay_options opts;
    struct store *store;
    struct bus *bus;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool pending;                      /* notified since the relay last looked; under lock */
    bool stopping;                     /* under lock */
    int64_t flush_deadline;            /* monotonic ms; under lock */
    atomic_uint_fast64_t commits;      /* epochs: notifications so far */
    atomic_uint_fast64_t clean_epoch;  /* every row committed before it is published */
    atomic_int_fast64_t failing_since; /* monotonic ms of the first failure in a row; 0: fine */
    atomic_int_fast64_t pass_started;  /* monotonic ms of the pass under way; 0: none */
    /* SQLite: outbox sequence numbers are given in commit order (one
     * writer at a time, AUTOINCREMENT), so the relay may remember how far
     * it published and mark rows sent later; not PostgreSQL, where a lower
     * number may commit after a higher one. */
    bool lazy_marks;
    atomic_int_fast64_t published_upto; /* lazy_marks: rows up to it are on the bus */
    int64_t marked_upto;                /* lazy_marks: rows up to it are marked; relay only */
    int64_t mark_due;                   /* lazy_marks: monotonic ms; relay only */
    char error[160];                    /* last failure; under lock */
    struct metrics_counter *published;
    struct metrics_counter *failures;
    /* current batch, relay thread only */
    struct bus_event batch[OUTBOX_BATCH];
    int64_t batch_seq[OUTBOX_BATCH];
    int64_t batch_created[OUTBOX_BATCH];                 /* wall ms the row was added */
    char batch_parent[OUTBOX_BATCH][TRACE_SPAN_HEX + 1]; /* its span's parent, or "" */
    char *batch_text[OUTBOX_BATCH];
    size_t batch_len;
};

/* Every row committed before <epoch> is on the bus: tell who waits. */
static void outbox_relay_clean(struct outbox_relay *r, uint64_t epoch)
{
    atomic_store(&r->clean_epoch, epoch);
    if (r->opts.on_published)
        r->opts.on_published(r->opts.on_published_ud);
}

static void outbox_relay_free_batch(struct outbox_relay *r)
{
    for (size_t i = 0; i < r->batch_len; i++)
        MEM_FREE_NULL(r->batch_text[i]);
    r->batch_len = 0;
}

static int outbox_relay_take_row(void *ud, const struct store_row *row)
{
    struct outbox_relay *r = ud;
    const char *id = row->cols[1].s, *key = row->cols[2].s, *type = row->cols[3].s,
               *payload = row->cols[4].s, *tp = row->cols[6].s, *parent = row->cols[7].s;
    struct bus_event *e = &r->batch[r->batch_len];
    *e = (struct bus_event){0};
    char *text;
    if (bus_event_copy(e, &text, id, strlen(id), key, strlen(key), type, strlen(type), payload,
                       strlen(payload), tp, strlen(tp)) != RC_OK)
        return RC_NOMEM;
    r->batch_seq[r->batch_len] = row->cols[0].i;
    r->batch_created[r->batch_len] = row->cols[5].i;
    snprintf(r->batch_parent[r->batch_len], sizeof r->batch_parent[0], "%s", parent);
    r->batch_text[r->batch_len++] = text;
    return 0;
}

/* Submits the PRODUCER span of published event <i> of the batch: from its
 * row's creation (inside the transaction that caused it) to <sent_ns>, so
 * it shows how long the event waited in the outbox. Rows from before the
 * trace columns have no span. */
static void outbox_relay_trace(struct outbox_relay *r, size_t i, int64_t sent_ns)
{
    const struct bus_event *e = &r->batch[i];
    struct trace_ctx ctx;
    if (trace_parse(e->traceparent, strlen(e->traceparent), &ctx) != RC_OK)
        return;
    char name[TRACE_NAME_MAX];
    snprintf(name, sizeof name, "publish %s", e->type);
    int64_t created_ns = r->batch_created[i] * 1000000;
    struct trace_span sp;
    if (trace_span_make(&sp, name, TRACE_PRODUCER, ctx.trace_id, ctx.span_id, r->batch_parent[i],
                        ctx.sampled, created_ns,
                        sent_ns > created_ns ? sent_ns : created_ns) != RC_OK)
        return;
    trace_span_attr_str(&sp, "messaging.system", r->bus->ops->name);
    trace_span_attr_str(&sp, "messaging.destination.name", r->opts.bus.topic);
    trace_span_attr_str(&sp, "messaging.operation.type", "publish");
    trace_span_attr_str(&sp, "messaging.message.id", e->id);
    trace_span_submit(&sp);
}

/* Marks every row published so far as sent, in one statement (lazy_marks). */
static int outbox_relay_mark(struct outbox_relay *r)
{
    int64_t upto = atomic_load(&r->published_upto);
    if (upto == r->marked_upto)
        return RC_OK;
    int rc =
        store_exec(r->store, "UPDATE outbox SET sent_at = $1 WHERE sent_at IS NULL AND seq <= $2",
                   STORE_ARGS(STORE_INT(clock_wall_ms()), STORE_INT(upto)), NULL, NULL, NULL);
    if (rc == RC_OK)
        r->marked_upto = upto;
    r->mark_due = clock_mono_ms() + OUTBOX_MARK_EVERY_MS;
    return rc;
}

/* Marks the batch's rows sent, in one transaction. */
static int outbox_relay_mark_batch(struct outbox_relay *r)
{
    int rc = store_begin(r->store);
    if (rc != RC_OK)
        return rc;
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < r->batch_len && rc == RC_OK; i++)
        rc = store_exec(r->store,
                        "UPDATE outbox SET sent_at = $1 WHERE seq = $2 AND sent_at IS NULL",
                        STORE_ARGS(STORE_INT(now), STORE_INT(r->batch_seq[i])), NULL, NULL, NULL);
    if (rc == RC_OK)
        return store_commit(r->store);
    store_rollback(r->store);
    return rc;
}

/* Publishes one batch of unsent rows. Sets *<more> when the batch was full.
 * Order matters: publish first, mark sent after. A crash in between
 * publishes the rows again, and the log keeps the first copy of an id. */
static int outbox_relay_pass(struct outbox_relay *r, bool *more)
{
    *more = false;
    outbox_relay_free_batch(r);
    /* Rows committed before this epoch are visible to the SELECT below. */
    uint64_t epoch = atomic_load(&r->commits);
    int64_t after = atomic_load(&r->published_upto);
    int rc = store_exec(r->store,
                        "SELECT seq, event_id, key, type, payload, created_at, traceparent,"
                        " trace_parent_span FROM outbox"
                        " WHERE sent_at IS NULL AND seq > $2 ORDER BY seq LIMIT $1",
                        STORE_ARGS(STORE_INT(OUTBOX_BATCH), STORE_INT(after)),
                        outbox_relay_take_row, r, NULL);
    if (rc != RC_OK)
        return rc;
    if (r->batch_len == 0) {
        outbox_set_gauges(0, 0); /* nothing left: both at once, never one stale */
        outbox_relay_clean(r, epoch);
        return r->lazy_marks ? outbox_relay_mark(r) : RC_OK; /* a quiet moment */
    }
    if ((rc = bus_publish(r->bus, r->batch, r->batch_len)) != RC_OK)
        return rc;
    /* Counted before anything can show the rows as gone (published_upto, the
     * marks): a scrape that sees an empty backlog sees them counted. */
    metrics_counter_add(r->published, r->batch_len);
    *more = r->batch_len == OUTBOX_BATCH;
    /* On the bus is what waiting commands need; marking the rows sent is
     * our own bookkeeping (a failed mark publishes them again, which
     * consumers ignore), so they need not wait for its commit. */
    if (!*more) /* nothing older than the epoch was left behind */
        outbox_relay_clean(r, epoch);
    int64_t sent_ns = trace_now_ns();
    if (r->lazy_marks) {
        /* Remembered here, the rows are never published again by this
         * process: only a crash before their mark publishes them twice. */
        atomic_store(&r->published_upto, r->batch_seq[r->batch_len - 1]);
        rc = clock_mono_ms() >= r->mark_due ? outbox_relay_mark(r) : RC_OK;
    } else {
        rc = outbox_relay_mark_batch(r); /* a failed mark publishes them again */
    }
    if (rc != RC_OK && !r->lazy_marks)
        return rc;
    /* Each span is submitted once, when its row leaves for good. */
    for (size_t i = 0; i < r->batch_len && trace_export_is_running(); i++)
        outbox_relay_trace(r, i, sent_ns);
    (void)outbox_measure(r->store, atomic_load(&r->published_upto));
    return rc;
}

static void outbox_relay_purge(struct outbox_relay *r)
{
    int64_t deleted = 0;
    int rc = store_exec(r->store, "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1",
                        STORE_ARGS(STORE_INT(clock_wall_ms() - r->opts.retention_ms)), NULL, NULL,
                        &deleted);
    if (rc != RC_OK)
        log_warn("outbox purge failed: %s", store_error(r->store));
    else if (deleted > 0)
        log_debug("outbox purge removed %lld sent rows", (long long)deleted);
}

/* How long the relay may sleep when nothing is known to wait: until its
 * marks are due, when some rows are published but not marked yet. */
static int64_t outbox_relay_idle_ms(struct outbox_relay *r)
{
    if (!r->lazy_marks || atomic_load(&r->published_upto) == r->marked_upto)
        return r->opts.poll_interval_ms;
    int64_t due = r->mark_due - clock_mono_ms();
    return due < 0 ? 0 : due < r->opts.poll_interval_ms ? due : r->opts.poll_interval_ms;
}

/* Waits on the condition variable until notified, stopping, or <ms> pass.
 * Returns with the lock held. */
static void outbox_relay_wait(struct outbox_relay *r, int64_t ms)
{
    struct timespec until = clock_mono_after(ms);
    while (!r->pending && !r->stopping)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &until) != 0)
            break;
}

static void *outbox_relay_main(void *arg)
{
    struct outbox_relay *r = arg;
    int64_t backoff = 0, next_purge = clock_mono_ms(), failing_since = 0;
    bool more = true; /* look at once: rows may be left from before a crash */
    for (;;) {
        pthread_mutex_lock(&r->lock);
        if (!more && !r->stopping)
            outbox_relay_wait(r, backoff ? backoff : outbox_relay_idle_ms(r));
        bool stopping = r->stopping;
        int64_t deadline = r->flush_deadline;
        r->pending = false;
        pthread_mutex_unlock(&r->lock);
        if (stopping && (r->opts.paused || clock_mono_ms() >= deadline))
            break;
        if (r->opts.paused) {
            more = false;
            continue;
        }

        atomic_store(&r->pass_started, clock_mono_ms());
        int rc = outbox_relay_pass(r, &more);
        atomic_store(&r->pass_started, 0);
        if (rc != RC_OK) {
            metrics_counter_add(r->failures, 1);
            pthread_mutex_lock(&r->lock);
            snprintf(r->error, sizeof r->error, "%s: %s%s", rc_name(rc), bus_error(r->bus),
                     store_error(r->store));
            pthread_mutex_unlock(&r->lock);
            if (!failing_since) {
                failing_since = clock_mono_ms();
                atomic_store(&r->failing_since, failing_since);
                log_warn("outbox relay cannot publish (%s: %s %s); retrying", rc_name(rc),
                         bus_error(r->bus), store_error(r->store));
            }
            backoff = backoff ? backoff * 2 : 10;
            if (backoff > r->opts.retry_max_ms)
                backoff = r->opts.retry_max_ms;
            more = false;
            if (stopping)
                clock_sleep_ms(backoff < 100 ? backoff : 100);
            continue;
        }
        if (failing_since) {
            log_info("outbox relay publishing again after %lld ms",
                     (long long)(clock_mono_ms() - failing_since));
            failing_since = 0;
            atomic_store(&r->failing_since, 0);
        }
        backoff = 0;
        if (stopping && !more)
            break; /* flushed */
        if (clock_mono_ms() >= next_purge) {
            outbox_relay_purge(r);
            next_purge = clock_mono_ms() + OUTBOX_PURGE_EVERY_MS;
        }
    }
    if (r->lazy_marks && outbox_relay_mark(r) != RC_OK)
        log_warn("outbox relay: cannot mark what it published (%s); published again on restart",
                 store_error(r->store));
    outbox_relay_free_batch(r);
    return NULL;
}

static void outbox_relay_free(struct outbox_relay *r)
{
    store_close(r->store);
    bus_close(r->bus);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    mem_free(r);
}

int outbox_relay_start(const struct outbox_relay_options *opts, struct outbox_relay **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    struct outbox_relay *r = mem_calloc(1, sizeof *r);
    if (!r)
        return RC_NOMEM;
    r->opts = *opts;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &attr);
    pthread_condattr_destroy(&attr);
    r->published =
        metrics_counter("webtoon_outbox_published_total", "Events the relay handed to the bus", "");
    r->failures = metrics_counter("webtoon_outbox_publish_failures_total",
                                  "Relay passes that failed and were retried", "");
    int rc = store_open(opts->store_url, &r->store, err, errlen);
    /* This connection only reads rows and marks them sent or purges them:
     * a mark a crash loses publishes the rows again, which is harmless, so
     * it need not wait for the disk (one fsync less per pass). */
    if (rc == RC_OK && (rc = store_set_durable(r->store, false)) != RC_OK)
        snprintf(err, errlen, "outbox relay store: %s", store_error(r->store));
    if (rc == RC_OK)
        r->lazy_marks = !store_is_postgres(r->store);
    if (rc == RC_OK)
        rc = bus_open(&opts->bus, &r->bus, err, errlen);
    if (rc == RC_OK && thread_start(&r->thread, "relay", outbox_relay_main, r) != 0) {
        snprintf(err, errlen, "cannot start the outbox relay thread");
        rc = RC_INTERNAL;
    }
    if (rc != RC_OK) {
        outbox_relay_free(r);
        return rc;
    }
    *out = r;
    return RC_OK;
}

void outbox_relay_notify(void *relay)
{
    struct outbox_relay *r = relay;
    atomic_fetch_add(&r->commits, 1);
    pthread_mutex_lock(&r->lock);
    r->pending = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

uint64_t outbox_relay_epoch(struct outbox_relay *r) { return atomic_load(&r->commits); }

int64_t outbox_relay_published_upto(struct outbox_relay *r)
{
    return atomic_load(&r->published_upto);
}

bool outbox_relay_published(struct outbox_relay *r, uint64_t epoch)
{
    return atomic_load(&r->clean_epoch) >= epoch;
}

void outbox_relay_status(struct outbox_relay *r, struct outbox_relay_status *out)
{
    *out = (struct outbox_relay_status){.paused = r->opts.paused};
    int64_t now = clock_mono_ms();
    int64_t since = atomic_load(&r->failing_since), pass = atomic_load(&r->pass_started);
    pthread_mutex_lock(&r->lock);
    if (since) {
        out->failing_ms = now - since;
        snprintf(out->error, sizeof out->error, "%s", r->error);
    } else if (pass && now - pass > OUTBOX_SLOW_PASS_MS) {
        out->failing_ms = now - pass;
        snprintf(out->error, sizeof out->error, "a publish has been waiting on the bus");
    }
    pthread_mutex_unlock(&r->lock);
    out->publishing = !out->paused && out->failing_ms == 0;
}

void outbox_relay_stop(struct outbox_relay *r, int64_t flush_ms)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    r->flush_deadline = clock_mono_ms() + flush_ms;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    outbox_relay_free(r);
}
