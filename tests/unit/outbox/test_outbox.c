/* The transactional outbox and its relay: events exist exactly when their
 * transaction commits, reach the bus in order, survive a bus outage, and
 * sent rows are purged after the retention period; each is published by a
 * PRODUCER span below the adding thread's trace context, whose traceparent
 * the event carries and which the relay submits once the event is out. */
#include "support/test_collector.h"

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/outbox/outbox.h"
#include "core/trace/trace.h"

#define TOPIC "test.events"
#define WAIT_MS 10000 /* safety net for asynchronous effects */

struct fixture {
    char dir[256];
    char url[320];
    char log[320];
    struct store *st;
    struct bus *sub; /* reads the topic from the beginning */
    char ids[256][ID_UUID_LEN + 1];
    size_t nids; /* events seen on the bus so far, in order */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s/svc.db", f->dir);
    snprintf(f->log, sizeof f->log, "%s/events.db", f->dir);
    char err[256] = "";
    assert_int_equal(store_open(f->url, &f->st, err, sizeof err), RC_OK);
    assert_int_equal(store_migrate(f->st, "outbox", outbox_schema, outbox_schema_len), RC_OK);
    struct bus_options bo = {.event_log = f->log, .topic = TOPIC};
    assert_int_equal(bus_open(&bo, &f->sub, err, sizeof err), RC_OK);
    assert_int_equal(bus_subscribe(f->sub, NULL, BUS_FROM_BEGINNING), RC_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bus_close(f->sub);
    store_close(f->st);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static struct outbox_relay_options relay_options(struct fixture *f)
{
    return (struct outbox_relay_options){
        .store_url = f->url,
        .bus = {.event_log = f->log, .topic = TOPIC},
        .poll_interval_ms = 60000, /* only a notify or the start makes it look */
        .retry_max_ms = 20,
        .retention_ms = 3600000,
    };
}

static struct outbox_relay *start_relay(const struct outbox_relay_options *o)
{
    struct outbox_relay *r = NULL;
    char err[256] = "";
    if (outbox_relay_start(o, &r, err, sizeof err) != RC_OK)
        fail_msg("outbox_relay_start: %s", err);
    return r;
}

/* Adds one event in its own transaction; writes its id into <id>. */
static void add_event(struct store *st, const char *key, int n, char *id)
{
    json_t *fields = json_pack("{s:s, s:i}", "userId", key, "n", n);
    assert_int_equal(store_begin(st), RC_OK);
    assert_int_equal(outbox_add(st, key, "Tested", fields, id), RC_OK);
    assert_int_equal(store_commit(st), RC_OK);
    json_decref(fields);
}

static int64_t query_int(struct store *st, const char *sql)
{
    int64_t v = -1;
    if (store_query_int(st, sql, NULL, 0, &v, NULL) != RC_OK)
        fail_msg("%s: %s", sql, store_error(st));
    return v;
}

static int64_t backlog(struct store *st)
{
    int64_t n = -1;
    assert_int_equal(outbox_backlog(st, &n), RC_OK);
    return n;
}

/* Reads what the bus has for the fixture's subscriber, appending ids. */
static void drain_bus(struct fixture *f)
{
    const struct bus_event *ev = NULL;
    size_t n = 0;
    do {
        assert_int_equal(bus_poll(f->sub, 0, &ev, &n), RC_OK);
        for (size_t i = 0; i < n; i++) {
            assert_true(f->nids < ARRAY_LEN(f->ids));
            snprintf(f->ids[f->nids++], ID_UUID_LEN + 1, "%s", ev[i].id);
        }
    } while (n > 0);
}

struct bus_wait {
    struct fixture *f;
    size_t want;
};

static bool bus_has(void *ud)
{
    struct bus_wait *w = ud;
    drain_bus(w->f);
    return w->f->nids >= w->want;
}

static bool backlog_empty(void *ud) { return backlog(((struct fixture *)ud)->st) == 0; }

static void test_add_in_transaction(void **state)
{
    struct fixture *f = *state;
    char id[ID_UUID_LEN + 1] = "";
    json_t *fields = json_pack("{s:s, s:i}", "userId", "user-1", "points", 5);
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(outbox_add(f->st, "user-1", "Joined", fields, id), RC_OK);
    assert_int_equal(outbox_add(f->st, "user-1", "Charged", fields, NULL), RC_OK);
    assert_int_equal(store_commit(f->st), RC_OK);
    json_decref(fields);
    assert_int_equal(strlen(id), ID_UUID_LEN);
    assert_true(id_is_token(id, strlen(id), ID_UUID_LEN));
    assert_int_equal(backlog(f->st), 2);
    int64_t n = 0;
    assert_int_equal(
        store_query_int(f->st,
                        "SELECT COUNT(*) FROM outbox WHERE event_id = $1 AND key = $2"
                        " AND type = $3 AND sent_at IS NULL",
                        STORE_ARGS(STORE_TEXT(id), STORE_TEXT("user-1"), STORE_TEXT("Joined")), &n,
                        NULL),
        RC_OK);
    assert_int_equal(n, 1);
}

static void test_rollback_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    json_t *fields = json_pack("{s:s}", "userId", "user-1");
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(outbox_add(f->st, "user-1", "Joined", fields, NULL), RC_OK);
    store_rollback(f->st);
    json_decref(fields);
    assert_int_equal(backlog(f->st), 0);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM outbox"), 0);
}

/* outbox_emit takes the fields on every path; a failed build (NULL) is
 * RC_NOMEM and writes nothing. */
static void test_emit_takes_fields(void **state)
{
    struct fixture *f = *state;
    json_t *fields = json_pack("{s:s}", "userId", "user-1");
    json_incref(fields); /* the test's own reference, to watch the count */
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(outbox_emit(f->st, "user-1", "Joined", fields), RC_OK);
    assert_int_equal(fields->refcount, 1);
    assert_int_equal(outbox_emit(f->st, "user-1", "Joined", NULL), RC_NOMEM);
    assert_int_equal(store_commit(f->st), RC_OK);
    json_decref(fields);
    assert_int_equal(backlog(f->st), 1);
}

struct payload_row {
    char text[1024];
};

static int take_payload(void *ud, const struct store_row *row)
{
    snprintf(((struct payload_row *)ud)->text, sizeof((struct payload_row *)ud)->text, "%s",
             row->cols[0].s);
    return 0;
}

static json_t *payload_of(struct store *st, const char *id)
{
    struct payload_row row = {""};
    assert_int_equal(store_exec(st, "SELECT payload FROM outbox WHERE event_id = $1",
                                STORE_ARGS(STORE_TEXT(id)), take_payload, &row, NULL),
                     RC_OK);
    json_t *v = NULL;
    char detail[256];
    assert_int_equal(jx_parse(row.text, strlen(row.text), true, &v, detail, sizeof detail), RC_OK);
    return v;
}

static void test_payload(void **state)
{
    struct fixture *f = *state;
    char id[ID_UUID_LEN + 1];
    /* the aggregate tries to set the envelope's names: the envelope wins */
    json_t *fields = json_pack("{s:s, s:s, s:I, s:s, s:i, s:{s:b}}", "eventType", "Forged",
                               "eventId", "forged-id", "timestamp", (json_int_t)1, "userId",
                               "user-9", "amount", 1500, "meta", "vip", 1);
    int64_t before = clock_wall_ms();
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(outbox_add(f->st, "user-9", "Charged", fields, id), RC_OK);
    assert_int_equal(store_commit(f->st), RC_OK);
    int64_t after = clock_wall_ms();
    /* the caller's object is borrowed, not changed */
    assert_string_equal(json_string_value(json_object_get(fields, "eventType")), "Forged");
    json_decref(fields);

    json_t *p = payload_of(f->st, id);
    struct jx_reader r;
    jx_reader_init(&r, p);
    assert_string_equal(jx_str(&r, "eventType", JX_REQUIRED, 64), "Charged");
    assert_string_equal(jx_str(&r, "eventId", JX_REQUIRED, 64), id);
    int64_t ts = jx_int(&r, "timestamp", JX_REQUIRED, 0, INT64_MAX);
    assert_true(ts >= before && ts <= after);
    assert_string_equal(jx_str(&r, "userId", JX_REQUIRED, 64), "user-9");
    assert_int_equal(jx_int(&r, "amount", JX_REQUIRED, 0, 100000), 1500);
    assert_int_equal(r.rc, RC_OK);
    assert_true(json_is_true(json_object_get(json_object_get(p, "meta"), "vip")));
    assert_int_equal(json_object_size(p), 6);
    json_decref(p);

    /* no fields at all is a bare envelope */
    json_t *empty = json_object();
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(outbox_add(f->st, "user-9", "Pinged", empty, id), RC_OK);
    assert_int_equal(store_commit(f->st), RC_OK);
    json_decref(empty);
    p = payload_of(f->st, id);
    assert_int_equal(json_object_size(p), 3);
    json_decref(p);
}

static void test_relay_publishes_in_order(void **state)
{
    struct fixture *f = *state;
    struct outbox_relay_options o = relay_options(f);
    struct outbox_relay *r = start_relay(&o);
    store_set_commit_hook(f->st, outbox_relay_notify, r);
    char ids[5][ID_UUID_LEN + 1];
    for (int i = 0; i < 5; i++)
        add_event(f->st, i % 2 ? "user-b" : "user-a", i, ids[i]);
    struct bus_wait w = {f, 5};
    assert_true(test_wait_until(bus_has, &w, WAIT_MS));
    assert_true(test_wait_until(backlog_empty, f, WAIT_MS));
    assert_int_equal(f->nids, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(f->ids[i], ids[i]);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL"), 5);
    store_set_commit_hook(f->st, NULL, NULL);
    outbox_relay_stop(r, 1000);
    outbox_relay_stop(NULL, 0); /* does nothing */
    /* nothing was published twice */
    drain_bus(f);
    assert_int_equal(f->nids, 5);
}

/* Events carry key, type and the payload written by outbox_add. */
static void test_relay_carries_event(void **state)
{
    struct fixture *f = *state;
    char id[ID_UUID_LEN + 1];
    add_event(f->st, "user-7", 7, id);
    struct outbox_relay_options o = relay_options(f);
    struct outbox_relay *r = start_relay(&o); /* finds the row left from before */
    const struct bus_event *ev = NULL;
    size_t n = 0;
    int64_t deadline = test_now_ms() + WAIT_MS;
    while (n == 0 && test_now_ms() < deadline)
        assert_int_equal(bus_poll(f->sub, 100, &ev, &n), RC_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].id, id);
    assert_string_equal(ev[0].key, "user-7");
    assert_string_equal(ev[0].type, "Tested");
    json_t *from_bus = NULL, *from_outbox = payload_of(f->st, id);
    char detail[256];
    assert_int_equal(
        jx_parse(ev[0].payload, strlen(ev[0].payload), true, &from_bus, detail, sizeof detail),
        RC_OK);
    assert_true(json_equal(from_bus, from_outbox));
    json_decref(from_bus);
    json_decref(from_outbox);
    outbox_relay_stop(r, 1000);
}

/* --- tracing -------------------------------------------------------------------------- */

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

struct trace_row {
    char tp[128], parent[64];
    int64_t created;
};

static int take_trace_row(void *ud, const struct store_row *row)
{
    struct trace_row *t = ud;
    snprintf(t->tp, sizeof t->tp, "%s", row->cols[0].s);
    snprintf(t->parent, sizeof t->parent, "%s", row->cols[1].s);
    t->created = row->cols[2].i;
    return 0;
}

static struct trace_row trace_row_of(struct store *st, const char *id)
{
    struct trace_row t = {"", "", 0};
    assert_int_equal(store_exec(st,
                                "SELECT traceparent, trace_parent_span, created_at FROM outbox"
                                " WHERE event_id = $1",
                                STORE_ARGS(STORE_TEXT(id)), take_trace_row, &t, NULL),
                     RC_OK);
    return t;
}

static void set_current(const char *traceparent)
{
    struct trace_ctx c;
    assert_int_equal(trace_parse(traceparent, strlen(traceparent), &c), RC_OK);
    trace_set_current(&c);
}

static void test_add_records_a_child_span(void **state)
{
    struct fixture *f = *state;
    char a[ID_UUID_LEN + 1], b[ID_UUID_LEN + 1], c[ID_UUID_LEN + 1];
    set_current("00-" TID "-" SID "-01");
    add_event(f->st, "user-1", 1, a);
    add_event(f->st, "user-1", 2, b);
    trace_set_current(NULL);
    add_event(f->st, "user-1", 3, c); /* nobody's request: a trace of its own */
    struct trace_row ra = trace_row_of(f->st, a), rb = trace_row_of(f->st, b),
                     rc = trace_row_of(f->st, c);
    struct trace_ctx ca, cb, cc;
    assert_int_equal(trace_parse(ra.tp, strlen(ra.tp), &ca), RC_OK);
    assert_int_equal(trace_parse(rb.tp, strlen(rb.tp), &cb), RC_OK);
    assert_int_equal(trace_parse(rc.tp, strlen(rc.tp), &cc), RC_OK);
    assert_string_equal(ca.trace_id, TID);
    assert_string_equal(cb.trace_id, TID);
    assert_string_equal(ra.parent, SID); /* children of the current span */
    assert_string_equal(rb.parent, SID);
    assert_string_not_equal(ca.span_id, SID); /* each a span of its own */
    assert_string_not_equal(ca.span_id, cb.span_id);
    assert_true(ca.sampled);
    assert_string_not_equal(cc.trace_id, TID);
    assert_string_equal(rc.parent, "");
    assert_true(cc.sampled);
    /* an unsampled trace stays so */
    set_current("00-" TID "-" SID "-00");
    add_event(f->st, "user-1", 4, a);
    trace_set_current(NULL);
    ra = trace_row_of(f->st, a);
    assert_string_equal(ra.tp + 53, "00");
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

static void test_relay_submits_producer_spans(void **state)
{
    struct fixture *f = *state;
    struct test_collector coll;
    test_collector_start(&coll);
    char endpoint[64], err[256];
    test_collector_endpoint(&coll, endpoint, sizeof endpoint);
    struct trace_export_options eo = {.endpoint = endpoint, .service_name = "svc"};
    assert_int_equal(trace_export_start(&eo, err, sizeof err), RC_OK);

    set_current("00-" TID "-" SID "-01");
    char id[ID_UUID_LEN + 1], gone[ID_UUID_LEN + 1] = "", quiet[ID_UUID_LEN + 1];
    add_event(f->st, "user-1", 1, id);
    json_t *fields = json_pack("{s:i}", "n", 2);
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(outbox_add(f->st, "user-1", "Tested", fields, gone), RC_OK);
    store_rollback(f->st); /* no event, no span */
    json_decref(fields);
    set_current("00-" TID "-" SID "-00");
    add_event(f->st, "user-1", 3, quiet); /* published, not recorded */
    trace_set_current(NULL);
    struct trace_row row = trace_row_of(f->st, id);

    struct outbox_relay_options o = relay_options(f);
    struct outbox_relay *r = start_relay(&o);
    int64_t deadline = test_now_ms() + WAIT_MS;
    const struct bus_event *ev = NULL;
    size_t n = 0;
    char carried[2][128] = {"", ""};
    while (f->nids < 2 && test_now_ms() < deadline) {
        assert_int_equal(bus_poll(f->sub, 100, &ev, &n), RC_OK);
        for (size_t i = 0; i < n && f->nids < 2; i++) {
            snprintf(carried[f->nids], sizeof carried[0], "%s", ev[i].traceparent);
            snprintf(f->ids[f->nids++], ID_UUID_LEN + 1, "%s", ev[i].id);
        }
    }
    assert_int_equal(f->nids, 2);
    assert_string_equal(f->ids[0], id);
    assert_string_equal(carried[0], row.tp); /* the event carries its producer's context */
    assert_true(test_wait_until(backlog_empty, f, WAIT_MS));
    outbox_relay_stop(r, 1000);
    trace_export_stop(2000);

    json_t *spans = test_collector_spans(&coll);
    assert_int_equal(json_array_size(spans), 1);
    json_t *sp = span_of_event(spans, id);
    assert_non_null(sp);
    struct trace_ctx producer;
    assert_int_equal(trace_parse(row.tp, strlen(row.tp), &producer), RC_OK);
    assert_string_equal(test_str(sp, "name"), "publish Tested");
    assert_int_equal(json_integer_value(json_object_get(sp, "kind")), 4); /* PRODUCER */
    assert_string_equal(test_str(sp, "traceId"), TID);
    assert_string_equal(test_str(sp, "spanId"), producer.span_id);
    assert_string_equal(test_str(sp, "parentSpanId"), SID);
    char start[32];
    snprintf(start, sizeof start, "%lld", (long long)row.created * 1000000);
    assert_string_equal(test_str(sp, "startTimeUnixNano"), start); /* the wait in the outbox */
    assert_true(strtoll(test_str(sp, "endTimeUnixNano"), NULL, 10) >= row.created * 1000000);
    assert_string_equal(test_span_attr(sp, "messaging.system"), "embedded");
    assert_string_equal(test_span_attr(sp, "messaging.destination.name"), TOPIC);
    assert_string_equal(test_span_attr(sp, "messaging.operation.type"), "publish");
    json_decref(spans);
    test_collector_stop(&coll);
}

static void test_paused_relay_publishes_nothing(void **state)
{
    struct fixture *f = *state;
    struct outbox_relay_options o = relay_options(f);
    o.paused = true;
    o.poll_interval_ms = 10; /* it would have looked many times */
    struct outbox_relay *r = start_relay(&o);
    store_set_commit_hook(f->st, outbox_relay_notify, r);
    for (int i = 0; i < 3; i++)
        add_event(f->st, "user-1", i, NULL);
    /* absence cannot be awaited: give a working relay ample time to act */
    clock_sleep_ms(300);
    drain_bus(f);
    assert_int_equal(f->nids, 0);
    store_set_commit_hook(f->st, NULL, NULL);
    outbox_relay_stop(r, 1000); /* a paused relay does not flush either */
    drain_bus(f);
    assert_int_equal(f->nids, 0);
    assert_int_equal(backlog(f->st), 3);
}

static int64_t gauge(const char *name) { return metrics_gauge_value(metrics_gauge(name, "", "")); }

/* outbox_measure reports the unsent rows and the age of the oldest,
 * whatever the relay is doing. */
static void test_measure(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(outbox_measure(f->st, 0), RC_OK);
    assert_int_equal(gauge("webtoon_outbox_backlog"), 0);
    assert_int_equal(gauge("webtoon_outbox_oldest_unsent_age_seconds"), 0);
    for (int i = 0; i < 3; i++)
        add_event(f->st, "user-1", i, NULL);
    /* the first row waited two minutes, the others just now */
    assert_int_equal(store_exec(f->st,
                                "UPDATE outbox SET created_at = created_at - 120000"
                                " WHERE seq = (SELECT MIN(seq) FROM outbox)",
                                NULL, 0, NULL, NULL, NULL),
                     RC_OK);
    assert_int_equal(outbox_measure(f->st, 0), RC_OK);
    assert_int_equal(gauge("webtoon_outbox_backlog"), 3);
    int64_t age = gauge("webtoon_outbox_oldest_unsent_age_seconds");
    assert_true(age >= 120 && age < 180);
    /* once published, nothing waits */
    struct outbox_relay_options o = relay_options(f);
    struct outbox_relay *r = start_relay(&o);
    outbox_relay_stop(r, WAIT_MS);
    assert_int_equal(backlog(f->st), 0);
    assert_int_equal(outbox_measure(f->st, 0), RC_OK);
    assert_int_equal(gauge("webtoon_outbox_backlog"), 0);
    assert_int_equal(gauge("webtoon_outbox_oldest_unsent_age_seconds"), 0);
}

static struct metrics_counter *failures_counter(void)
{
    return metrics_counter("webtoon_outbox_publish_failures_total",
                           "Relay passes that failed and were retried", "");
}

struct failures_wait {
    uint64_t want;
};

static bool failures_reached(void *ud)
{
    return metrics_counter_value(failures_counter()) >= ((struct failures_wait *)ud)->want;
}

/* While the event log refuses writes, rows stay unsent and the relay keeps
 * retrying; once it accepts them again everything goes out, in order. */
static void test_relay_retries_until_bus_works(void **state)
{
    struct fixture *f = *state;
    /* the log refuses every append (as a full disk or a broken log would) */
    char log_url[400], err[256];
    snprintf(log_url, sizeof log_url, "sqlite:%s", f->log);
    struct store *logdb = NULL;
    assert_int_equal(store_open(log_url, &logdb, err, sizeof err), RC_OK);
    assert_int_equal(store_exec(logdb,
                                "CREATE TRIGGER refuse BEFORE INSERT ON events"
                                " BEGIN SELECT RAISE(ABORT, 'log unavailable'); END",
                                NULL, 0, NULL, NULL, NULL),
                     RC_OK);

    struct outbox_relay_options o = relay_options(f);
    struct outbox_relay *r = start_relay(&o);
    store_set_commit_hook(f->st, outbox_relay_notify, r);
    struct failures_wait fw = {metrics_counter_value(failures_counter()) + 3};
    char ids[3][ID_UUID_LEN + 1];
    for (int i = 0; i < 3; i++)
        add_event(f->st, "user-1", i, ids[i]);
    /* several failed passes: the retries run without any new notify */
    assert_true(test_wait_until(failures_reached, &fw, WAIT_MS));
    drain_bus(f);
    assert_int_equal(f->nids, 0);
    assert_int_equal(backlog(f->st), 3);

    assert_int_equal(store_exec(logdb, "DROP TRIGGER refuse", NULL, 0, NULL, NULL, NULL), RC_OK);
    struct bus_wait w = {f, 3};
    assert_true(test_wait_until(bus_has, &w, WAIT_MS));
    assert_true(test_wait_until(backlog_empty, f, WAIT_MS));
    assert_int_equal(f->nids, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(f->ids[i], ids[i]);
    store_set_commit_hook(f->st, NULL, NULL);
    outbox_relay_stop(r, 1000);
    store_close(logdb);
}

static void insert_row(struct store *st, const char *id, int64_t created, int64_t sent)
{
    assert_int_equal(store_exec(st,
                                "INSERT INTO outbox (event_id, key, type, payload, created_at,"
                                " sent_at) VALUES ($1, 'k', 'Old', '{}', $2, $3)",
                                STORE_ARGS(STORE_TEXT(id), STORE_INT(created),
                                           sent ? STORE_INT(sent) : STORE_NULL),
                                NULL, NULL, NULL),
                     RC_OK);
}

static bool old_rows_purged(void *ud)
{
    struct fixture *f = ud;
    return query_int(f->st, "SELECT COUNT(*) FROM outbox WHERE event_id LIKE 'old-sent-%'") == 0;
}

/* Purging drops sent rows older than the retention, keeps recent ones and
 * never touches unsent rows, however old. 200 old unsent rows take two
 * relay batches, so the purge after the first batch runs while many are
 * still unsent. */
static void test_purge(void **state)
{
    struct fixture *f = *state;
    int64_t now = clock_wall_ms(), hour = 3600000;
    assert_int_equal(store_begin(f->st), RC_OK);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "old-sent-%d", i);
        insert_row(f->st, id, now - 3 * hour, now - 2 * hour);
        snprintf(id, sizeof id, "recent-sent-%d", i);
        insert_row(f->st, id, now - 3 * hour, now - 60000);
    }
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof id, "old-unsent-%03d", i);
        insert_row(f->st, id, now - 3 * hour, 0);
    }
    assert_int_equal(store_commit(f->st), RC_OK);

    struct outbox_relay_options o = relay_options(f);
    o.retention_ms = hour;
    struct outbox_relay *r = start_relay(&o);
    assert_true(test_wait_until(old_rows_purged, f, WAIT_MS));
    struct bus_wait w = {f, 200};
    assert_true(test_wait_until(bus_has, &w, WAIT_MS));
    assert_true(test_wait_until(backlog_empty, f, WAIT_MS));
    outbox_relay_stop(r, 1000);
    assert_int_equal(f->nids, 200);
    assert_string_equal(f->ids[0], "old-unsent-000");
    assert_string_equal(f->ids[199], "old-unsent-199");
    assert_int_equal(
        query_int(f->st, "SELECT COUNT(*) FROM outbox WHERE event_id LIKE 'recent-sent-%'"), 3);
    assert_int_equal(
        query_int(f->st, "SELECT COUNT(*) FROM outbox WHERE event_id LIKE 'old-unsent-%'"), 200);
}

