/* The HTTP server over real sockets: routing, problem+json errors, request
 * ids, keep-alive, built-in endpoints, metrics and graceful drain; trace
 * contexts from traceparent, current whenever a request's work runs, in its
 * log line, and its SERVER span. */
#include "support/test_collector.h"

#include <poll.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "core/http/http.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/trace/trace.h"

static int handle_item_get(struct http_req *req)
{
    int64_t page;
    int rc = http_req_query_int(req, "page", 0, 0, 1000, &page);
    if (rc != RC_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:I, s:s}", "id", http_req_param(req, "id"), "page",
                             (json_int_t)page, "who", (const char *)http_req_ctx(req));
    return http_reply_json(req, 200, body, NULL);
}

static int handle_item_post(struct http_req *req)
{
    json_t *body;
    int rc = http_req_json(req, &body);
    if (rc != RC_OK)
        return rc;
    json_t *name = json_object_get(body, "name");
    if (!json_is_string(name))
        return http_fail(req, RC_INVALID, "field 'name' must be a string");
    http_reply_header(req, "Location", "/items/1");
    return http_reply_json(req, 201, json_pack("{s:O}", "name", name), NULL);
}

static int handle_conflict(struct http_req *req)
{
    return http_fail(req, RC_CONFLICT, "already there: %s", "x");
}

static int handle_silent(struct http_req *req)
{
    (void)req;
    return RC_OK; /* forgets to reply: the server must still answer */
}

/* Parked requests: /wait/{n} answers after its check ran n times; /wait/late
 * never decides before its deadline, then answers 504. */
struct waiter {
    int left;
    bool late;
};

/* The thread's trace context as the last handler and the last park check
 * saw it (written on a loop thread, read once the reply is in). */
static struct trace_ctx seen_in_handler, seen_in_check;

static void remember_context(struct trace_ctx *where)
{
    const struct trace_ctx *now = trace_current();
    if (now)
        *where = *now;
    else
        memset(where, 0, sizeof *where);
}

static int handle_traced(struct http_req *req)
{
    remember_context(&seen_in_handler);
    return http_reply_json(req, 200, json_pack("{s:s}", "ok", "yes"), NULL);
}

static int wait_check(struct http_req *req, void *ud, bool expired)
{
    struct waiter *w = ud;
    remember_context(&seen_in_check);
    if (expired)
        return http_fail(req, RC_TIMEOUT, "waited too long");
    if (w->late || --w->left > 0)
        return HTTP_PARKED;
    return http_reply_json(req, 200, json_pack("{s:s}", "waited", "yes"), NULL);
}

static int handle_wait(struct http_req *req)
{
    struct waiter *w = http_req_alloc(req, sizeof *w);
    remember_context(&seen_in_handler);
    const char *n = http_req_param(req, "n");
    w->late = !strcmp(n, "late");
    w->left = w->late ? 0 : (int)strtol(n, NULL, 10);
    return http_req_park(req, w->late ? 100 : 5000, wait_check, w);
}

static const struct http_route routes[] = {
    {"GET", "/wait/{n}", handle_wait},    {"GET", "/items/{id}", handle_item_get},
    {"POST", "/items", handle_item_post}, {"PUT", "/items/{id}/conflict", handle_conflict},
    {"GET", "/silent", handle_silent},    {"POST", "/items/special", handle_item_post},
    {"GET", "/traced", handle_traced},
};

static bool ready_flag = true;
static bool test_readiness(void *ctx, json_t *checks)
{
    (void)ctx;
    json_object_set_new(checks, "db", json_string(ready_flag ? "up" : "down"));
    return ready_flag;
}

static int worker_init(void *app, void **ctx)
{
    *ctx = app;
    return RC_OK;
}

static struct http_server *start(int threads)
{
    static char app[] = "worker";
    struct http_server_options o = {
        .addr = "127.0.0.1",
        .port = 0,
        .threads = threads,
        .max_body = 1024,
        .timeout_ms = 5000,
        .routes = routes,
        .nroutes = ARRAY_LEN(routes),
        .app = app,
        .worker_init = worker_init,
        .readiness = test_readiness,
    };
    struct http_server *s = NULL;
    char err[256];
    assert_int_equal(http_server_start(&o, &s, err, sizeof err), RC_OK);
    return s;
}

