/* The OTLP/HTTP exporter against a tiny collector on 127.0.0.1 run by the
 * test: the JSON it posts (resource, ids, kinds, times, attributes, links,
 * status), batching, the flush at stop, and the bounds: a full queue, a
 * collector that is down, refuses or hangs all drop spans and count them,
 * and never hold up the caller. */
#include "support/test_collector.h"

#include "core/base/rc.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/trace/trace.h"

#define WAIT_MS 10000

static struct test_collector coll;

static int setup(void **state)
{
    (void)state;
    test_collector_start(&coll);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    trace_export_stop(0);
    test_collector_stop(&coll);
    return 0;
}

static bool coll_has_posts(void *want)
{
    pthread_mutex_lock(&coll.lock);
    bool ok = coll.nposts >= *(int *)want;
    pthread_mutex_unlock(&coll.lock);
    return ok;
}

static bool coll_has_received(void *want)
{
    pthread_mutex_lock(&coll.lock);
    bool ok = coll.received >= *(int *)want;
    pthread_mutex_unlock(&coll.lock);
    return ok;
}

static size_t spans_received(void)
{
    json_t *all = test_collector_spans(&coll);
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

/* --- helpers ---------------------------------------------------------------------------- */

static void start(const char *path, size_t queue, size_t batch, int64_t flush_ms,
                  int64_t timeout_ms)
{
    char endpoint[128], err[256] = "";
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d%s", coll.port, path);
    struct trace_export_options o = {.endpoint = endpoint,
                                     .service_name = "test-svc",
                                     .queue_max = queue,
                                     .batch_max = batch,
                                     .flush_interval_ms = flush_ms,
                                     .timeout_ms = timeout_ms};
    if (trace_export_start(&o, err, sizeof err) != RC_OK)
        fail_msg("trace_export_start: %s", err);
}

static uint64_t exported(void)
{
    return metrics_counter_value(metrics_counter("webtoon_trace_spans_exported_total", "", ""));
}

static uint64_t dropped(const char *reason)
{
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    return metrics_counter_value(metrics_counter("webtoon_trace_spans_dropped_total", "", labels));
}

/* Submits one recorded span with attribute n=<n>. */
static void submit(int n)
{
    struct trace_span sp;
    trace_span_begin(&sp, "work", TRACE_INTERNAL, NULL);
    assert_true(sp.recording);
    trace_span_attr_int(&sp, "n", n);
    trace_span_end(&sp);
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_otlp_json(void **state)
{
    (void)state;
    start("/", 0, 0, 60000, 0); /* a trailing slash names the same base; sent at stop */
    struct trace_ctx client;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_int_equal(trace_parse(tp, strlen(tp), &client), RC_OK);
    struct trace_span sp;
    trace_span_begin(&sp, "POST /purchases", TRACE_SERVER, &client);
    trace_span_attr_str(&sp, "http.route", "/purchases");
    trace_span_attr_int(&sp, "http.response.status_code", 503);
    trace_span_link(&sp, &client);
    trace_span_set_error(&sp, "STORE");
    trace_span_end(&sp);
    struct trace_span made;
    assert_int_equal(trace_span_make(&made, "GET /webtoons", TRACE_SERVER,
                                     "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", NULL,
                                     true, 1700000000123000000, 1700000000456000000),
                     RC_OK);
    trace_span_submit(&made);
    trace_export_stop(2000);
    assert_int_equal(coll.nposts, 1);

    pthread_mutex_lock(&coll.lock);
    assert_non_null(strstr(coll.heads[0], "POST /v1/traces HTTP/1.1\r\n"));
    assert_non_null(strcasestr(coll.heads[0], "\r\nContent-Type: application/json\r\n"));
    json_t *spans, *body = test_collector_post(&coll, 0, &spans);
    json_t *rs = json_array_get(json_object_get(body, "resourceSpans"), 0);
    json_t *attr =
        json_array_get(json_object_get(json_object_get(rs, "resource"), "attributes"), 0);
    assert_string_equal(json_string_value(json_object_get(attr, "key")), "service.name");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(attr, "value"), "stringValue")),
        "test-svc");
    assert_int_equal(json_array_size(spans), 2);
    json_t *s = json_array_get(spans, 0);
    assert_string_equal(json_string_value(json_object_get(s, "traceId")),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_object_get(s, "spanId")), sp.ctx.span_id);
    assert_string_equal(json_string_value(json_object_get(s, "parentSpanId")), "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(s, "name")), "POST /purchases");
    assert_int_equal(json_integer_value(json_object_get(s, "kind")), 2); /* SPAN_KIND_SERVER */
    char ns[24];
    snprintf(ns, sizeof ns, "%lld", (long long)sp.start_ns);
    assert_string_equal(json_string_value(json_object_get(s, "startTimeUnixNano")), ns);
    snprintf(ns, sizeof ns, "%lld", (long long)sp.end_ns);
    assert_string_equal(json_string_value(json_object_get(s, "endTimeUnixNano")), ns);
    json_t *attrs = json_object_get(s, "attributes");
    assert_int_equal(json_array_size(attrs), 2);
    json_t *route = json_object_get(json_array_get(attrs, 0), "value");
    assert_string_equal(json_string_value(json_object_get(route, "stringValue")), "/purchases");
    json_t *code = json_object_get(json_array_get(attrs, 1), "value");
    assert_string_equal(json_string_value(json_object_get(code, "intValue")), "503");
    json_t *link = json_array_get(json_object_get(s, "links"), 0);
    assert_string_equal(json_string_value(json_object_get(link, "spanId")), "00f067aa0ba902b7");
    json_t *status = json_object_get(s, "status");
    assert_int_equal(json_integer_value(json_object_get(status, "code")), 2); /* ERROR */
    assert_string_equal(json_string_value(json_object_get(status, "message")), "STORE");
    json_t *m = json_array_get(spans, 1);
    assert_null(json_object_get(m, "parentSpanId")); /* a root */
    assert_null(json_object_get(m, "links"));
    assert_string_equal(json_string_value(json_object_get(m, "startTimeUnixNano")),
                        "1700000000123000000");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "status"), "code")), 0);
    json_decref(body);
    pthread_mutex_unlock(&coll.lock);
}

