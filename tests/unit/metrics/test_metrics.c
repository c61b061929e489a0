/* Metric registry and the Prometheus text format it renders. */
#include "support/test_support.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/base/buf.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/metrics/metrics.h"

/* New rendering of every series (free with mem_free). */
static char *render(void)
{
    struct buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(&out), RC_OK);
    return buf_steal(&out);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_counter(void **state)
{
    (void)state;
    struct metrics_counter *c = metrics_counter("t_total", "Things", "route=\"/a\"");
    assert_non_null(c);
    assert_int_equal(metrics_counter_value(c), 0);
    metrics_counter_add(c, 1);
    metrics_counter_add(c, 41);
    assert_int_equal(metrics_counter_value(c), 42);
    /* the same (name, labels) is the same series */
    assert_ptr_equal(metrics_counter("t_total", "Things", "route=\"/a\""), c);
    struct metrics_counter *other = metrics_counter("t_total", "Things", "route=\"/b\"");
    assert_ptr_not_equal(other, c);
    assert_int_equal(metrics_counter_value(other), 0);
    assert_ptr_not_equal(metrics_counter("t2_total", "Things", "route=\"/a\""), c);
}

static void test_gauge(void **state)
{
    (void)state;
    struct metrics_gauge *g = metrics_gauge("t_inflight", "In flight", "");
    metrics_gauge_set(g, 10);
    metrics_gauge_add(g, -3);
    assert_int_equal(metrics_gauge_value(g), 7);
    metrics_gauge_add(g, -10);
    assert_int_equal(metrics_gauge_value(g), -3);
    assert_ptr_equal(metrics_gauge("t_inflight", "In flight", ""), g);
}

static void test_null_is_harmless(void **state)
{
    (void)state;
    metrics_counter_add(NULL, 5);
    assert_int_equal(metrics_counter_value(NULL), 0);
    metrics_gauge_set(NULL, 5);
    metrics_gauge_add(NULL, 5);
    assert_int_equal(metrics_gauge_value(NULL), 0);
    metrics_histogram_observe_us(NULL, 5);
}

static void test_render_families(void **state)
{
    (void)state;
    metrics_init("pointer");
    /* registered interleaved: the family still renders together, once */
    metrics_counter_add(metrics_counter("t_requests_total", "Requests served", "route=\"/a\""), 3);
    metrics_gauge_set(metrics_gauge("t_backlog", "Rows waiting", ""), 5);
    metrics_counter_add(metrics_counter("t_requests_total", "Requests served", "route=\"/b\""), 1);
    char *text = render();
    const char *expected = "# HELP t_requests_total Requests served\n"
                           "# TYPE t_requests_total counter\n"
                           "t_requests_total{service=\"pointer\",route=\"/a\"} 3\n"
                           "t_requests_total{service=\"pointer\",route=\"/b\"} 1\n"
                           "# HELP t_backlog Rows waiting\n"
                           "# TYPE t_backlog gauge\n"
                           "t_backlog{service=\"pointer\"} 5\n";
    assert_string_equal(text, expected);
    mem_free(text);
}

