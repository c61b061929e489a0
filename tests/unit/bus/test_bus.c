/* The embedded event log: ordering, deduplication, consumer groups and
 * their committed offsets, standby members, wake-ups and rewinds, the
 * traceparent of each event, on a real log file shared by several handles,
 * and a log left by an older release. */
#include "support/test_support.h"

#include <pthread.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/bus/bus.h"
#include "core/store/store.h"

#define TOPIC "test.events"

struct fixture {
    char dir[256];
    char log[320];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->log, sizeof f->log, "%s/events.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static struct bus *open_topic(struct fixture *f, const char *topic)
{
    struct bus_options o = {.event_log = f->log, .topic = topic};
    struct bus *b = NULL;
    char err[256] = "";
    if (bus_open(&o, &b, err, sizeof err) != RC_OK)
        fail_msg("bus_open: %s", err);
    return b;
}

static struct bus *open_bus(struct fixture *f) { return open_topic(f, TOPIC); }

static struct bus *consumer(struct fixture *f, const char *group, enum bus_start start)
{
    struct bus *b = open_bus(f);
    assert_int_equal(bus_subscribe(b, group, start), RC_OK);
    return b;
}

/* Publishes one event with id <id> (also its payload's "n"). */
static void publish(struct bus *b, const char *id)
{
    char payload[96];
    snprintf(payload, sizeof payload, "{\"eventId\":\"%s\"}", id);
    struct bus_event e = {.id = id, .key = "user-1", .type = "Tested", .payload = payload};
    assert_int_equal(bus_publish(b, &e, 1), RC_OK);
}

/* Polls once without waiting and checks the ids received, in order;
 * <ids> is a space-separated list ("" for none). */
static void expect_ids(struct bus *b, const char *ids)
{
    const struct bus_event *ev = NULL;
    size_t n = 99;
    assert_int_equal(bus_poll(b, 0, &ev, &n), RC_OK);
    char got[1024] = "";
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(got);
        snprintf(got + len, sizeof got - len, "%s%s", i ? " " : "", ev[i].id);
    }
    assert_string_equal(got, ids);
}

static void test_publish_poll_in_order(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    struct bus *sub = consumer(f, "g", BUS_FROM_COMMITTED);
    expect_ids(sub, "");
    struct bus_event batch[] = {
        {.id = "e1", .key = "k1", .type = "A", .payload = "{\"n\":1}"},
        {.id = "e2", .key = "k2", .type = "B", .payload = "{\"n\":2}"},
        {.id = "e3", .key = "k1", .type = "A", .payload = "{\"n\":3}"},
    };
    assert_int_equal(bus_publish(pub, batch, 3), RC_OK);
    assert_int_equal(bus_publish(pub, batch, 0), RC_OK); /* nothing to do */
    const struct bus_event *ev = NULL;
    size_t n = 0;
    int64_t before = (int64_t)time(NULL) * 1000;
    assert_int_equal(bus_poll(sub, 1000, &ev, &n), RC_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ev[i].id, batch[i].id);
        assert_string_equal(ev[i].key, batch[i].key);
        assert_string_equal(ev[i].type, batch[i].type);
        assert_string_equal(ev[i].payload, batch[i].payload);
        assert_true(ev[i].offset > 0);
        if (i > 0)
            assert_true(ev[i].offset > ev[i - 1].offset);
        assert_true(ev[i].timestamp_ms >= before - 1000);
        assert_true(ev[i].timestamp_ms <= before + 60000);
    }
    expect_ids(sub, ""); /* the position moved past them */
    publish(pub, "e4");
    expect_ids(sub, "e4");
    bus_close(sub);
    bus_close(pub);
    bus_close(NULL); /* does nothing */
}

static void test_same_id_stored_once(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    struct bus *sub = consumer(f, NULL, BUS_FROM_BEGINNING);
    publish(pub, "dup");
    publish(pub, "other");
    publish(pub, "dup"); /* a relay retrying after a crash */
    struct bus_event twice[] = {
        {.id = "x", .key = "k", .type = "T", .payload = "{}"},
        {.id = "x", .key = "k", .type = "T", .payload = "{\"second\":true}"},
    };
    assert_int_equal(bus_publish(pub, twice, 2), RC_OK);
    const struct bus_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(bus_poll(sub, 0, &ev, &n), RC_OK);
    assert_int_equal(n, 3);
    assert_string_equal(ev[0].id, "dup");
    assert_string_equal(ev[1].id, "other");
    assert_string_equal(ev[2].id, "x");
    assert_string_equal(ev[2].payload, "{}"); /* the first copy wins */
    bus_close(sub);
    bus_close(pub);
}

