/* The idempotent inbox and the consumer loop: each event applied once,
 * transient failures retried, permanent ones kept as dead letters (listed,
 * retried after a fix, dropped), effects found already applied by their
 * business key recorded and passed, progress recorded per batch, stalls
 * reported, and no second effect when the log delivers again (after a
 * restart or a rewind); each handler's run a CONSUMER span continuing the
 * event's trace, current while it runs, so the events it adds are its
 * children; dead letters keep the trace. */
#include "support/test_collector.h"

#include <stdatomic.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/inbox/inbox.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/outbox/outbox.h"
#include "core/store/store_group.h"
#include "core/trace/trace.h"

#define TOPIC "test.events"
#define GROUP "svc"
#define WAIT_MS 10000 /* safety net for asynchronous effects */

struct handler_ctx {
    atomic_int calls;        /* handler invocations, successful or not */
    atomic_int flaky_left;   /* Flaky fails while this is above zero */
    atomic_int commit_hooks; /* commits seen through the consumer's store */
    atomic_int parses;       /* payload parses begun (fail_parse) */
    atomic_int oom_left;     /* fail_parse: parses still to run out of memory */
};

struct fixture {
    char dir[256];
    char url[320];
    char log[320];
    struct store *st;     /* the test's own view of the service database */
    struct store *log_db; /* the test's own view of the event log */
    struct bus *pub;
    struct handler_ctx ctx;
    struct inbox_consumer *consumer;
};

/* Records the effect of <ev>: one row per application. */
static int record_effect(struct store *st, const struct bus_event *ev, const json_t *payload)
{
    struct jx_reader r;
    jx_reader_init(&r, payload);
    int64_t n = jx_int(&r, "n", JX_REQUIRED, 0, 1000000);
    if (r.rc)
        return RC_BAD_EVENT;
    return store_exec(st, "INSERT INTO effects (event_id, n) VALUES ($1, $2)",
                      STORE_ARGS(STORE_TEXT(ev->id), STORE_INT(n)), NULL, NULL, NULL);
}

static int handle_applied(void *ctx, struct store *st, const struct bus_event *ev,
                          const json_t *payload)
{
    atomic_fetch_add(&((struct handler_ctx *)ctx)->calls, 1);
    return record_effect(st, ev, payload);
}

static int handle_flaky(void *ctx, struct store *st, const struct bus_event *ev,
                        const json_t *payload)
{
    struct handler_ctx *c = ctx;
    atomic_fetch_add(&c->calls, 1);
    /* write first, then fail: the rollback must undo the write */
    int rc = record_effect(st, ev, payload);
    if (rc == RC_OK && atomic_fetch_sub(&c->flaky_left, 1) > 0)
        return RC_STORE;
    return rc;
}

static int handle_poison(void *ctx, struct store *st, const struct bus_event *ev,
                         const json_t *payload)
{
    atomic_fetch_add(&((struct handler_ctx *)ctx)->calls, 1);
    (void)record_effect(st, ev, payload); /* rolled back: never seen */
    return inbox_reject(RC_BAD_EVENT, "poison is poison");
}

/* A business key applied before (an effect row with the same n): done. */
static int handle_keyed(void *ctx, struct store *st, const struct bus_event *ev,
                        const json_t *payload)
{
    atomic_fetch_add(&((struct handler_ctx *)ctx)->calls, 1);
    int64_t n = json_integer_value(json_object_get(payload, "n")), seen = 0;
    int rc = store_query_int(st, "SELECT COUNT(*) FROM effects WHERE n = $1",
                             STORE_ARGS(STORE_INT(n)), &seen, NULL);
    if (rc == RC_OK && seen)
        return RC_ALREADY_APPLIED;
    return rc == RC_OK ? record_effect(st, ev, payload) : rc;
}

/* Breaks a uniqueness rule: a permanent error that is not a bad event. */
static int handle_clash(void *ctx, struct store *st, const struct bus_event *ev,
                        const json_t *payload)
{
    (void)ev;
    (void)payload;
    atomic_fetch_add(&((struct handler_ctx *)ctx)->calls, 1);
    int rc = store_exec(st, "INSERT INTO inbox (event_id, handled_at) VALUES ('clash', 0)", NULL, 0,
                        NULL, NULL, NULL);
    return rc == RC_OK ? store_exec(st,
                                    "INSERT INTO inbox (event_id, handled_at) VALUES"
                                    " ('clash', 0)",
                                    NULL, 0, NULL, NULL, NULL)
                       : rc;
}

/* The trace context the last Traced handler ran under (consumer thread;
 * read once its effect is seen). */
static pthread_mutex_t traced_lock = PTHREAD_MUTEX_INITIALIZER;
static struct trace_ctx traced_ctx;

/* Records the context it runs under, its effect, and adds an event. */
static int handle_traced(void *ctx, struct store *st, const struct bus_event *ev,
                         const json_t *payload)
{
    atomic_fetch_add(&((struct handler_ctx *)ctx)->calls, 1);
    pthread_mutex_lock(&traced_lock);
    const struct trace_ctx *now = trace_current();
    traced_ctx = now ? *now : (struct trace_ctx){0};
    pthread_mutex_unlock(&traced_lock);
    json_t *fields = json_pack("{s:s}", "cause", ev->id);
    int rc = fields ? outbox_add(st, "user-1", "Caused", fields, NULL) : RC_NOMEM;
    json_decref(fields);
    return rc == RC_OK ? record_effect(st, ev, payload) : rc;
}

