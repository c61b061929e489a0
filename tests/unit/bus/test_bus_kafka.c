/* The Kafka backend of the event bus against a real broker: per-key order,
 * ids, types and traceparents carried in headers, committed offsets and resumption,
 * redelivery of what was not committed, a group member taking over the
 * partitions of one that left, interrupts, lag, rewinds and group-less
 * tailing. The broker is named by WEBTOON_TEST_KAFKA (host:port; CTest's
 * fixture starts one with scripts/kafka.sh); without it every test is
 * skipped. Each test uses its own topic and groups. */
#include "support/test_support.h"

#include <pthread.h>

#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/bus/bus.h"

#define WAIT_MS 30000 /* safety net for anything the broker does asynchronously */
#define MAX_IDS 512

struct fixture {
    const char *brokers;
    char topic[64];
    char group[64]; /* a group name unique to this test */
};

static int setup(void **state)
{
    const char *brokers = getenv("WEBTOON_TEST_KAFKA");
    if (!brokers || !*brokers)
        skip();
    struct fixture *f = calloc(1, sizeof *f);
    char uuid[ID_UUID_LEN + 1];
    id_uuid(uuid);
    f->brokers = brokers;
    snprintf(f->topic, sizeof f->topic, "test.%.8s", uuid);
    snprintf(f->group, sizeof f->group, "g-%.8s", uuid);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static struct bus *open_bus(struct fixture *f)
{
    struct bus_options o = {.kafka_brokers = f->brokers, .topic = f->topic, .partitions = 6};
    struct bus *b = NULL;
    char err[256] = "";
    if (bus_open(&o, &b, err, sizeof err) != RC_OK)
        fail_msg("bus_open: %s", err);
    return b;
}

static struct bus *consumer(struct fixture *f, const char *group, enum bus_start start)
{
    struct bus *b = open_bus(f);
    assert_int_equal(bus_subscribe(b, group, start), RC_OK);
    return b;
}

/* The traceparent event <i> is published with: one for even i, none for
 * odd i. Writes it into <out> (64 bytes); "" for none. */
static void traceparent_of(int i, char *out)
{
    if (i % 2)
        out[0] = '\0';
    else
        snprintf(out, 64, "00-4bf92f3577b34da6a3ce929d0e0e%04x-00f067aa0ba9%04x-01", i, i);
}

/* Publishes events "<prefix>-<i>" for i in [from, to), keyed by user i % <keys>,
 * with traceparent_of(i). */
static void publish_range(struct bus *b, const char *prefix, int from, int to, int keys)
{
    static char ids[MAX_IDS][32], keyv[MAX_IDS][24], payloads[MAX_IDS][96], tps[MAX_IDS][64];
    struct bus_event ev[MAX_IDS];
    assert_true(to - from <= MAX_IDS);
    for (int i = from; i < to; i++) {
        int j = i - from;
        snprintf(ids[j], sizeof ids[j], "%s-%d", prefix, i);
        snprintf(keyv[j], sizeof keyv[j], "user-%d", i % keys);
        snprintf(payloads[j], sizeof payloads[j], "{\"n\":%d,\"user\":\"%s\"}", i, keyv[j]);
        traceparent_of(i, tps[j]);
        ev[j] = (struct bus_event){.id = ids[j],
                                   .key = keyv[j],
                                   .type = "Tested",
                                   .payload = payloads[j],
                                   /* none: NULL or "" alike */
                                   .traceparent = i % 4 == 1 ? NULL : tps[j]};
    }
    if (bus_publish(b, ev, (size_t)(to - from)) != RC_OK)
        fail_msg("publish: %s", bus_error(b));
}

struct got {
    int n;
    char id[MAX_IDS * 2][32];
    char key[MAX_IDS * 2][24];
    char tp[MAX_IDS * 2][64]; /* header traceparent, "" without */
};

/* Polls <b> (timeout 0: until caught up) until <want> events arrived in
 * <g>, or fails after WAIT_MS. Returns the count. */
static int collect(struct bus *b, struct got *g, int want)
{
    int64_t deadline = test_now_ms() + WAIT_MS;
    while (g->n < want && test_now_ms() < deadline) {
        const struct bus_event *ev;
        size_t n;
        if (bus_poll(b, 200, &ev, &n) != RC_OK)
            fail_msg("poll: %s", bus_error(b));
        for (size_t i = 0; i < n; i++) {
            assert_true(g->n < MAX_IDS * 2);
            assert_string_equal(ev[i].type, "Tested");
            assert_non_null(strstr(ev[i].payload, ev[i].key));
            assert_true(ev[i].timestamp_ms > 0);
            snprintf(g->id[g->n], sizeof g->id[g->n], "%s", ev[i].id);
            snprintf(g->key[g->n], sizeof g->key[g->n], "%s", ev[i].key);
            g->n++;
        }
    }
    return g->n;
}

/* Everything a poll with timeout 0 hands out until the end of the log. */
static int drain(struct bus *b, struct got *g)
{
    for (;;) {
        const struct bus_event *ev;
        size_t n;
        if (bus_poll(b, 0, &ev, &n) != RC_OK)
            fail_msg("poll: %s", bus_error(b));
        if (n == 0)
            return g->n;
        for (size_t i = 0; i < n; i++) {
            snprintf(g->id[g->n], sizeof g->id[g->n], "%s", ev[i].id);
            snprintf(g->key[g->n], sizeof g->key[g->n], "%s", ev[i].key);
            snprintf(g->tp[g->n], sizeof g->tp[g->n], "%s", ev[i].traceparent);
            g->n++;
        }
    }
}

/* Index of "<prefix>-<i>" in <g>, or -1. */
static int find(const struct got *g, const char *prefix, int i)
{
    char id[32];
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    for (int k = 0; k < g->n; k++)
        if (!strcmp(g->id[k], id))
            return k;
    return -1;
}

static void test_order_per_key_ids_and_headers(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    publish_range(p, "e", 0, 150, 7);
    publish_range(p, "e", 150, 300, 7); /* more than one poll's batch in all */
    struct bus *c = consumer(f, f->group, BUS_FROM_COMMITTED);
    static struct got g;
    memset(&g, 0, sizeof g);
    assert_int_equal(drain(c, &g), 300);
    /* Each event once, each user's events in publishing order, each with
     * the traceparent it was published with (header traceparent). */
    for (int i = 0; i < 300; i++) {
        int at = find(&g, "e", i);
        assert_true(at >= 0);
        if (i >= 7)
            assert_true(find(&g, "e", i - 7) < at);
        char tp[64];
        traceparent_of(i, tp);
        assert_string_equal(g.tp[at], tp);
    }
    bus_close(c);
    bus_close(p);
}

static void test_commit_and_resume(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    publish_range(p, "a", 0, 5, 3);
    struct bus *c = consumer(f, f->group, BUS_FROM_COMMITTED);
    static struct got g;
    memset(&g, 0, sizeof g);
    assert_int_equal(collect(c, &g, 5), 5);
    assert_int_equal(bus_commit(c), RC_OK);
    assert_int_equal(bus_commit(c), RC_OK); /* nothing new: harmless */
    bus_close(c);

    publish_range(p, "b", 0, 3, 3);
    c = consumer(f, f->group, BUS_FROM_COMMITTED);
    memset(&g, 0, sizeof g);
    assert_int_equal(drain(c, &g), 3);
    for (int i = 0; i < 3; i++)
        assert_true(find(&g, "b", i) >= 0);
    bus_close(c);
    bus_close(p);
}

static void test_redelivery_without_commit(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    publish_range(p, "r", 0, 6, 2);
    struct bus *c = consumer(f, f->group, BUS_FROM_COMMITTED);
    static struct got g;
    memset(&g, 0, sizeof g);
    assert_int_equal(collect(c, &g, 6), 6);
    bus_close(c); /* crashed before committing */

    c = consumer(f, f->group, BUS_FROM_COMMITTED);
    memset(&g, 0, sizeof g);
    assert_int_equal(drain(c, &g), 6);
    for (int i = 0; i < 6; i++)
        assert_true(find(&g, "r", i) >= 0);
    bus_close(c);
    bus_close(p);
}

/* Polls <a> and <b> in turn for <ms>, committing, collecting into <ga>/<gb>. */
static void poll_both(struct bus *a, struct got *ga, struct bus *b, struct got *gb, int ms,
                      int until)
{
    int64_t deadline = test_now_ms() + ms;
    while (test_now_ms() < deadline && ga->n + gb->n < until) {
        for (int k = 0; k < 2; k++) {
            struct bus *m = k ? b : a;
            struct got *g = k ? gb : ga;
            const struct bus_event *ev;
            size_t n;
            assert_int_equal(bus_poll(m, 100, &ev, &n), RC_OK);
            for (size_t i = 0; i < n; i++)
                snprintf(g->id[g->n++], sizeof g->id[0], "%s", ev[i].id);
            assert_int_equal(bus_commit(m), RC_OK);
        }
    }
}

static void test_group_shares_work_and_takes_over(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    struct bus *a = consumer(f, f->group, BUS_FROM_COMMITTED);
    struct bus *b = consumer(f, f->group, BUS_FROM_COMMITTED);
    static struct got ga, gb;
    memset(&ga, 0, sizeof ga);
    memset(&gb, 0, sizeof gb);
    poll_both(a, &ga, b, &gb, 4000, 1); /* both join and get their partitions */
    publish_range(p, "s", 0, 60, 24);
    poll_both(a, &ga, b, &gb, WAIT_MS, 60);
    /* Both members consumed, and nobody got an event twice. */
    assert_int_equal(ga.n + gb.n, 60);
    assert_true(ga.n > 0 && gb.n > 0);
    for (int i = 0; i < 60; i++)
        assert_true((find(&ga, "s", i) >= 0) != (find(&gb, "s", i) >= 0));

    bus_close(a); /* leaves the group: b takes every partition */
    publish_range(p, "t", 0, 30, 24);
    /* b receives all of them; what it had not committed when the group
     * rebalanced (its own partitions too) may come twice: at least once. */
    memset(&gb, 0, sizeof gb);
    int64_t deadline = test_now_ms() + WAIT_MS;
    int missing = 30;
    while (missing > 0 && test_now_ms() < deadline) {
        collect(b, &gb, gb.n + 1);
        missing = 0;
        for (int i = 0; i < 30; i++)
            missing += find(&gb, "t", i) < 0;
    }
    assert_int_equal(missing, 0);
    for (int i = 0; i < gb.n; i++)
        assert_int_equal(gb.id[i][0], 't');
    assert_int_equal(bus_commit(b), RC_OK);
    bus_close(b);
    bus_close(p);
}

struct blocked_poll {
    struct bus *b;
    int rc;
    int64_t took_ms;
};

static void *poll_long(void *arg)
{
    struct blocked_poll *bp = arg;
    const struct bus_event *ev;
    size_t n;
    int64_t t0 = test_now_ms();
    bp->rc = bus_poll(bp->b, 20000, &ev, &n);
    bp->took_ms = test_now_ms() - t0;
    return NULL;
}

static void test_interrupt_wakes_blocked_poll(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    publish_range(p, "i", 0, 1, 1); /* the topic exists */
    struct bus *c = consumer(f, f->group, BUS_FROM_END);
    struct blocked_poll bp = {.b = c};
    pthread_t t;
    pthread_create(&t, NULL, poll_long, &bp);
    usleep(300 * 1000);
    bus_interrupt(c);
    pthread_join(t, NULL);
    assert_int_equal(bp.rc, RC_OK);
    assert_true(bp.took_ms < 5000);
    bus_close(c);
    bus_close(p);
}

static void test_lag_and_group_lag(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    publish_range(p, "l", 0, 5, 5);
    int64_t lag = -1;
    assert_int_equal(bus_group_lag(p, f->group, &lag), RC_OK);
    assert_int_equal(lag, 5); /* a group that never committed owes everything */
    struct bus *c = consumer(f, f->group, BUS_FROM_COMMITTED);
    static struct got g;
    memset(&g, 0, sizeof g);
    assert_int_equal(collect(c, &g, 5), 5);
    assert_int_equal(bus_lag(c, &lag), RC_OK);
    assert_int_equal(lag, 5); /* received, not committed */
    assert_int_equal(bus_commit(c), RC_OK);
    assert_int_equal(bus_lag(c, &lag), RC_OK);
    assert_int_equal(lag, 0);
    publish_range(p, "m", 0, 2, 2);
    assert_int_equal(bus_group_lag(p, f->group, &lag), RC_OK);
    assert_int_equal(lag, 2);
    assert_int_equal(bus_group_lag(p, "no such group!", &lag), RC_INVALID);
    bus_close(c);
    bus_close(p);
}

static void test_rewind(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    assert_int_equal(bus_rewind(p, f->group), RC_NOT_FOUND);
    publish_range(p, "w", 0, 4, 2);
    struct bus *c = consumer(f, f->group, BUS_FROM_COMMITTED);
    static struct got g;
    memset(&g, 0, sizeof g);
    assert_int_equal(drain(c, &g), 4);
    assert_int_equal(bus_commit(c), RC_OK);
    assert_int_equal(bus_rewind(p, f->group), RC_CONFLICT); /* a member is consuming */
    bus_close(c);
    assert_int_equal(bus_rewind(p, f->group), RC_OK);
    c = consumer(f, f->group, BUS_FROM_COMMITTED);
    memset(&g, 0, sizeof g);
    assert_int_equal(drain(c, &g), 4);
    bus_close(c);
    bus_close(p);
}

static void test_tail_without_group(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    publish_range(p, "x", 0, 10, 4);
    struct bus *all = consumer(f, NULL, BUS_FROM_BEGINNING);
    struct bus *news = consumer(f, NULL, BUS_FROM_END);
    static struct got g;
    memset(&g, 0, sizeof g);
    assert_int_equal(drain(all, &g), 10);
    memset(&g, 0, sizeof g);
    assert_int_equal(drain(news, &g), 0);
    publish_range(p, "y", 0, 3, 4);
    assert_int_equal(collect(news, &g, 3), 3);
    assert_true(find(&g, "y", 0) >= 0 && find(&g, "x", 0) < 0);
    assert_int_equal(bus_commit(all), RC_OK); /* nothing to commit without a group */
    int64_t lag = -1;
    assert_int_equal(bus_lag(all, &lag), RC_OK);
    assert_int_equal(lag, 3); /* the three new ones */
    bus_close(news);
    bus_close(all);
    bus_close(p);
}

/* The log's end per partition: after publishing, the ends moved by the
 * number of events, and each event read back lies within its partition's
 * end. */
static void test_end_offsets_follow_keys(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    int64_t before[BUS_PARTITIONS_MAX], after[BUS_PARTITIONS_MAX];
    int n = 0, m = 0;
    assert_int_equal(bus_end_offsets(p, before, BUS_PARTITIONS_MAX, &n), RC_OK);
    assert_int_equal(n, 6);
    publish_range(p, "end", 0, 12, 12);
    assert_int_equal(bus_end_offsets(p, after, BUS_PARTITIONS_MAX, &m), RC_OK);
    assert_int_equal(m, 6);
    int64_t moved = 0;
    for (int i = 0; i < n; i++)
        moved += after[i] - before[i];
    assert_int_equal(moved, 12);
    struct bus *c = consumer(f, NULL, BUS_FROM_BEGINNING);
    int seen = 0;
    for (int tries = 0; seen < 12 && tries < 50; tries++) {
        const struct bus_event *ev;
        size_t got;
        assert_int_equal(bus_poll(c, 200, &ev, &got), RC_OK);
        for (size_t i = 0; i < got; i++, seen++) {
            assert_true(ev[i].offset <= after[ev[i].partition]);
        }
    }
    assert_int_equal(seen, 12);
    bus_close(c);
    bus_close(p);
}

static void test_bad_input_and_broker_away(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    assert_int_equal(bus_subscribe(p, "bad group", BUS_FROM_COMMITTED), RC_INVALID);
    bus_close(p);

    struct bus_options o = {.kafka_brokers = "127.0.0.1:1", .topic = f->topic};
    struct bus *down = NULL;
    char err[256];
    assert_int_equal(bus_open(&o, &down, err, sizeof err), RC_OK); /* connects lazily */
    int64_t ends[BUS_PARTITIONS_MAX];
    int n = 0;
    assert_int_equal(bus_end_offsets(down, ends, BUS_PARTITIONS_MAX, &n), RC_BUS);
    assert_true(strlen(bus_error(down)) > 0);
    bus_close(down);
}

/* Every allocation of ours may fail: the call says RC_NOMEM, leaks
 * nothing, and a later attempt works. */
static void test_oom(void **state)
{
    struct fixture *f = *state;
    struct bus *p = open_bus(f);
    publish_range(p, "o", 0, 3, 3);
    long i;
    for (i = 0;; i++) {
        assert_true(i < 100);
        struct bus_options o = {.kafka_brokers = f->brokers, .topic = f->topic};
        struct bus *b = NULL;
        char err[256] = "";
        const struct bus_event *ev = NULL;
        size_t n = 0;
        mem_fail_after(i);
        int rc = bus_open(&o, &b, err, sizeof err);
        if (rc == RC_OK)
            rc = bus_subscribe(b, f->group, BUS_FROM_BEGINNING);
        if (rc == RC_OK)
            rc = bus_poll(b, 0, &ev, &n);
        long refused = mem_fail_count();
        mem_fail_reset();
        if (rc == RC_OK) {
            /* Events taken before a failure stand; the one that failed and
             * those after it come with the next polls, none is skipped. */
            static struct got g;
            memset(&g, 0, sizeof g);
            assert_int_equal((int)n + drain(b, &g), 3);
            bus_close(b);
            if (refused == 0)
                break;
            continue;
        }
        if (rc != RC_NOMEM)
            fail_msg("allocation %ld: got %s (%s %s)", i, rc_name(rc), err, b ? bus_error(b) : "");
        bus_close(b);
    }
    assert_true(i >= 3);
    bus_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_per_key_ids_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redelivery_without_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_shares_work_and_takes_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_wakes_blocked_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lag_and_group_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_without_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_offsets_follow_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_and_broker_away, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