static void test_commit_survives_reopen(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    publish(pub, "a");
    publish(pub, "b");
    struct bus *sub = consumer(f, "g", BUS_FROM_COMMITTED);
    expect_ids(sub, "a b");
    assert_int_equal(bus_commit(sub), RC_OK);
    publish(pub, "c");
    expect_ids(sub, "c"); /* delivered but never committed */
    bus_close(sub);

    sub = consumer(f, "g", BUS_FROM_COMMITTED);
    expect_ids(sub, "c"); /* redelivered, a and b are not */
    assert_int_equal(bus_commit(sub), RC_OK);
    assert_int_equal(bus_commit(sub), RC_OK); /* nothing new: still fine */
    bus_close(sub);

    sub = consumer(f, "g", BUS_FROM_COMMITTED);
    expect_ids(sub, "");
    bus_close(sub);
    /* another group has its own position */
    sub = consumer(f, "other-group", BUS_FROM_COMMITTED);
    expect_ids(sub, "a b c");
    bus_close(sub);
    bus_close(pub);
}

static void test_start_positions(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    publish(pub, "old1");
    publish(pub, "old2");
    struct bus *committed = consumer(f, "g", BUS_FROM_COMMITTED);
    assert_int_equal(bus_commit(committed), RC_OK);
    expect_ids(committed, "old1 old2");
    assert_int_equal(bus_commit(committed), RC_OK);
    bus_close(committed);

    /* the group committed everything, yet FROM_BEGINNING replays it all */
    struct bus *begin = consumer(f, "g", BUS_FROM_BEGINNING);
    struct bus *end = consumer(f, NULL, BUS_FROM_END);
    publish(pub, "new");
    expect_ids(begin, "old1 old2 new");
    expect_ids(end, "new");
    bus_close(begin);
    bus_close(end);
    bus_close(pub);
}

static void test_standby_takes_over(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    publish(pub, "a");
    struct bus *first = consumer(f, "g", BUS_FROM_COMMITTED);
    struct bus *second = consumer(f, "g", BUS_FROM_COMMITTED);
    expect_ids(first, "a");
    assert_int_equal(bus_commit(first), RC_OK);
    publish(pub, "b");
    expect_ids(second, ""); /* standby while the first holds the group */
    int64_t lag = -1;
    assert_int_equal(bus_lag(second, &lag), RC_OK);
    assert_int_equal(lag, 0);
    expect_ids(first, "b");
    /* the first goes away without committing b */
    bus_close(first);
    expect_ids(second, "b"); /* takes over from the committed offset */
    assert_int_equal(bus_commit(second), RC_OK);
    publish(pub, "c");
    expect_ids(second, "c");
    /* a member without a group never waits for anyone */
    struct bus *loner = consumer(f, NULL, BUS_FROM_BEGINNING);
    expect_ids(loner, "a b c");
    bus_close(loner);
    bus_close(second);
    bus_close(pub);
}

struct poller {
    struct bus *bus;
    int timeout_ms;
    int rc;
    size_t n;
    char first_id[64];
    int64_t elapsed_ms;
};

static void *poll_thread(void *arg)
{
    struct poller *p = arg;
    const struct bus_event *ev = NULL;
    int64_t start = test_now_ms();
    p->rc = bus_poll(p->bus, p->timeout_ms, &ev, &p->n);
    p->elapsed_ms = test_now_ms() - start;
    if (p->n > 0)
        snprintf(p->first_id, sizeof p->first_id, "%s", ev[0].id);
    return NULL;
}

/* A consumer blocked with a long timeout wakes soon after another handle
 * publishes: it does not wait for its timeout. */