static const struct inbox_handler handlers[] = {
    {"Applied", handle_applied}, {"Flaky", handle_flaky}, {"Poison", handle_poison},
    {"Keyed", handle_keyed},     {"Clash", handle_clash}, {"Traced", handle_traced},
};

static void count_commit(void *ud)
{
    atomic_fetch_add(&((struct handler_ctx *)ud)->commit_hooks, 1);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s/svc.db", f->dir);
    snprintf(f->log, sizeof f->log, "%s/events.db", f->dir);
    char err[256] = "", log_url[400];
    assert_int_equal(store_open(f->url, &f->st, err, sizeof err), RC_OK);
    assert_int_equal(store_migrate(f->st, "inbox", inbox_schema, inbox_schema_len), RC_OK);
    assert_int_equal(store_migrate(f->st, "outbox", outbox_schema, outbox_schema_len), RC_OK);
    assert_int_equal(store_exec(f->st, "CREATE TABLE effects (event_id TEXT NOT NULL, n INTEGER)",
                                NULL, 0, NULL, NULL, NULL),
                     RC_OK);
    struct bus_options bo = {.event_log = f->log, .topic = TOPIC};
    assert_int_equal(bus_open(&bo, &f->pub, err, sizeof err), RC_OK);
    snprintf(log_url, sizeof log_url, "sqlite:%s", f->log);
    assert_int_equal(store_open(log_url, &f->log_db, err, sizeof err), RC_OK);
    *state = f;
    return 0;
}