static void test_batches(void **state)
{
    (void)state;
    uint64_t before = exported();
    start("", 64, 3, 100, 0);
    for (int i = 0; i < 7; i++)
        submit(i);
    int three = 3;
    assert_true(test_wait_until(coll_has_posts, &three, WAIT_MS)); /* 3 + 3 + 1 */
    trace_export_stop(2000);
    assert_int_equal(spans_received(), 7);
    pthread_mutex_lock(&coll.lock);
    for (int i = 0; i < coll.nposts; i++) {
        json_t *spans, *body = test_collector_post(&coll, i, &spans);
        assert_true(json_array_size(spans) >= 1 && json_array_size(spans) <= 3);
        json_decref(body);
    }
    pthread_mutex_unlock(&coll.lock);
    assert_int_equal(exported() - before, 7);
}

static void test_stop_flushes(void **state)
{
    (void)state;
    uint64_t before = exported();
    start("", 0, 0, 60000, 0); /* no flush before the stop */
    submit(1);
    submit(2);
    trace_export_stop(2000);
    assert_int_equal(spans_received(), 2);
    assert_int_equal(exported() - before, 2);
    assert_false(trace_export_is_running());
    struct trace_span sp;
    trace_span_begin(&sp, "late", TRACE_INTERNAL, NULL);
    assert_false(sp.recording);
}

static void test_dead_collector_drops(void **state)
{
    (void)state;
    /* a port nothing listens on */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &alen);
    char endpoint[64], err[256];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", ntohs(a.sin_port));
    close(s);
    uint64_t failed = dropped("export_failed"), ok = exported();
    struct trace_export_options o = {
        .endpoint = endpoint, .service_name = "t", .batch_max = 2, .flush_interval_ms = 20};
    assert_int_equal(trace_export_start(&o, err, sizeof err), RC_OK);
    for (int i = 0; i < 5; i++)
        submit(i);
    trace_export_stop(2000);
    assert_int_equal(dropped("export_failed") - failed, 5);
    assert_int_equal(exported(), ok);
}