static bool first_published(void *ud)
{
    struct bus_wait w = {ud, 1};
    return bus_has(&w);
}

/* Stopping publishes what is pending first, even when nobody woke the
 * relay for it. */
static void test_stop_flushes(void **state)
{
    struct fixture *f = *state;
    struct outbox_relay_options o = relay_options(f);
    add_event(f->st, "user-1", 0, NULL);
    struct outbox_relay *r = start_relay(&o);
    /* its first look at the outbox is done: now it sleeps for a minute */
    assert_true(test_wait_until(first_published, f, WAIT_MS));
    for (int i = 1; i <= 3; i++)
        add_event(f->st, "user-1", i, NULL); /* no commit hook: no notify */
    int64_t start = test_now_ms();
    outbox_relay_stop(r, 5000);
    assert_true(test_now_ms() - start < 5000);
    assert_int_equal(backlog(f->st), 0);
    drain_bus(f);
    assert_int_equal(f->nids, 4);
}

static void test_start_failures(void **state)
{
    struct fixture *f = *state;
    struct outbox_relay_options o = relay_options(f);
    struct outbox_relay *r = (struct outbox_relay *)1;
    char err[256] = "";
    o.store_url = "nosuch:db";
    assert_int_equal(outbox_relay_start(&o, &r, err, sizeof err), RC_CONFIG);
    assert_null(r);
    assert_true(strlen(err) > 0);
    o = relay_options(f);
    char bad_log[400];
    snprintf(bad_log, sizeof bad_log, "%s/missing/events.db", f->dir);
    o.bus.event_log = bad_log;
    err[0] = '\0';
    assert_int_equal(outbox_relay_start(&o, &r, err, sizeof err), RC_BUS);
    assert_null(r);
    assert_non_null(strstr(err, "missing"));
}