static void stop_consumer(struct fixture *f)
{
    inbox_consumer_stop(f->consumer);
    f->consumer = NULL;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    stop_consumer(f);
    bus_close(f->pub);
    store_close(f->log_db);
    store_close(f->st);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static struct inbox_consumer_options consumer_options(struct fixture *f)
{
    return (struct inbox_consumer_options){
        .group = GROUP,
        .store_url = f->url,
        .bus = {.event_log = f->log, .topic = TOPIC},
        .handlers = handlers,
        .nhandlers = ARRAY_LEN(handlers),
        .ctx = &f->ctx,
        .poll_interval_ms = 1000,
        .retry_max_ms = 20,
        .retention_ms = 7 * 86400000LL,
        .commit_hook = count_commit,
        .commit_hook_ud = &f->ctx,
    };
}

static void start_consumer_with(struct fixture *f, struct inbox_consumer_options o)
{
    char err[256] = "";
    if (inbox_consumer_start(&o, &f->consumer, err, sizeof err) != RC_OK)
        fail_msg("inbox_consumer_start: %s", err);
}

static void start_consumer(struct fixture *f) { start_consumer_with(f, consumer_options(f)); }

static void publish_traced(struct fixture *f, const char *id, const char *type, const char *payload,
                           const char *traceparent)
{
    struct bus_event e = {
        .id = id, .key = "user-1", .type = type, .payload = payload, .traceparent = traceparent};
    assert_int_equal(bus_publish(f->pub, &e, 1), RC_OK);
}

static void publish(struct fixture *f, const char *id, const char *type, const char *payload)
{
    publish_traced(f, id, type, payload, NULL);
}

/* Publishes an event of <type> whose payload carries <n>. */
static void publish_n(struct fixture *f, const char *id, const char *type, int n)
{
    char payload[128];
    snprintf(payload, sizeof payload, "{\"eventType\":\"%s\",\"eventId\":\"%s\",\"n\":%d}", type,
             id, n);
    publish(f, id, type, payload);
}

static int64_t query_int(struct store *st, const char *sql, const char *arg)
{
    int64_t v = -1;
    int rc = arg ? store_query_int(st, sql, STORE_ARGS(STORE_TEXT(arg)), &v, NULL)
                 : store_query_int(st, sql, NULL, 0, &v, NULL);
    if (rc != RC_OK)
        fail_msg("%s: %s", sql, store_error(st));
    return v;
}

static int64_t effects(struct fixture *f)
{
    return query_int(f->st, "SELECT COUNT(*) FROM effects", NULL);
}

static int64_t effects_of(struct fixture *f, const char *id)
{
    return query_int(f->st, "SELECT COUNT(*) FROM effects WHERE event_id = $1", id);
}

static bool claimed(struct fixture *f, const char *id)
{
    return query_int(f->st, "SELECT COUNT(*) FROM inbox WHERE event_id = $1", id) == 1;
}

struct wait_effects {
    struct fixture *f;
    int64_t want;
};

static bool effects_reached(void *ud)
{
    struct wait_effects *w = ud;
    return effects(w->f) >= w->want;
}

static void wait_effects(struct fixture *f, int64_t want)
{
    struct wait_effects w = {f, want};
    assert_true(test_wait_until(effects_reached, &w, WAIT_MS));
}

/* True when the group's committed offset is the end of the log. */
static bool all_committed(void *ud)
{
    struct fixture *f = ud;
    int64_t last = query_int(f->log_db, "SELECT COALESCE(MAX(seq), 0) FROM events", NULL);
    int64_t committed = -1;
    bool found = false;
    assert_int_equal(store_query_int(f->log_db,
                                     "SELECT last_seq FROM consumer_offsets WHERE grp = $1",
                                     STORE_ARGS(STORE_TEXT(GROUP)), &committed, &found),
                     RC_OK);
    return found && committed == last;
}

static uint64_t counter(const char *name)
{
    return metrics_counter_value(metrics_counter(name, "", "group=\"" GROUP "\""));
}

/* For test_wait_until: the consumed counter reached want->value. */
struct counter_goal {
    uint64_t value;
};
static bool consumed_reached(void *ud)
{
    return counter("webtoon_consumer_events_consumed_total") >= ((struct counter_goal *)ud)->value;
}

static void test_claim(void **state)
{
    struct fixture *f = *state;
    bool fresh = false;
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(inbox_claim(f->st, "e1", &fresh), RC_OK);
    assert_true(fresh);
    assert_int_equal(inbox_claim(f->st, "e1", &fresh), RC_OK);
    assert_false(fresh);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(inbox_claim(f->st, "e1", &fresh), RC_OK);
    assert_false(fresh);
    /* a claim rolled back with its transaction never happened */
    assert_int_equal(inbox_claim(f->st, "e2", &fresh), RC_OK);
    assert_true(fresh);
    store_rollback(f->st);
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(inbox_claim(f->st, "e2", &fresh), RC_OK);
    assert_true(fresh);
    assert_int_equal(store_commit(f->st), RC_OK);
}

static void test_applies_each_event_once(void **state)
{
    struct fixture *f = *state;
    uint64_t applied = counter("webtoon_consumer_events_applied_total");
    start_consumer(f);
    publish_n(f, "a1", "Applied", 1);
    publish_n(f, "a2", "Applied", 2);
    publish_n(f, "a1", "Applied", 1); /* the same id again: the log keeps one */
    publish_n(f, "a3", "Applied", 3);
    wait_effects(f, 3);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(effects_of(f, "a1"), 1);
    assert_int_equal(effects_of(f, "a2"), 1);
    assert_int_equal(effects_of(f, "a3"), 1);
    assert_int_equal(query_int(f->st, "SELECT SUM(n) FROM effects", NULL), 6);
    assert_true(claimed(f, "a1") && claimed(f, "a2") && claimed(f, "a3"));
    assert_int_equal(atomic_load(&f->ctx.calls), 3);
    assert_true(atomic_load(&f->ctx.commit_hooks) >= 1);
    assert_int_equal(counter("webtoon_consumer_events_applied_total") - applied, 3);
}

static uint64_t delays(void)
{
    return metrics_histogram_count(
        metrics_histogram("webtoon_consumer_event_delay_seconds", "", "group=\"" GROUP "\""));
}

/* Every event read counts as consumed once its offset is committed; only
 * the ones applied have a delay. */
static void test_unknown_types_not_claimed(void **state)
{
    struct fixture *f = *state;
    uint64_t consumed = counter("webtoon_consumer_events_consumed_total"), delayed = delays();
    start_consumer(f);
    publish_n(f, "ignored", "SomeoneElses", 1);
    publish_n(f, "mine", "Applied", 2);
    wait_effects(f, 1);
    assert_true(test_wait_until(all_committed, f, WAIT_MS)); /* moved past both */
    assert_false(claimed(f, "ignored"));
    assert_true(claimed(f, "mine"));
    assert_int_equal(atomic_load(&f->ctx.calls), 1);
    /* Counted just after the offset's commit, which the test may see first. */
    struct counter_goal goal = {consumed + 2};
    assert_true(test_wait_until(consumed_reached, &goal, WAIT_MS));
    assert_int_equal(counter("webtoon_consumer_events_consumed_total") - consumed, 2);
    assert_int_equal(delays() - delayed, 1);
}

static void test_failing_handler_retried(void **state)
{
    struct fixture *f = *state;
    uint64_t retries = counter("webtoon_consumer_handler_retries_total");
    atomic_store(&f->ctx.flaky_left, 2);
    start_consumer(f);
    publish_n(f, "flaky", "Flaky", 5);
    publish_n(f, "after", "Applied", 6);
    wait_effects(f, 2);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    /* the two failed attempts left nothing behind */
    assert_int_equal(effects_of(f, "flaky"), 1);
    assert_int_equal(effects_of(f, "after"), 1);
    assert_int_equal(atomic_load(&f->ctx.calls), 4); /* 3 for flaky, 1 for after */
    assert_int_equal(counter("webtoon_consumer_handler_retries_total") - retries, 2);
}

static int64_t dead_letters(struct fixture *f)
{
    return query_int(f->st, "SELECT COUNT(*) FROM dead_letters", NULL);
}

static void test_poison_kept_as_dead_letters(void **state)
{
    struct fixture *f = *state;
    uint64_t dead = counter("webtoon_consumer_events_dead_lettered_total");
    start_consumer(f);
    publish_n(f, "poison", "Poison", 1);               /* the handler gives up */
    publish(f, "garbage", "Applied", "{not json");     /* does not parse */
    publish(f, "array", "Applied", "[1,2]");           /* not an object */
    publish(f, "dup", "Applied", "{\"n\":1,\"n\":2}"); /* duplicate key */
    publish(f, "no-n", "Applied", "{\"m\":1}");        /* the handler's RC_BAD_EVENT */
    publish_n(f, "good", "Applied", 7);
    wait_effects(f, 1);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(effects(f), 1);
    assert_int_equal(effects_of(f, "good"), 1);
    const char *poison[] = {"poison", "garbage", "array", "dup", "no-n"};
    for (size_t i = 0; i < ARRAY_LEN(poison); i++)
        if (!claimed(f, poison[i]))
            fail_msg("%s was not recorded", poison[i]);
    assert_int_equal(counter("webtoon_consumer_events_dead_lettered_total") - dead, 5);
    /* a poison event is tried once, not retried */
    assert_int_equal(atomic_load(&f->ctx.calls), 3); /* poison, no-n, good */
    /* each kept with its event, the error and why */
    assert_int_equal(dead_letters(f), 5);
    assert_int_equal(query_int(f->st,
                               "SELECT COUNT(*) FROM dead_letters WHERE event_id = $1 AND"
                               " error = 'BAD_EVENT' AND detail = 'poison is poison' AND"
                               " type = 'Poison' AND payload LIKE '%\"n\":1%'",
                               "poison"),
                     1);
    assert_int_equal(query_int(f->st,
                               "SELECT COUNT(*) FROM dead_letters WHERE event_id = $1 AND"
                               " detail LIKE 'the payload is not a JSON object%'",
                               "garbage"),
                     1);
}

/* Events that wait together are applied together: one transaction (one
 * commit, one fsync) for the lot, with their progress; a poison event
 * among them is undone alone and runs once, the others stand. */
static void test_waiting_events_share_a_commit(void **state)
{
    struct fixture *f = *state;
    char id[32];
    for (int i = 1; i <= 40; i++) {
        snprintf(id, sizeof id, "g%d", i);
        publish_n(f, id, i == 20 ? "Poison" : "Applied", i);
    }
    start_consumer(f);
    wait_effects(f, 39);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(effects(f), 39);
    assert_int_equal(effects_of(f, "g20"), 0);
    assert_int_equal(dead_letters(f), 1);
    assert_int_equal(atomic_load(&f->ctx.calls), 40); /* each handler ran once */
    /* g1..g19 in one commit, the dead letter in one, g21..g40 in one */
    assert_int_equal(atomic_load(&f->ctx.commit_hooks), 3);
    assert_int_equal(query_int(f->st, "SELECT applied FROM consumer_progress", NULL),
                     query_int(f->log_db, "SELECT MAX(seq) FROM events", NULL));
}

/* A unit of the command writer that waits at a gate the test holds, then
 * writes a row of its own (a command's work). */
struct gated_command {
    struct store_group_unit unit;
    pthread_mutex_t *gate;
};

static int gated_command_run(struct store *st, void *ud)
{
    struct gated_command *g = ud;
    if (g->gate) {
        pthread_mutex_lock(g->gate);
        pthread_mutex_unlock(g->gate);
    }
    return store_exec(st, "INSERT INTO effects (event_id, n) VALUES ('command', -1)", NULL, 0, NULL,
                      NULL, NULL);
}

struct writer_queue {
    struct store_group *writer;
    size_t want;
};

static bool writer_queue_reached(void *ud)
{
    struct writer_queue *q = ud;
    return store_group_waiting(q->writer) >= q->want;
}

static void count_writer_commit(void *ud) { atomic_fetch_add((atomic_int *)ud, 1); }

/* With the service's command writer, a group of events is one unit of the
 * writer's transaction: the events and the commands waiting beside them
 * share one commit, and the consumer's own connection commits nothing. */
static void test_events_share_the_command_writers_commit(void **state)
{
    struct fixture *f = *state;
    atomic_int writer_commits = 0;
    struct store_group *writer;
    char err[256] = "", id[32];
    assert_int_equal(
        store_group_start(f->url, count_writer_commit, &writer_commits, &writer, err, sizeof err),
        RC_OK);
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    struct gated_command busy = {.unit = {.run = gated_command_run, .ud = &busy}, .gate = &gate};
    struct gated_command command = {.unit = {.run = gated_command_run, .ud = &command}};
    store_group_submit(writer, &busy.unit); /* the writer is busy with it, at the gate */
    for (int i = 1; i <= 10; i++) {
        snprintf(id, sizeof id, "w%d", i);
        publish_n(f, id, "Applied", i);
    }
    struct inbox_consumer_options o = consumer_options(f);
    o.writer = writer;
    start_consumer_with(f, o);
    struct writer_queue queue = {writer, 1};
    assert_true(test_wait_until(writer_queue_reached, &queue, WAIT_MS)); /* the events' unit */
    store_group_submit(writer, &command.unit);
    pthread_mutex_unlock(&gate);
    wait_effects(f, 12);
    store_group_wait(writer, &command.unit);
    assert_int_equal(command.unit.rc, RC_OK);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(effects(f), 12);                  /* both commands, each event once */
    assert_int_equal(atomic_load(&writer_commits), 2); /* the busy one; the events with the other */
    assert_int_equal(atomic_load(&f->ctx.commit_hooks), 0);
    assert_int_equal(query_int(f->st, "SELECT applied FROM consumer_progress", NULL),
                     query_int(f->log_db, "SELECT MAX(seq) FROM events", NULL));
    stop_consumer(f);
    store_group_stop(writer);
}

static int list_one(void *ud, const struct inbox_dead_letter *d)
{
    snprintf(ud, 64, "%s %s %lld", d->event_id, d->error, (long long)d->attempts);
    return 0;
}

/* An operator lists a dead letter, retries it in vain, repairs it and
 * retries it for good; another one is dropped. */
static void test_dead_letters_retry_and_drop(void **state)
{
    struct fixture *f = *state;
    start_consumer(f);
    publish(f, "broken", "Applied", "{\"m\":1}"); /* no n: cannot apply */
    publish(f, "junk", "Applied", "junk");
    publish_n(f, "after", "Applied", 9);
    wait_effects(f, 1);
    assert_true(test_wait_until(all_committed, f, WAIT_MS)); /* moved on */
    stop_consumer(f);
    assert_int_equal(dead_letters(f), 2);

    char seen[64] = "";
    assert_int_equal(store_exec(f->st, "DELETE FROM dead_letters WHERE event_id = 'junk'", NULL, 0,
                                NULL, NULL, NULL),
                     RC_OK);
    assert_int_equal(inbox_dead_list(f->st, list_one, seen), RC_OK);
    assert_string_equal(seen, "broken BAD_EVENT 1");

    char err[256] = "";
    struct handler_ctx ctx = {0};
    assert_int_equal(inbox_dead_retry(f->st, handlers, ARRAY_LEN(handlers), &ctx, "broken", NULL,
                                      err, sizeof err),
                     RC_BAD_EVENT);
    assert_int_equal(inbox_dead_list(f->st, list_one, seen), RC_OK);
    assert_string_equal(seen, "broken BAD_EVENT 2");
    assert_int_equal(inbox_dead_retry(f->st, handlers, ARRAY_LEN(handlers), &ctx, "broken",
                                      "{\"n\":41}", err, sizeof err),
                     RC_OK);
    assert_int_equal(effects_of(f, "broken"), 1);
    assert_int_equal(query_int(f->st, "SELECT n FROM effects WHERE event_id = $1", "broken"), 41);
    assert_int_equal(dead_letters(f), 0);
    assert_int_equal(inbox_dead_retry(f->st, handlers, ARRAY_LEN(handlers), &ctx, "broken", NULL,
                                      err, sizeof err),
                     RC_NOT_FOUND);

    start_consumer(f);
    publish_n(f, "doomed", "Poison", 3);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(dead_letters(f), 1);
    assert_int_equal(inbox_dead_drop(f->st, "doomed"), RC_OK);
    assert_int_equal(inbox_dead_drop(f->st, "doomed"), RC_NOT_FOUND);
    assert_int_equal(dead_letters(f), 0);
}

/* A handler that finds its business key done (the inbox id long purged):
 * recorded, no second effect, no dead letter; a broken rule (a uniqueness
 * violation) is permanent, not retried forever. */
static void test_already_applied_and_permanent_errors(void **state)
{
    struct fixture *f = *state;
    uint64_t duplicates = counter("webtoon_consumer_events_duplicate_total");
    start_consumer(f);
    publish_n(f, "k1", "Keyed", 5);
    publish_n(f, "k2", "Keyed", 5); /* same business key, new event id */
    publish_n(f, "c1", "Clash", 0);
    publish_n(f, "end", "Applied", 6);
    wait_effects(f, 2);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM effects WHERE n = 5", NULL), 1);
    assert_true(claimed(f, "k2"));
    assert_int_equal(counter("webtoon_consumer_events_duplicate_total") - duplicates, 1);
    assert_int_equal(query_int(f->st,
                               "SELECT COUNT(*) FROM dead_letters WHERE event_id = $1 AND"
                               " error = 'CONFLICT'",
                               "c1"),
                     1);
    assert_int_equal(dead_letters(f), 1);
    assert_int_equal(atomic_load(&f->ctx.calls), 4); /* each tried once */
}

/* After each batch the consumer records how far it applied. */
static void test_progress_recorded(void **state)
{
    struct fixture *f = *state;
    start_consumer(f);
    publish_n(f, "p1", "Applied", 1);
    publish_n(f, "other", "SomeoneElses", 2);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    int64_t last = query_int(f->log_db, "SELECT MAX(seq) FROM events", NULL);
    assert_int_equal(query_int(f->st, "SELECT applied FROM consumer_progress WHERE part = 0", NULL),
                     last);
}

static bool is_stalled(void *ud)
{
    struct inbox_consumer_status st;
    inbox_consumer_status(ud, &st);
    return st.stalled && strstr(st.error, "Flaky") != NULL;
}

static bool is_moving(void *ud)
{
    struct inbox_consumer_status st;
    inbox_consumer_status(ud, &st);
    return !st.stalled && !*st.error;
}

static bool stalled_gauge_up(void *ud)
{
    (void)ud;
    return metrics_gauge_value(
               metrics_gauge("webtoon_consumer_stalled", "", "group=\"" GROUP "\"")) == 1;
}

static bool lag_gauge_is_two(void *ud)
{
    (void)ud;
    return metrics_gauge_value(metrics_gauge("webtoon_consumer_lag", "", "group=\"" GROUP "\"")) ==
           2;
}

/* A handler that keeps failing with a transient error stalls the consumer:
 * it says so (status, gauge), the lag it measures keeps growing while it
 * retries, and it recovers once the handler works. */
static void test_stall_reported(void **state)
{
    struct fixture *f = *state;
    struct inbox_consumer_options o = consumer_options(f);
    o.stall_ms = 200;
    atomic_store(&f->ctx.flaky_left, 1000000);
    start_consumer_with(f, o);
    publish_n(f, "stuck", "Flaky", 1);
    assert_true(test_wait_until(is_stalled, f->consumer, WAIT_MS));
    assert_true(test_wait_until(stalled_gauge_up, NULL, WAIT_MS));
    publish_n(f, "behind", "Applied", 2);
    assert_true(test_wait_until(lag_gauge_is_two, NULL, WAIT_MS));
    atomic_store(&f->ctx.flaky_left, 0);
    assert_true(test_wait_until(is_moving, f->consumer, WAIT_MS));
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(effects_of(f, "stuck"), 1);
}

/* A restart resumes after the committed offset; a rewind delivers
 * everything again and the inbox makes that harmless. */
static void test_restart_and_rewind(void **state)
{
    struct fixture *f = *state;
    start_consumer(f);
    publish_n(f, "r1", "Applied", 1);
    publish_n(f, "r2", "Applied", 2);
    wait_effects(f, 2);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    stop_consumer(f);

    publish_n(f, "r3", "Applied", 3); /* while nobody consumes */
    start_consumer(f);
    wait_effects(f, 3);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(atomic_load(&f->ctx.calls), 3); /* r1, r2 not handed over again */
    stop_consumer(f);

    uint64_t duplicates = counter("webtoon_consumer_events_duplicate_total");
    assert_int_equal(bus_rewind(f->pub, GROUP), RC_OK);
    assert_false(all_committed(f));
    start_consumer(f);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(counter("webtoon_consumer_events_duplicate_total") - duplicates, 3);
    assert_int_equal(effects(f), 3);
    assert_int_equal(effects_of(f, "r1"), 1);
    assert_int_equal(atomic_load(&f->ctx.calls), 3); /* the inbox stopped them before */
}

struct calls_wait {
    struct handler_ctx *ctx;
    int want;
};

static bool calls_reached(void *ud)
{
    struct calls_wait *w = ud;
    return atomic_load(&w->ctx->calls) >= w->want;
}

/* Stopping while a handler keeps failing returns promptly and loses
 * nothing: the event is applied after the next start. */
static void test_stop_while_retrying(void **state)
{
    struct fixture *f = *state;
    atomic_store(&f->ctx.flaky_left, 1000000);
    start_consumer(f);
    publish_n(f, "stuck", "Flaky", 1);
    struct calls_wait w = {&f->ctx, 3};
    assert_true(test_wait_until(calls_reached, &w, WAIT_MS));
    int64_t start = test_now_ms();
    stop_consumer(f);
    assert_true(test_now_ms() - start < 2000);
    assert_int_equal(effects(f), 0);
    assert_false(claimed(f, "stuck"));
    assert_false(all_committed(f));

    atomic_store(&f->ctx.flaky_left, 0);
    start_consumer(f);
    wait_effects(f, 1);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(effects_of(f, "stuck"), 1);
}

/* The consumer's parse_hook: while oom_left is above zero, the parse about
 * to begin runs out of memory at its first allocation (on the consumer
 * thread only, so nothing else the process does at that moment is hit). */
static void fail_parse(void *ctx, const struct bus_event *ev)
{
    struct handler_ctx *c = ctx;
    (void)ev;
    atomic_fetch_add(&c->parses, 1);
    if (atomic_fetch_sub(&c->oom_left, 1) > 0)
        mem_thread_fail_next(1);
}

/* Running out of memory while parsing a valid payload is a transient
 * failure: the event is retried and applied once, never skipped as poison. */
static void test_oom_while_parsing_is_retried(void **state)
{
    struct fixture *f = *state;
    uint64_t retries = counter("webtoon_consumer_handler_retries_total");
    uint64_t skipped = counter("webtoon_consumer_events_dead_lettered_total");
    atomic_store(&f->ctx.oom_left, 2);
    struct inbox_consumer_options o = consumer_options(f);
    o.parse_hook = fail_parse;
    start_consumer_with(f, o);
    publish_n(f, "valid", "Applied", 2);
    wait_effects(f, 1);
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    assert_int_equal(effects_of(f, "valid"), 1);
    assert_int_equal(atomic_load(&f->ctx.parses), 3); /* two out of memory, then applied */
    assert_int_equal(atomic_load(&f->ctx.calls), 1);  /* the handler saw it parsed, once */
    assert_int_equal(counter("webtoon_consumer_handler_retries_total") - retries, 2);
    assert_int_equal(counter("webtoon_consumer_events_dead_lettered_total"), skipped);
    assert_int_equal(dead_letters(f), 0);
}

static void test_start_failures(void **state)
{
    struct fixture *f = *state;
    struct inbox_consumer_options o = consumer_options(f);
    struct inbox_consumer *c = (struct inbox_consumer *)1;
    char err[256] = "";
    o.group = "not a token";
    assert_int_equal(inbox_consumer_start(&o, &c, err, sizeof err), RC_INVALID);
    assert_null(c);
    assert_non_null(strstr(err, "not a token"));
    o = consumer_options(f);
    o.store_url = "nosuch:x";
    c = (struct inbox_consumer *)1;
    assert_int_equal(inbox_consumer_start(&o, &c, err, sizeof err), RC_CONFIG);
    assert_null(c);
    inbox_consumer_stop(NULL); /* does nothing */
}

/* --- tracing ------------------------------------------------------------------------ */

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

static struct trace_ctx last_traced(void)
{
    pthread_mutex_lock(&traced_lock);
    struct trace_ctx c = traced_ctx;
    pthread_mutex_unlock(&traced_lock);
    return c;
}

/* The exported span whose messaging.message.id is <id>, or NULL. */
static json_t *span_of_event(json_t *spans, const char *id)
{
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp)
    {
        const char *mid = test_span_attr(sp, "messaging.message.id");
        if (mid && !strcmp(mid, id))
            return sp;
    }
    return NULL;
}