static int setup(void **state)
{
    log_init("test", LOG_ERROR);
    *state = start(2);
    return 0;
}

static int teardown(void **state)
{
    http_server_stop(*state, 1000);
    metrics_cleanup();
    return 0;
}

#define PORT(state) http_server_port(*(state))

static void test_route_with_param_and_query(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", "/items/abc%2D1?page=3", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"id\":\"abc-1\""));
    assert_non_null(strstr(r.body, "\"page\":3"));
    assert_non_null(strstr(r.body, "\"who\":\"worker\""));
    assert_non_null(strcasestr(r.headers, "content-type: application/json"));
}

static void test_bad_query_is_400_problem(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", "/items/a?page=-1", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strcasestr(r.headers, "content-type: application/problem+json"));
    assert_non_null(strstr(r.body, "\"type\":\"/problems/invalid-request\""));
    assert_non_null(strstr(r.body, "page"));
    /* decimal digits (and a '-') only: strtoll alone would take " 1" and "+1" */
    const char *bad[] = {
        "/items/a?page=+1", "/items/a?page=%201", "/items/a?page=1x",
        "/items/a?page=",   "/items/a?page=-",    "/items/a?page=99999999999999999999"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(test_http(PORT(state), "GET", bad[i], NULL, NULL, &r), 0);
        assert_int_equal(r.status, 400);
    }
    assert_int_equal(test_http(PORT(state), "GET", "/items/a?page=007", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"page\":7"));
}

static void test_unknown_path_is_404_problem(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", "/nothing/here", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"status\":404"));
    assert_non_null(strstr(r.body, "\"instance\":\"/nothing/here\""));
}

static void test_wrong_method_is_405_with_allow(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "DELETE", "/items/1", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    assert_non_null(strcasestr(r.headers, "allow: GET"));
}