static void test_render_histogram(void **state)
{
    (void)state;
    metrics_init("svc");
    struct metrics_histogram *h = metrics_histogram("t_seconds", "Latency", "route=\"/x\"");
    const int64_t us[] = {50, 100, 300, 2000000, 20000000};
    for (size_t i = 0; i < ARRAY_LEN(us); i++)
        metrics_histogram_observe_us(h, us[i]);
    char *text = render();
    assert_int_equal(count(text, "# HELP t_seconds Latency\n"), 1);
    assert_int_equal(count(text, "# TYPE t_seconds histogram\n"), 1);
    /* bounds are inclusive and the counts cumulative */
    assert_non_null(
        strstr(text, "t_seconds_bucket{service=\"svc\",route=\"/x\",le=\"0.0001\"} 2\n"));
    assert_non_null(
        strstr(text, "t_seconds_bucket{service=\"svc\",route=\"/x\",le=\"0.00025\"} 2\n"));
    assert_non_null(
        strstr(text, "t_seconds_bucket{service=\"svc\",route=\"/x\",le=\"0.0005\"} 3\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{service=\"svc\",route=\"/x\",le=\"1\"} 3\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{service=\"svc\",route=\"/x\",le=\"2.5\"} 4\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{service=\"svc\",route=\"/x\",le=\"10\"} 4\n"));
    /* +Inf equals the count, including what no finite bucket holds */
    assert_non_null(strstr(text, "t_seconds_bucket{service=\"svc\",route=\"/x\",le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(text, "t_seconds_count{service=\"svc\",route=\"/x\"} 5\n"));
    assert_non_null(strstr(text, "t_seconds_sum{service=\"svc\",route=\"/x\"} 22.000450\n"));
    assert_int_equal(count(text, "t_seconds_bucket{"), 17);

    /* every bucket line is at least the one before it */
    long long prev = -1;
    for (const char *p = text; (p = strstr(p, "t_seconds_bucket{")) != NULL; p++) {
        const char *space = strchr(p, ' ');
        long long v = strtoll(space + 1, NULL, 10);
        assert_true(v >= prev);
        prev = v;
    }
    mem_free(text);
}

/* A histogram without labels renders only the service label and le. */
static void test_render_histogram_no_labels(void **state)
{
    (void)state;
    metrics_init("svc");
    metrics_histogram_observe_us(metrics_histogram("t_plain_seconds", "Plain", ""), 1000);
    char *text = render();
    assert_non_null(strstr(text, "t_plain_seconds_bucket{service=\"svc\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(text, "t_plain_seconds_count{service=\"svc\"} 1\n"));
    mem_free(text);
}

/* A histogram with bounds of its own uses them, and only them. */
static void test_render_histogram_bounds(void **state)
{
    (void)state;
    metrics_init("svc");
    static const int64_t bounds[] = {1000000, 60000000, 300000000};
    struct metrics_histogram *h =
        metrics_histogram_bounds("t_saga_seconds", "Saga time", "saga=\"s\"", bounds, 3);
    metrics_histogram_observe_us(h, 500000);    /* 0.5 s */
    metrics_histogram_observe_us(h, 60000000);  /* 60 s: inclusive */
    metrics_histogram_observe_us(h, 600000000); /* 600 s: only +Inf */
    /* registered again: the same series, its first bounds */
    assert_ptr_equal(metrics_histogram("t_saga_seconds", "Saga time", "saga=\"s\""), h);
    char *text = render();
    assert_int_equal(count(text, "t_saga_seconds_bucket{"), 4);
    assert_non_null(strstr(text, "t_saga_seconds_bucket{service=\"svc\",saga=\"s\",le=\"1\"} 1\n"));
    assert_non_null(
        strstr(text, "t_saga_seconds_bucket{service=\"svc\",saga=\"s\",le=\"60\"} 2\n"));
    assert_non_null(
        strstr(text, "t_saga_seconds_bucket{service=\"svc\",saga=\"s\",le=\"300\"} 2\n"));
    assert_non_null(
        strstr(text, "t_saga_seconds_bucket{service=\"svc\",saga=\"s\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "t_saga_seconds_sum{service=\"svc\",saga=\"s\"} 660.500000\n"));
    mem_free(text);
}

/* Value of the series <name>{service="svc"} in <text>, or -1 when absent. */
static double process_value(const char *text, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s{service=\"svc\"} ", name);
    const char *p = strstr(text, needle);
    return p ? strtod(p + strlen(needle), NULL) : -1;
}

/* The process_* families, as the client libraries name them, with values
 * this process can check against itself. */
static void test_render_process(void **state)
{
    (void)state;
    metrics_init("svc");
    struct buf out;
    buf_init(&out, 1 << 16);
    int fd = dup(0); /* one more descriptor than before */
    assert_true(fd >= 0);
    assert_int_equal(metrics_render_process(&out), RC_OK);
    close(fd);
    char *text = buf_steal(&out);
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_true(process_value(text, "process_cpu_seconds_total") >= 0);
    double rss = process_value(text, "process_resident_memory_bytes");
    double vsize = process_value(text, "process_virtual_memory_bytes");
    assert_true(rss > 100000 && vsize >= rss);
    double open_fds = process_value(text, "process_open_fds");
    assert_true(open_fds >= 4); /* stdin, stdout, stderr and the dup */
    struct rlimit lim;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
    assert_true(process_value(text, "process_max_fds") == (double)lim.rlim_cur);
    double start = process_value(text, "process_start_time_seconds");
    time_t now = time(NULL);
    assert_true(start > (double)now - 3600 && start <= (double)now + 1);
    mem_free(text);
}

static void test_render_respects_cap(void **state)
{
    (void)state;
    metrics_counter("t_total", "Things", "");
    struct buf out;
    buf_init(&out, 16);
    assert_int_equal(metrics_render(&out), RC_TOO_LARGE);
    buf_cleanup(&out);
}

static void test_cleanup_forgets(void **state)
{
    (void)state;
    metrics_counter_add(metrics_counter("t_total", "Things", ""), 1);
    metrics_cleanup();
    char *text = render();
    assert_string_equal(text, "");
    mem_free(text);
    /* registering again starts from zero */
    assert_int_equal(metrics_counter_value(metrics_counter("t_total", "Things", "")), 0);
}

/* Registration refused for lack of memory gives NULL (which every update
 * accepts) and leaves nothing half-registered; rendering reports RC_NOMEM. */
static void test_oom(void **state)
{
    (void)state;
    metrics_init("svc");
    for (long i = 0;; i++) {
        assert_true(i < 100);
        mem_fail_after(i);
        struct metrics_counter *c = metrics_counter("t_total", "Things", "k=\"v\"");
        struct metrics_histogram *h = metrics_histogram("t_seconds", "Latency", "");
        long refused = mem_fail_count();
        mem_fail_reset();
        if (refused == 0) {
            assert_non_null(c);
            assert_non_null(h);
            metrics_counter_add(c, 1);
            metrics_histogram_observe_us(h, 10);
            break;
        }
        assert_true(c == NULL || h == NULL);
    }
    /* each series exists once, with the one update */
    char *text = render();
    assert_int_equal(count(text, "t_total{"), 1);
    assert_non_null(strstr(text, "t_total{service=\"svc\",k=\"v\"} 1\n"));
    assert_int_equal(count(text, "t_seconds_count{"), 1);
    mem_free(text);

    for (long i = 0;; i++) {
        assert_true(i < 100);
        struct buf out;
        buf_init(&out, 1 << 20);
        mem_fail_after(i);
        int rc = metrics_render(&out);
        mem_fail_reset();
        buf_cleanup(&out);
        if (rc == RC_OK)
            break;
        assert_int_equal(rc, RC_NOMEM);
    }
}

static int reset(void **state)
{
    (void)state;
    metrics_cleanup();
    metrics_init("webtoon");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counter, reset),
        cmocka_unit_test_teardown(test_gauge, reset),
        cmocka_unit_test_teardown(test_null_is_harmless, reset),
        cmocka_unit_test_teardown(test_render_families, reset),
        cmocka_unit_test_teardown(test_render_histogram, reset),
        cmocka_unit_test_teardown(test_render_histogram_no_labels, reset),
        cmocka_unit_test_teardown(test_render_histogram_bounds, reset),
        cmocka_unit_test_teardown(test_render_process, reset),
        cmocka_unit_test_teardown(test_render_respects_cap, reset),
        cmocka_unit_test_teardown(test_cleanup_forgets, reset),
        cmocka_unit_test_teardown(test_oom, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