struct wait_span {
    struct test_collector *coll;
    const char *id;
};

static bool span_exported(void *ud)
{
    struct wait_span *w = ud;
    json_t *spans = test_collector_spans(w->coll);
    bool found = span_of_event(spans, w->id) != NULL;
    json_decref(spans);
    return found;
}

static void start_export(struct test_collector *coll)
{
    test_collector_start(coll);
    char endpoint[64], err[256];
    test_collector_endpoint(coll, endpoint, sizeof endpoint);
    struct trace_export_options o = {
        .endpoint = endpoint, .service_name = "svc", .flush_interval_ms = 20};
    assert_int_equal(trace_export_start(&o, err, sizeof err), RC_OK);
}

struct caused {
    char *tp, *parent;
    bool found;
};

static int caused_take(void *ud, const struct store_row *row)
{
    struct caused *c = ud;
    snprintf(c->tp, 128, "%s", row->cols[0].s);
    snprintf(c->parent, 64, "%s", row->cols[1].s);
    c->found = true;
    return 0;
}

/* The traceparent and parent span of the outbox row caused by <id>. */
static void caused_row(struct fixture *f, const char *id, char *tp, char *parent)
{
    struct caused r = {tp, parent, false};
    char like[128];
    snprintf(like, sizeof like, "%%\"cause\":\"%s\"%%", id);
    assert_int_equal(store_exec(f->st,
                                "SELECT traceparent, trace_parent_span FROM outbox"
                                " WHERE payload LIKE $1",
                                STORE_ARGS(STORE_TEXT(like)), caused_take, &r, NULL),
                     RC_OK);
    assert_true(r.found);
}