static void test_publish_wakes_blocked_poll(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    struct poller p = {.bus = consumer(f, "g", BUS_FROM_COMMITTED), .timeout_ms = 30000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, poll_thread, &p), 0);
    /* give the poller time to block; if it has not yet, it finds the event
     * on its first read, which passes as well */
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 100 * 1000000};
    nanosleep(&pause, NULL);
    int64_t published_at = test_now_ms();
    publish(pub, "wake");
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.rc, RC_OK);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.first_id, "wake");
    assert_true(test_now_ms() - published_at < 2000);
    bus_close(p.bus);
    bus_close(pub);
}

static void test_interrupt_wakes_blocked_poll(void **state)
{
    struct fixture *f = *state;
    struct poller p = {.bus = consumer(f, "g", BUS_FROM_COMMITTED), .timeout_ms = 30000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, poll_thread, &p), 0);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 100 * 1000000};
    nanosleep(&pause, NULL);
    int64_t interrupted_at = test_now_ms();
    bus_interrupt(p.bus);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.rc, RC_OK);
    assert_int_equal(p.n, 0);
    assert_true(test_now_ms() - interrupted_at < 2000);

    /* an interrupt before the poll is not lost either: the next poll
     * returns at once */
    bus_interrupt(p.bus);
    p.timeout_ms = 30000;
    int64_t start = test_now_ms();
    poll_thread(&p);
    assert_true(test_now_ms() - start < 2000);
    bus_close(p.bus);
}

/* A standby member waiting in poll is woken by bus_interrupt too. */
static void test_interrupt_wakes_standby(void **state)
{
    struct fixture *f = *state;
    struct bus *leader = consumer(f, "g", BUS_FROM_COMMITTED);
    struct poller p = {.bus = consumer(f, "g", BUS_FROM_COMMITTED), .timeout_ms = 30000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, poll_thread, &p), 0);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000000};
    nanosleep(&pause, NULL);
    bus_interrupt(p.bus);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.rc, RC_OK);
    assert_int_equal(p.n, 0);
    assert_true(p.elapsed_ms < 2000);
    bus_close(p.bus);
    bus_close(leader);
}

static void test_lag(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    struct bus *other = open_topic(f, "other.topic");
    struct bus *sub = consumer(f, "g", BUS_FROM_COMMITTED);
    int64_t lag = -1;
    assert_int_equal(bus_lag(sub, &lag), RC_OK);
    assert_int_equal(lag, 0);
    publish(pub, "a");
    publish(pub, "b");
    publish(pub, "c");
    publish(other, "elsewhere"); /* another topic is not our lag */
    assert_int_equal(bus_lag(sub, &lag), RC_OK);
    assert_int_equal(lag, 3);
    expect_ids(sub, "a b c");
    assert_int_equal(bus_lag(sub, &lag), RC_OK);
    assert_int_equal(lag, 3); /* polled is not committed */
    assert_int_equal(bus_commit(sub), RC_OK);
    assert_int_equal(bus_lag(sub, &lag), RC_OK);
    assert_int_equal(lag, 0);
    /* Seen from outside the group, with the consumer still holding it. */
    assert_int_equal(bus_group_lag(pub, "g", &lag), RC_OK);
    assert_int_equal(lag, 0);
    publish(pub, "d");
    assert_int_equal(bus_group_lag(pub, "g", &lag), RC_OK);
    assert_int_equal(lag, 1);
    assert_int_equal(bus_group_lag(pub, "never-committed", &lag), RC_OK);
    assert_int_equal(lag, 4);
    bus_close(sub);
    bus_close(other);
    bus_close(pub);
}

static void test_rewind(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    publish(pub, "a");
    publish(pub, "b");
    /* a group that never committed cannot be rewound */
    assert_int_equal(bus_rewind(pub, "never"), RC_NOT_FOUND);
    assert_int_equal(bus_rewind(pub, "bad group"), RC_INVALID);

    struct bus *sub = consumer(f, "g", BUS_FROM_COMMITTED);
    expect_ids(sub, "a b");
    assert_int_equal(bus_commit(sub), RC_OK);
    /* refused while a member consumes: it would overwrite the rewind */
    assert_int_equal(bus_rewind(pub, "g"), RC_CONFLICT);
    bus_close(sub);
    assert_int_equal(bus_rewind(pub, "g"), RC_OK);
    sub = consumer(f, "g", BUS_FROM_COMMITTED);
    expect_ids(sub, "a b");
    bus_close(sub);
    bus_close(pub);
}

