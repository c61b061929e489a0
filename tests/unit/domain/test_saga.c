/* Saga metrics: an end counts once its transaction commits, never when it
 * rolls back, and every reason a service gives has a bounded slug. */
#include "support/test_support.h"

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "domain/saga.h"
#include "core/metrics/metrics.h"
#include "svc/pointer/pointer.h"

struct fixture {
    char dir[256];
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir);
    char url[320], err[256] = "";
    snprintf(url, sizeof url, "sqlite:%s/saga.db", f->dir);
    assert_int_equal(store_open(url, &f->st, err, sizeof err), RC_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    test_rmtree(f->dir);
    free(f);
    metrics_cleanup();
    return 0;
}

static uint64_t ended(const char *labels)
{
    return metrics_counter_value(metrics_counter("webtoon_saga_outcomes_total", "", labels));
}

static uint64_t timed(const char *labels)
{
    return metrics_histogram_count(metrics_histogram("webtoon_saga_duration_seconds", "", labels));
}

static void test_counted_once_committed(void **state)
{
    struct fixture *f = *state;
    const char *rejected = "saga=\"purchase\",outcome=\"rejected\",reason=\"insufficient_points\"";
    const char *took = "saga=\"purchase\",outcome=\"rejected\"";
    int64_t started = clock_wall_ms() - 1500;

    assert_int_equal(store_begin(f->st), RC_OK);
    domain_saga_ended(f->st, "purchase", "rejected", "insufficient_points", started);
    assert_int_equal(ended(rejected), 0); /* not before the commit */
    store_rollback(f->st);                /* a lost race: run again below */
    assert_int_equal(store_begin(f->st), RC_OK);
    domain_saga_ended(f->st, "purchase", "rejected", "insufficient_points", started);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(ended(rejected), 1);
    assert_int_equal(timed(took), 1);

    /* the duration lands in the buckets around 1.5 s */
    struct buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(&out), RC_OK);
    char *text = buf_steal(&out);
    assert_non_null(strstr(text, "webtoon_saga_duration_seconds_bucket{service=\"webtoon\","
                                 "saga=\"purchase\",outcome=\"rejected\",le=\"1\"} 0\n"));
    assert_non_null(strstr(text, "webtoon_saga_duration_seconds_bucket{service=\"webtoon\","
                                 "saga=\"purchase\",outcome=\"rejected\",le=\"2.5\"} 1\n"));
    mem_free(text);

    /* outside a transaction: at once */
    domain_saga_ended(f->st, "purchase", "approved", "none", clock_wall_ms());
    assert_int_equal(ended("saga=\"purchase\",outcome=\"approved\",reason=\"none\""), 1);
}

/* Every verdict the pointer service gives as a reason, and every decline
 * of the simulated provider (docs/PAYMENTS.md), has a slug of its own;
 * anything else is "other", so a payload cannot add label values. */
static void test_reasons_are_bounded(void **state)
{
    (void)state;
    const enum pointer_verdict verdicts[] = {POINTER_UNKNOWN_USER, POINTER_WITHDRAWN,
                                             POINTER_INSUFFICIENT, POINTER_OVERFLOW};
    for (size_t i = 0; i < ARRAY_LEN(verdicts); i++)
        assert_string_not_equal(domain_saga_reason(pointer_verdict_reason(verdicts[i])), "other");
    assert_string_equal(domain_saga_reason("not enough points"), "insufficient_points");
    assert_string_equal(domain_saga_reason("the episode was already read"), "already_read");
    assert_string_equal(domain_saga_reason("card declined"), "card_declined");
    assert_string_equal(domain_saga_reason("the charge was interrupted before it was made"),
                        "interrupted");
    assert_string_equal(domain_saga_reason("alice's custom text\"}"), "other");
    assert_string_equal(domain_saga_reason(""), "other");
    assert_string_equal(domain_saga_reason(NULL), "other");
}

static void test_measure(void **state)
{
    (void)state;
    domain_saga_measure("refund", 3, 1);
    assert_int_equal(
        metrics_gauge_value(metrics_gauge("webtoon_sagas_in_progress", "", "saga=\"refund\"")), 3);
    assert_int_equal(
        metrics_gauge_value(metrics_gauge("webtoon_sagas_overdue", "", "saga=\"refund\"")), 1);
    /* the ends it always can have exist, at 0; other sagas' do not */
    struct buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(&out), RC_OK);
    char *text = buf_steal(&out);
    assert_non_null(strstr(text, "webtoon_saga_outcomes_total{service=\"webtoon\",saga=\"refund\","
                                 "outcome=\"timed_out\",reason=\"deadline\"} 0\n"));
    assert_non_null(strstr(text, "webtoon_saga_duration_seconds_count{service=\"webtoon\","
                                 "saga=\"refund\",outcome=\"refused\"} 0\n"));
    assert_null(strstr(text, "saga=\"purchase\""));
    mem_free(text);
}

int main(void)
{
    metrics_init("webtoon");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counted_once_committed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reasons_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