static void test_consumer_span_continues_the_trace(void **state)
{
    struct fixture *f = *state;
    struct test_collector coll;
    start_export(&coll);
    start_consumer(f);
    publish_traced(f, "t1", "Traced", "{\"n\":1}", "00-" TID "-" SID "-01");
    wait_effects(f, 1);
    struct trace_ctx seen = last_traced();
    assert_string_equal(seen.trace_id, TID); /* the producer's trace */
    assert_string_not_equal(seen.span_id, SID);
    assert_true(trace_ctx_is_valid(&seen) && seen.sampled);

    /* the event the handler added is published by a child of its span */
    char tp[128], parent[64];
    caused_row(f, "t1", tp, parent);
    assert_memory_equal(tp, "00-" TID "-", 36);
    assert_string_equal(parent, seen.span_id);

    struct wait_span w = {&coll, "t1"};
    assert_true(test_wait_until(span_exported, &w, WAIT_MS));
    json_t *spans = test_collector_spans(&coll);
    json_t *sp = span_of_event(spans, "t1");
    assert_string_equal(test_str(sp, "name"), "process Traced");
    assert_int_equal(json_integer_value(json_object_get(sp, "kind")), 5); /* CONSUMER */
    assert_string_equal(test_str(sp, "traceId"), TID);
    assert_string_equal(test_str(sp, "spanId"), seen.span_id);
    assert_string_equal(test_str(sp, "parentSpanId"), SID);
    json_t *link = json_array_get(json_object_get(sp, "links"), 0);
    assert_string_equal(test_str(link, "traceId"), TID);
    assert_string_equal(test_str(link, "spanId"), SID);
    assert_string_equal(test_span_attr(sp, "messaging.system"), "embedded");
    assert_string_equal(test_span_attr(sp, "messaging.destination.name"), TOPIC);
    assert_string_equal(test_span_attr(sp, "messaging.operation.type"), "process");
    json_decref(spans);
    stop_consumer(f);
    trace_export_stop(2000);
    test_collector_stop(&coll);
}