static void test_refusing_collector_drops(void **state)
{
    (void)state;
    coll.status = 503;
    uint64_t failed = dropped("export_failed"), ok = exported();
    start("", 0, 0, 20, 0);
    submit(1);
    int one = 1;
    assert_true(test_wait_until(coll_has_posts, &one, WAIT_MS));
    trace_export_stop(2000);
    assert_int_equal(dropped("export_failed") - failed, 1);
    assert_int_equal(exported(), ok);
}

static void test_full_queue_drops_without_waiting(void **state)
{
    (void)state;
    uint64_t full = dropped("queue_full"), failed = dropped("export_failed"), ok = exported();
    coll.unanswered = 1;          /* the first batch waits for an answer that never comes... */
    start("", 4, 2, 60000, 1500); /* ...for 1.5 s */
    submit(1);
    submit(2); /* a full batch: sent at once */
    int one = 1;
    assert_true(test_wait_until(coll_has_received, &one, WAIT_MS));
    /* The exporter is busy: 4 fit in the queue, the other 6 are dropped
     * at once. */
    int64_t t0 = test_now_ms();
    for (int i = 0; i < 10; i++)
        submit(i);
    int64_t took = test_now_ms() - t0;
    assert_int_equal(dropped("queue_full") - full, 6);
    assert_true(took < 1000); /* less than the hanging POST's timeout: nobody waited on it */
    trace_export_stop(5000);
    /* the hanging batch timed out; the 4 queued went out after it */
    assert_int_equal(dropped("export_failed") - failed, 2);
    assert_int_equal(exported() - ok, 4);
    assert_int_equal(spans_received(), 6);
}

static void test_unsampled_not_exported(void **state)
{
    (void)state;
    uint64_t ok = exported();
    start("", 0, 0, 20, 0);
    struct trace_ctx unsampled;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert_int_equal(trace_parse(tp, strlen(tp), &unsampled), RC_OK);
    struct trace_span sp;
    trace_span_begin(&sp, "quiet", TRACE_SERVER, &unsampled);
    trace_span_end(&sp);
    assert_int_equal(trace_span_make(&sp, "x", TRACE_PRODUCER, unsampled.trace_id,
                                     "1111111111111111", unsampled.span_id, false, 1, 2),
                     RC_OK);
    trace_span_submit(&sp);
    trace_export_stop(2000);
    assert_int_equal(coll.nposts, 0);
    assert_int_equal(exported(), ok);
}

static void test_start_refusals(void **state)
{
    (void)state;
    char err[256] = "";
    const char *bad[] = {"", "127.0.0.1:4318", "ftp://x", "http://", "http:///", "http://a b"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct trace_export_options o = {.endpoint = bad[i], .service_name = "t"};
        if (trace_export_start(&o, err, sizeof err) != RC_CONFIG)
            fail_msg("accepted endpoint '%s'", bad[i]);
        assert_non_null(strstr(err, "WEBTOON_OTLP_ENDPOINT"));
        assert_false(trace_export_is_running());
    }
    start("", 0, 0, 0, 0);
    struct trace_export_options again = {.endpoint = "http://127.0.0.1:1", .service_name = "t"};
    assert_int_equal(trace_export_start(&again, err, sizeof err), RC_CONFLICT);
    assert_true(trace_export_is_running()); /* the first one still runs */
    trace_export_stop(0);
    trace_export_stop(0); /* twice: nothing */
    /* the setting: empty starts nothing */
    struct config cfg;
    unsetenv("WEBTOON_OTLP_ENDPOINT");
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    assert_int_equal(trace_export_start_config(&cfg, "svc", err, sizeof err), RC_OK);
    assert_false(trace_export_is_running());
    config_cleanup(&cfg);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", coll.port);
    setenv("WEBTOON_OTLP_ENDPOINT", endpoint, 1);
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    assert_int_equal(trace_export_start_config(&cfg, "svc", err, sizeof err), RC_OK);
    assert_true(trace_export_is_running());
    trace_export_stop(0);
    config_cleanup(&cfg);
    unsetenv("WEBTOON_OTLP_ENDPOINT");
}

int main(void)
{
    log_init("test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_otlp_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_collector_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusing_collector_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_drops_without_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsampled_not_exported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_refusals, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_cleanup();
    return failed;
}