/* outbox_add out of memory: a clean RC_NOMEM, nothing written, and the
 * transaction still usable. */
static void test_oom(void **state)
{
    struct fixture *f = *state;
    json_t *fields =
        json_pack("{s:s, s:i, s:[s, s]}", "userId", "user-1", "n", 1, "tags", "a", "b");
    long i;
    for (i = 0;; i++) {
        assert_true(i < 200);
        char id[ID_UUID_LEN + 1] = "";
        assert_int_equal(store_begin(f->st), RC_OK);
        mem_fail_after(i);
        int rc = outbox_add(f->st, "user-1", "Tested", fields, id);
        long refused = mem_fail_count();
        mem_fail_reset();
        if (rc != RC_OK) {
            assert_int_equal(rc, RC_NOMEM);
            assert_string_equal(id, "");
            assert_int_equal(backlog(f->st), 0);
            store_rollback(f->st);
            continue;
        }
        assert_int_equal(refused, 0);
        assert_int_equal(store_commit(f->st), RC_OK);
        break;
    }
    assert_true(i > 3);
    json_decref(fields);
    assert_int_equal(backlog(f->st), 1);
}

static int group_setup(void **state)
{
    (void)state;
    mem_install_json_hooks();
    log_init("test", LOG_ERROR); /* the relay's retry warnings are expected */
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_in_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_takes_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay_publishes_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay_carries_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paused_relay_publishes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay_retries_until_bus_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_records_a_child_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay_submits_producer_spans, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