static void test_events_without_or_with_bad_trace(void **state)
{
    struct fixture *f = *state;
    struct test_collector coll;
    start_export(&coll);
    start_consumer(f);
    publish_n(f, "bare", "Traced", 1); /* from a producer that knows nothing of traces */
    wait_effects(f, 1);
    struct trace_ctx bare = last_traced();
    assert_true(trace_ctx_is_valid(&bare) && bare.sampled); /* a trace of its own */
    publish_traced(f, "bad", "Traced", "{\"n\":2}", "00-" TID "-" SID "-1x");
    wait_effects(f, 2);
    struct trace_ctx bad = last_traced();
    assert_true(trace_ctx_is_valid(&bad));
    assert_string_not_equal(bad.trace_id, TID);
    assert_string_not_equal(bad.trace_id, bare.trace_id);
    /* unsampled: the trace goes on, no span is exported */
    publish_traced(f, "quiet", "Traced", "{\"n\":3}", "00-" TID "-" SID "-00");
    publish_traced(f, "last", "Traced", "{\"n\":4}", NULL);
    wait_effects(f, 4);
    char tp[128], parent[64];
    caused_row(f, "quiet", tp, parent);
    assert_memory_equal(tp, "00-" TID "-", 36);
    assert_string_equal(tp + 53, "00"); /* still unsampled downstream */
    struct wait_span w = {&coll, "last"};
    assert_true(test_wait_until(span_exported, &w, WAIT_MS));
    stop_consumer(f);
    trace_export_stop(2000);
    json_t *spans = test_collector_spans(&coll);
    json_t *sp = span_of_event(spans, "bare");
    assert_non_null(sp);
    assert_null(json_object_get(sp, "parentSpanId"));
    assert_null(json_object_get(sp, "links"));
    assert_non_null(span_of_event(spans, "bad"));
    assert_null(span_of_event(spans, "quiet"));
    json_decref(spans);
    test_collector_stop(&coll);
}