static void test_topic_isolation(void **state)
{
    struct fixture *f = *state;
    struct bus *pa = open_topic(f, "topic.a"), *pb = open_topic(f, "topic.b");
    struct bus *sa = open_topic(f, "topic.a"), *sb = open_topic(f, "topic.b");
    assert_int_equal(bus_subscribe(sa, "g", BUS_FROM_COMMITTED), RC_OK);
    assert_int_equal(bus_subscribe(sb, NULL, BUS_FROM_COMMITTED), RC_OK);
    publish(pa, "a1");
    publish(pb, "b1");
    publish(pa, "a2");
    expect_ids(sa, "a1 a2");
    expect_ids(sb, "b1");
    assert_int_equal(bus_commit(sa), RC_OK);
    bus_close(sa);
    /* the same group name on another topic has its own position */
    sa = open_topic(f, "topic.b");
    assert_int_equal(bus_subscribe(sa, "g2", BUS_FROM_COMMITTED), RC_OK);
    expect_ids(sa, "b1");
    bus_close(sa);
    bus_close(sb);
    bus_close(pa);
    bus_close(pb);
}

/* The log's end: one partition, the last sequence number (-1 when
 * empty), and what a consumer polls carries partition 0. */
static void test_end_offsets(void **state)
{
    struct fixture *f = *state;
    struct bus *b = open_bus(f);
    int64_t ends[BUS_PARTITIONS_MAX];
    int n = 0;
    assert_int_equal(bus_end_offsets(b, ends, BUS_PARTITIONS_MAX, &n), RC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ends[0], -1);
    publish(b, "e1");
    publish(b, "e2");
    assert_int_equal(bus_end_offsets(b, ends, BUS_PARTITIONS_MAX, &n), RC_OK);
    struct bus *c = consumer(f, "ends", BUS_FROM_BEGINNING);
    const struct bus_event *ev;
    size_t got;
    assert_int_equal(bus_poll(c, 0, &ev, &got), RC_OK);
    assert_int_equal(got, 2);
    assert_int_equal(ends[0], ev[1].offset);
    assert_int_equal(ev[1].partition, 0);
    bus_close(c);
    bus_close(b);
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    struct bus *b = open_bus(f);
    assert_string_equal(bus_error(b), "");
    assert_int_equal(bus_subscribe(b, "no/slashes", BUS_FROM_COMMITTED), RC_INVALID);
    bus_close(b);

    struct bus_options o = {.event_log = "/nonexistent-dir/x/events.db", .topic = TOPIC};
    b = (struct bus *)1;
    char err[256] = "";
    assert_int_equal(bus_open(&o, &b, err, sizeof err), RC_BUS);
    assert_null(b);
    assert_non_null(strstr(err, "/nonexistent-dir/x/events.db"));
}

/* Out of memory in open, subscribe, publish and poll is a clean RC_NOMEM,
 * and nothing is lost: a poll that ran out of memory leaves the position
 * where it was, so the next one delivers the same events. */
static void test_oom(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    publish(pub, "before");
    long i;
    for (i = 0;; i++) {
        assert_true(i < 200);
        struct bus *b = NULL;
        char err[256] = "";
        struct bus_options o = {.event_log = f->log, .topic = TOPIC};
        const struct bus_event *ev = NULL;
        size_t n = 0;
        /* one id for every attempt: the log keeps one copy, so each poll
         * has the same two events to read */
        const char *id = "oom";
        struct bus_event e = {.id = id, .key = "k", .type = "T", .payload = "{}"};
        bool polled = false;
        mem_fail_after(i);
        int rc = bus_open(&o, &b, err, sizeof err);
        if (rc == RC_OK)
            rc = bus_subscribe(b, "oom-group", BUS_FROM_BEGINNING);
        if (rc == RC_OK)
            rc = bus_publish(b, &e, 1);
        if (rc == RC_OK) {
            polled = true;
            rc = bus_poll(b, 0, &ev, &n);
        }
        long refused = mem_fail_count();
        mem_fail_reset();
        if (rc != RC_OK) {
            if (rc != RC_NOMEM)
                fail_msg("allocation %ld: got %s (%s)", i, rc_name(rc), err);
            assert_true(b == NULL || !polled || n == 0);
            if (polled) {
                assert_int_equal(bus_poll(b, 0, &ev, &n), RC_OK);
                assert_true(n >= 2);
                assert_string_equal(ev[0].id, "before");
                assert_string_equal(ev[n - 1].id, id);
            }
            bus_close(b);
            continue;
        }
        assert_int_equal(refused, 0);
        assert_true(n >= 2);
        assert_string_equal(ev[0].id, "before");
        assert_string_equal(ev[n - 1].id, id);
        bus_close(b);
        break;
    }
    assert_true(i > 3);
    bus_close(pub);
}