static void test_unknown_methods_are_405_with_allow(void **state)
{
    struct test_response r;
    const char *methods[] = {"TRACE", "DELETE", "PATCH", "FOO"};
    for (size_t i = 0; i < ARRAY_LEN(methods); i++) {
        assert_int_equal(test_http(PORT(state), methods[i], "/items", NULL, NULL, &r), 0);
        assert_int_equal(r.status, 405);
        assert_non_null(strcasestr(r.headers, "\r\nallow: POST\r\n"));
        assert_non_null(strcasestr(r.headers, "content-type: application/problem+json"));
    }
    /* the built-in endpoints are resources too */
    assert_int_equal(test_http(PORT(state), "TRACE", "/readyz", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    assert_non_null(strcasestr(r.headers, "\r\nallow: GET\r\n"));
    /* an unknown path stays 404 whatever the method */
    assert_int_equal(test_http(PORT(state), "TRACE", "/nothing", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
}

static void test_options_answers_what_is_allowed(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "OPTIONS", "/items/1", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    assert_non_null(strcasestr(r.headers, "\r\nallow: GET\r\n"));
    assert_int_equal(test_http(PORT(state), "OPTIONS", "/items/1/conflict", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    assert_non_null(strcasestr(r.headers, "\r\nallow: PUT\r\n"));
    assert_int_equal(test_http(PORT(state), "OPTIONS", "/healthz", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    assert_non_null(strcasestr(r.headers, "\r\nallow: GET\r\n"));
    /* a literal path is its own resource: not also /items/{id} */
    assert_int_equal(test_http(PORT(state), "OPTIONS", "/items/special", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    assert_non_null(strcasestr(r.headers, "\r\nallow: POST\r\n"));
    assert_int_equal(test_http(PORT(state), "GET", "/items/special", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 405);
}

static void test_path_decoded_once(void **state)
{
    struct test_response r;
    /* the bytes on the wire are decoded once: %2541 is "%41", not "A" */
    assert_int_equal(test_http(PORT(state), "GET", "/%69tems/100%2541", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"id\":\"100%41\""));
    assert_int_equal(test_http(PORT(state), "GET", "/items/%C3%A9", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"id\":\"\xC3\xA9\""));
    /* refused, each with a reason and a quotable instance */
    const char *bad[] = {"/items/%00",    "/items/a%00junk", "/items/a%2Fb", "/items/%C3%28",
                         "/items/%zz",    "/items/%",        "/items/.",     "/items/%2E%2E",
                         "/x/../items/1", "/items/\xFF"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(test_http(PORT(state), "GET", bad[i], NULL, NULL, &r), 0);
        assert_int_equal(r.status, 400);
        assert_non_null(strcasestr(r.headers, "content-type: application/problem+json"));
        assert_non_null(strstr(r.body, "\"type\":\"/problems/invalid-request\""));
        assert_non_null(strstr(r.body, "\"detail\":"));
    }
    /* a trailing slash is not the same resource */
    assert_int_equal(test_http(PORT(state), "GET", "/items/1/", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    /* the instance is the canonical path */
    assert_int_equal(test_http(PORT(state), "PUT", "/%69tems/a%20b/conflict", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(r.body, "\"instance\":\"/items/a%20b/conflict\""));
}

static void test_json_body_rules(void **state)
{
    struct test_response r;
    const char *json = "Content-Type: application/json\r\n";
    assert_int_equal(test_http(PORT(state), "POST", "/items", json, "{\"name\":\"x\"}", &r), 0);
    assert_int_equal(r.status, 201);
    assert_non_null(strcasestr(r.headers, "location: /items/1"));

    assert_int_equal(test_http(PORT(state), "POST", "/items", NULL, "{\"name\":\"x\"}", &r), 0);
    assert_int_equal(r.status, 415);
    assert_int_equal(
        test_http(PORT(state), "POST", "/items", "Content-Type: text/plain\r\n", "x", &r), 0);
    assert_int_equal(r.status, 415);
    assert_int_equal(test_http(PORT(state), "POST", "/items", json, "{\"name\":", &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "invalid-json"));
    assert_int_equal(test_http(PORT(state), "POST", "/items", json, "[1,2]", &r), 0);
    assert_int_equal(r.status, 400);
    assert_int_equal(test_http(PORT(state), "POST", "/items", json, "{\"a\":1,\"a\":2}", &r), 0);
    assert_int_equal(r.status, 400);
    assert_int_equal(test_http(PORT(state), "POST", "/items", json, "", &r), 0);
    assert_int_equal(r.status, 400);
    assert_int_equal(test_http(PORT(state), "POST", "/items", json, "{\"name\":5}", &r), 0);
    assert_int_equal(r.status, 400);
}

static void test_body_over_limit_is_413_problem(void **state)
{
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct test_response r;
    assert_int_equal(
        test_http(PORT(state), "POST", "/items", "Content-Type: application/json\r\n", big, &r), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "payload-too-large"));
}

static void test_errors_and_forgotten_replies(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "PUT", "/items/1/conflict", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(r.body, "already there: x"));
    assert_int_equal(test_http(PORT(state), "GET", "/silent", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 500);
}

static void test_request_id_passed_or_created(void **state)
{
    struct test_response r;
    assert_int_equal(
        test_http(PORT(state), "GET", "/healthz", "X-Request-Id: abc-123\r\n", NULL, &r), 0);
    assert_non_null(strcasestr(r.headers, "x-request-id: abc-123"));
    assert_int_equal(
        test_http(PORT(state), "GET", "/healthz", "X-Request-Id: bad id<>\r\n", NULL, &r), 0);
    char *rid = strcasestr(r.headers, "x-request-id: ");
    assert_non_null(rid);
    assert_null(strstr(r.headers, "bad id"));
    assert_int_equal(rid[14 + 8], '-'); /* a generated UUID */
}

static void test_keep_alive_serves_many(void **state)
{
    int fd = test_connect(PORT(state));
    assert_true(fd >= 0);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    struct test_response r;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(test_exchange(fd, req, strlen(req), &r), 0);
        assert_int_equal(r.status, 200);
    }
    close(fd);
}

static void test_metrics_count_routes(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", "/items/m", NULL, NULL, &r), 0);
    assert_int_equal(test_http(PORT(state), "GET", "/metrics", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "webtoon_http_requests_total{service=\"test\",route=\"/items/"
                                   "{id}\",method=\"GET\",code=\"2xx\"}"));
    assert_non_null(strstr(r.body, "webtoon_http_request_duration_seconds_bucket"));
    assert_non_null(strstr(r.body, "webtoon_http_requests_in_flight"));
}

static void test_readiness_follows_dependencies(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", "/readyz", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"checks\":{\"db\":\"up\"}"));
    ready_flag = false;
    assert_int_equal(test_http(PORT(state), "GET", "/readyz", NULL, NULL, &r), 0);
    ready_flag = true;
    assert_int_equal(r.status, 503);
    assert_non_null(strcasestr(r.headers, "application/problem+json"));
    assert_non_null(strcasestr(r.headers, "\r\nretry-after: 1\r\n")); /* every 503 says when */
    assert_non_null(strstr(r.body, "\"db\":\"down\""));
}

/* Info lines and up, written to stdout, go to a temporary file until
 * log_capture_end; <saved> keeps the real stdout. */
static FILE *log_capture_start(int *saved)
{
    log_init("test", LOG_INFO);
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stdout);
    *saved = dup(STDOUT_FILENO);
    assert_true(dup2(fileno(f), STDOUT_FILENO) >= 0);
    return f;
}

static void log_capture_end(FILE *f, int saved)
{
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    log_init("test", LOG_ERROR);
    fclose(f);
}

/* The messages "ready" and "not ready" in the log <f>, in order, as
 * letters: r and n. The not-ready line carries the checks. */
static void readiness_lines(FILE *f, char *out, size_t outlen)
{
    char line[4096];
    size_t n = 0;
    fflush(stdout);
    rewind(f);
    while (n + 1 < outlen && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *msg = j ? test_str(j, "msg") : "";
        if (!strcmp(msg, "ready"))
            out[n++] = 'r';
        else if (!strcmp(msg, "not ready")) {
            json_t *db = json_object_get(json_object_get(j, "checks"), "db");
            out[n++] = !strcmp(test_str(j, "level"), "warn") && json_is_string(db) &&
                               !strcmp(json_string_value(db), "down")
                           ? 'n'
                           : '?';
        }
        json_decref(j);
    }
    out[n] = 0;
}

static void test_readiness_changes_are_logged_once(void **state)
{
    int saved;
    FILE *f = log_capture_start(&saved);
    const bool answers[] = {true, true, false, false, true};
    int statuses[ARRAY_LEN(answers)] = {0};
    for (size_t i = 0; i < ARRAY_LEN(answers); i++) {
        struct test_response r;
        ready_flag = answers[i];
        if (test_http(PORT(state), "GET", "/readyz", NULL, NULL, &r) == 0)
            statuses[i] = r.status;
    }
    ready_flag = true;
    char seen[16];
    readiness_lines(f, seen, sizeof seen);
    log_capture_end(f, saved);
    assert_int_equal(statuses[1], 200);
    assert_int_equal(statuses[2], 503);
    assert_string_equal(seen, "rnr"); /* each change once, with the checks that failed */
}

/* A parked request answers on a later turn of its loop; others are served
 * meanwhile; one that outlives its deadline gets its check's answer. */
static void test_parked_requests(void **state)
{
    struct test_response r;
    int port = PORT(state);
    int slow = test_connect(port);
    const char *req = "GET /wait/late HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(slow, req, strlen(req), 0), (ssize_t)strlen(req));
    assert_int_equal(test_http(port, "GET", "/wait/20", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"waited\":\"yes\""));
    assert_int_equal(test_exchange(slow, NULL, 0, &r), 0);
    close(slow);
    assert_int_equal(r.status, 504);
    assert_non_null(strstr(r.body, "waited too long"));
}

/* A client that leaves while its request is parked: the request is
 * forgotten, nothing is answered into the void, the gauge comes back. */
static void test_client_leaves_while_parked(void **state)
{
    int port = PORT(state);
    int fd = test_connect(port);
    const char *req = "GET /wait/late HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    close(fd);
    assert_true(test_wait_until(test_nothing_in_flight, &port, 3000));
    struct test_response r;
    assert_int_equal(test_http(port, "GET", "/wait/1", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
}

/* Drain: readyz turns red while requests are still served, then stop closes
 * idle keep-alive connections promptly instead of waiting for timeouts. */
static void test_drain_then_stop(void **state)
{
    (void)state;
    struct http_server *s = start(2);
    int port = http_server_port(s);
    int idle = test_connect(port);
    struct test_response r;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(test_exchange(idle, req, strlen(req), &r), 0);

    http_server_set_draining(s);
    assert_int_equal(test_http(port, "GET", "/readyz", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(test_http(port, "GET", "/items/1", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);

    int64_t t0 = clock_mono_ms();
    http_server_stop(s, 5000);
    /* Generous bound: the point is not waiting for the 5 s idle timeout. */
    assert_true(clock_mono_ms() - t0 < 4000);
    char c;
    struct pollfd pfd = {.fd = idle, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 1000), 1);
    assert_true(recv(idle, &c, 1, 0) <= 0); /* closed by the server */
    close(idle);
    assert_true(test_connect(port) < 0);
}

/* --- tracing ------------------------------------------------------------------------ */

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"
#define TRACEPARENT "traceparent: 00-" TID "-" SID "-01\r\n"

static bool is_trace_id(const char *s)
{
    return strlen(s) == TRACE_ID_HEX && strspn(s, "0123456789abcdef") == TRACE_ID_HEX;
}

static void test_client_trace_continued(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", "/traced", TRACEPARENT, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(seen_in_handler.trace_id, TID);    /* the client's trace */
    assert_string_not_equal(seen_in_handler.span_id, SID); /* in a span of its own */
    assert_true(trace_ctx_is_valid(&seen_in_handler));
    assert_true(seen_in_handler.sampled);
    assert_int_equal(test_http(PORT(state), "GET", "/traced",
                               "traceparent: 00-" TID "-" SID "-00\r\n", NULL, &r),
                     0);
    assert_string_equal(seen_in_handler.trace_id, TID);
    assert_false(seen_in_handler.sampled); /* the client's choice stands */
}

static void test_missing_or_bad_trace_starts_one(void **state)
{
    const char *headers[] = {
        NULL,
        "traceparent: 00-" TID "-" SID "-1\r\n",
        "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01\r\n",
        "traceparent: 00-00000000000000000000000000000000-" SID "-01\r\n",
        TRACEPARENT TRACEPARENT, /* two are as good as none */
    };
    char last[TRACE_ID_HEX + 1] = "";
    for (size_t i = 0; i < ARRAY_LEN(headers); i++) {
        struct test_response r;
        assert_int_equal(test_http(PORT(state), "GET", "/traced", headers[i], NULL, &r), 0);
        assert_int_equal(r.status, 200);
        if (!is_trace_id(seen_in_handler.trace_id))
            fail_msg("header %zu: trace id '%s'", i, seen_in_handler.trace_id);
        assert_string_not_equal(seen_in_handler.trace_id, TID);
        assert_string_not_equal(seen_in_handler.trace_id, last); /* a new one each time */
        assert_true(seen_in_handler.sampled);
        memcpy(last, seen_in_handler.trace_id, sizeof last);
    }
}

static void test_trace_current_in_park_checks(void **state)
{
    struct test_response r;
    memset(&seen_in_check, 0, sizeof seen_in_check);
    assert_int_equal(test_http(PORT(state), "GET", "/wait/3", TRACEPARENT, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(seen_in_handler.trace_id, TID);
    /* the request's work resumed on later turns of the loop, in its span */
    assert_memory_equal(&seen_in_check, &seen_in_handler, sizeof seen_in_check);
}

static char logged_trace[64], logged_span[64]; /* ids of the line wait2_line_in found */

/* True once the request log line of /wait/2 is in the file <ud>; keeps its
 * ids (asserted on once stdout is back). */
static bool wait2_line_in(void *ud)
{
    FILE *f = ud;
    char line[4096];
    bool found = false;
    rewind(f);
    while (!found && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (j && !strcmp(test_str(j, "msg"), "request") &&
            !strcmp(test_str(j, "path"), "/wait/2")) {
            snprintf(logged_trace, sizeof logged_trace, "%s", test_str(j, "traceId"));
            snprintf(logged_span, sizeof logged_span, "%s", test_str(j, "spanId"));
            found = true;
        }
        json_decref(j);
    }
    return found;
}

static void test_request_log_line_has_ids(void **state)
{
    int saved;
    FILE *f = log_capture_start(&saved);
    struct test_response r;
    int got = test_http(PORT(state), "GET", "/wait/2", TRACEPARENT, NULL, &r);
    /* the line follows the reply out */
    bool found = got == 0 && test_wait_until(wait2_line_in, f, 10000);
    log_capture_end(f, saved);
    assert_int_equal(got, 0);
    assert_int_equal(r.status, 200);
    assert_true(found);
    assert_string_equal(logged_trace, TID);
    assert_string_equal(logged_span, seen_in_handler.span_id); /* the request's span */
}

/* The exported span called <name>, or NULL. */
static json_t *span_named(json_t *spans, const char *name)
{
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp) if (!strcmp(test_str(sp, "name"), name)) return sp;
    return NULL;
}

static bool has_four_spans(void *ud)
{
    json_t *spans = test_collector_spans(ud);
    bool ok = json_array_size(spans) >= 4;
    json_decref(spans);
    return ok;
}

static void test_server_spans_exported(void **state)
{
    struct test_collector coll;
    test_collector_start(&coll);
    char endpoint[64], err[256];
    test_collector_endpoint(&coll, endpoint, sizeof endpoint);
    struct trace_export_options o = {
        .endpoint = endpoint, .service_name = "test", .flush_interval_ms = 20};
    assert_int_equal(trace_export_start(&o, err, sizeof err), RC_OK);
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", "/items/abc", TRACEPARENT, NULL, &r), 0);
    assert_int_equal(test_http(PORT(state), "GET", "/silent", NULL, NULL, &r), 0);
    assert_int_equal(test_http(PORT(state), "GET", "/wait/2", NULL, NULL, &r), 0);
    assert_int_equal(test_http(PORT(state), "GET", "/healthz", TRACEPARENT, NULL, &r), 0);
    assert_int_equal(test_http(PORT(state), "GET", "/metrics", TRACEPARENT, NULL, &r), 0);
    assert_int_equal(test_http(PORT(state), "DELETE", "/nowhere", NULL, NULL, &r), 0);
    /* A span ends just after its reply leaves: wait for the last one. */
    assert_true(test_wait_until(has_four_spans, &coll, 10000));
    trace_export_stop(2000);
    json_t *spans = test_collector_spans(&coll);
    assert_int_equal(json_array_size(spans), 4); /* not the probes */

    json_t *item = span_named(spans, "GET /items/{id}"); /* the pattern, not the path */
    assert_non_null(item);
    assert_string_equal(test_str(item, "traceId"), TID);
    assert_string_equal(test_str(item, "parentSpanId"), SID);
    assert_int_equal(json_integer_value(json_object_get(item, "kind")), 2);
    assert_string_equal(test_span_attr(item, "http.request.method"), "GET");
    assert_string_equal(test_span_attr(item, "http.route"), "/items/{id}");
    assert_string_equal(test_span_attr(item, "http.response.status_code"), "200");
    assert_string_equal(test_span_attr(item, "url.path"), "/items/abc");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(item, "status"), "code")),
                     0);

    json_t *silent = span_named(spans, "GET /silent");
    assert_non_null(silent);
    assert_null(json_object_get(silent, "parentSpanId")); /* a trace of its own */
    assert_string_equal(test_span_attr(silent, "http.response.status_code"), "500");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(silent, "status"), "code")),
                     2);                                 /* ERROR */
    assert_non_null(span_named(spans, "GET /wait/{n}")); /* parked, then answered */
    json_t *unmatched = span_named(spans, "DELETE");
    assert_non_null(unmatched);
    assert_null(test_span_attr(unmatched, "http.route"));
    assert_string_equal(test_span_attr(unmatched, "http.response.status_code"), "404");
    json_decref(spans);
    test_collector_stop(&coll);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_route_with_param_and_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_query_is_400_problem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_is_404_problem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_method_is_405_with_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_methods_are_405_with_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_answers_what_is_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_decoded_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_body_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_over_limit_is_413_problem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_forgotten_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id_passed_or_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive_serves_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_count_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readiness_follows_dependencies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readiness_changes_are_logged_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parked_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_leaves_while_parked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_trace_continued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_or_bad_trace_starts_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_current_in_park_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_log_line_has_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_spans_exported, setup, teardown),
        cmocka_unit_test(test_drain_then_stop),
    };
    metrics_init("test");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