static int list_traceparent(void *ud, const struct inbox_dead_letter *d)
{
    snprintf(ud, 128, "%s %s", d->event_id, d->traceparent);
    return 0;
}

static void test_dead_letters_keep_the_trace(void **state)
{
    struct fixture *f = *state;
    start_consumer(f);
    publish_traced(f, "sick", "Poison", "{\"n\":5}", "00-" TID "-" SID "-01");
    assert_true(test_wait_until(all_committed, f, WAIT_MS));
    stop_consumer(f);
    char seen[128] = "";
    assert_int_equal(inbox_dead_list(f->st, list_traceparent, seen), RC_OK);
    assert_string_equal(seen, "sick 00-" TID "-" SID "-01");
    /* a retry, here with a handler that takes it, continues the trace */
    const struct inbox_handler cured[] = {{"Poison", handle_traced}};
    struct handler_ctx ctx = {0};
    char err[256] = "";
    assert_int_equal(inbox_dead_retry(f->st, cured, 1, &ctx, "sick", NULL, err, sizeof err), RC_OK);
    struct trace_ctx retried = last_traced();
    assert_string_equal(retried.trace_id, TID);
    assert_null(trace_current()); /* and leaves no context behind */
    char tp[128], parent[64];
    caused_row(f, "sick", tp, parent);
    assert_string_equal(parent, retried.span_id);
}