/* Each event keeps the traceparent it was published with ("" without). */
static void test_traceparent_carried(void **state)
{
    struct fixture *f = *state;
    struct bus *pub = open_bus(f);
    struct bus *sub = consumer(f, NULL, BUS_FROM_BEGINNING);
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    struct bus_event batch[] = {
        {.id = "t1", .key = "k", .type = "A", .payload = "{}", .traceparent = tp},
        {.id = "t2", .key = "k", .type = "A", .payload = "{}"},
        {.id = "t3", .key = "k", .type = "A", .payload = "{}", .traceparent = ""},
    };
    assert_int_equal(bus_publish(pub, batch, 3), RC_OK);
    const struct bus_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(bus_poll(sub, 0, &ev, &n), RC_OK);
    assert_int_equal(n, 3);
    assert_string_equal(ev[0].traceparent, tp);
    assert_string_equal(ev[1].traceparent, ""); /* never NULL once read */
    assert_string_equal(ev[2].traceparent, "");
    bus_close(sub);
    bus_close(pub);
}

/* An event log written before traceparents (schema version 1, as an older
 * release left it) opens, keeps its events, and takes new ones. */
static void test_old_event_log_survives(void **state)
{
    struct fixture *f = *state;
    char url[400], err[256] = "";
    snprintf(url, sizeof url, "sqlite:%s", f->log);
    struct store *old = NULL;
    assert_int_equal(store_open(url, &old, err, sizeof err), RC_OK);
    const char *v1[] = {
        "CREATE TABLE schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL,"
        " applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))",
        "INSERT INTO schema_migrations VALUES ('event-log', 1, 0)",
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL"
        " UNIQUE, topic TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT"
        " NULL, appended_at INTEGER NOT NULL)",
        "CREATE INDEX events_topic_seq ON events (topic, seq)",
        "CREATE TABLE consumer_offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, last_seq INTEGER"
        " NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (grp, topic))",
        "INSERT INTO events (event_id, topic, key, type, payload, appended_at)"
        " VALUES ('old', '" TOPIC "', 'k', 'A', '{}', 1)",
        "INSERT INTO consumer_offsets VALUES ('g', '" TOPIC "', 0, 1)",
    };
    for (size_t i = 0; i < ARRAY_LEN(v1); i++)
        if (store_exec(old, v1[i], NULL, 0, NULL, NULL, NULL) != RC_OK)
            fail_msg("%s: %s", v1[i], store_error(old));
    store_close(old);

    struct bus *sub = consumer(f, "g", BUS_FROM_COMMITTED); /* migrates the log */
    struct bus *pub = open_bus(f);
    struct bus_event e = {.id = "new",
                          .key = "k",
                          .type = "A",
                          .payload = "{}",
                          .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
    assert_int_equal(bus_publish(pub, &e, 1), RC_OK);
    const struct bus_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(bus_poll(sub, 0, &ev, &n), RC_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].id, "old");
    assert_string_equal(ev[0].traceparent, "");
    assert_string_equal(ev[1].id, "new");
    assert_string_equal(ev[1].traceparent, e.traceparent);
    bus_close(pub);
    bus_close(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_poll_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_id_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_traceparent_carried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_event_log_survives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_standby_takes_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_wakes_blocked_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_wakes_blocked_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_wakes_standby, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topic_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