static int group_setup(void **state)
{
    (void)state;
    mem_install_json_hooks();
    log_init("test", LOG_ERROR + 1); /* poison and retries are logged: expected here */
    return 0;
}

static bool old_ids_purged(void *ud)
{
    struct fixture *f = ud;
    return query_int(f->st, "SELECT COUNT(*) FROM inbox WHERE event_id LIKE 'old-%'", NULL) == 0;
}

/* Ids of events handled longer ago than the retention are purged (the
 * consumer purges when it starts, then every minute); recent ones stay, so
 * a redelivery within the retention still has no second effect. */
static void test_purge_after_retention(void **state)
{
    struct fixture *f = *state;
    int64_t day = 86400000LL, now = clock_wall_ms();
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "old-%d", i);
        assert_int_equal(
            store_exec(f->st, "INSERT INTO inbox (event_id, handled_at) VALUES ($1, $2)",
                       STORE_ARGS(STORE_TEXT(id), STORE_INT(now - 8 * day)), NULL, NULL, NULL),
            RC_OK);
    }
    assert_int_equal(store_exec(f->st, "INSERT INTO inbox (event_id, handled_at) VALUES ($1, $2)",
                                STORE_ARGS(STORE_TEXT("recent"), STORE_INT(now - day)), NULL, NULL,
                                NULL),
                     RC_OK);
    struct inbox_consumer_options o = consumer_options(f);
    o.retention_ms = 7 * day;
    start_consumer_with(f, o);
    assert_true(test_wait_until(old_ids_purged, f, WAIT_MS));
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM inbox WHERE event_id = $1", "recent"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_applies_each_event_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_events_share_a_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_share_the_command_writers_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_types_not_claimed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_handler_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poison_kept_as_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters_retry_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_already_applied_and_permanent_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_and_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_while_retrying, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom_while_parsing_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_after_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_span_continues_the_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_without_or_with_bad_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters_keep_the_trace, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
