/* The log shipper: lines framed whole from partial reads, printed once and
 * unchanged, labelled from their JSON, pushed as Loki's JSON body to a
 * receiver on loopback; a receiver that fails keeps the batch for a retry,
 * a full queue drops its oldest lines and counts them, a refusal drops the
 * batch, and a stop with the receiver down is bounded. */
#include "support/test_support.h"

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/logship/logship.h"

/* --- a Loki stand-in: answers every POST with <status>, keeps the bodies -- */

struct receiver {
    int listen_fd;
    int port;
    atomic_int status; /* what the next request gets */
    atomic_bool stop;
    pthread_t thread;
    bool running; /* the thread runs and listen_fd is open */
    pthread_mutex_t lock;
    char *bodies; /* every body received, each followed by "\n" */
    size_t len;
    int requests;
};

/* Serves one connection until the client closes it. */
static void receiver_serve(struct receiver *r, int fd)
{
    static char buf[4 << 20];
    size_t len = 0;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) == 0)
            continue;
        ssize_t n = recv(fd, buf + len, sizeof buf - len - 1, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        char *end;
        while ((end = memmem(buf, len, "\r\n\r\n", 4)) != NULL) {
            size_t head = (size_t)(end - buf) + 4;
            const char *cl = strcasestr(buf, "content-length:");
            size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
            if (len < head + want)
                break;
            int status = atomic_load(&r->status);
            pthread_mutex_lock(&r->lock);
            r->requests++;
            if (status == 204) {
                r->bodies = realloc(r->bodies, r->len + want + 2);
                memcpy(r->bodies + r->len, buf + head, want);
                r->len += want;
                r->bodies[r->len++] = '\n';
                r->bodies[r->len] = '\0';
            }
            pthread_mutex_unlock(&r->lock);
            char reply[128];
            int m = status == 204
                        ? snprintf(reply, sizeof reply, "HTTP/1.1 204 No Content\r\n\r\n")
                        : snprintf(reply, sizeof reply,
                                   "HTTP/1.1 %d X\r\nContent-Length: 4\r\n\r\nnope", status);
            if (send(fd, reply, (size_t)m, MSG_NOSIGNAL) < 0)
                return;
            memmove(buf, buf + head + want, len - head - want);
            len -= head + want;
        }
    }
}

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(r->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        receiver_serve(r, fd);
        close(fd);
    }
    return NULL;
}

static void receiver_start(struct receiver *r)
{
    memset(r, 0, sizeof *r);
    atomic_store(&r->status, 204);
    pthread_mutex_init(&r->lock, NULL);
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->listen_fd, 8), 0);
    socklen_t alen = sizeof a;
    getsockname(r->listen_fd, (struct sockaddr *)&a, &alen);
    r->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, receiver_main, r), 0);
    r->running = true;
}

/* Stops answering: the thread ends and nothing listens any more, so a
 * connection is refused. The bodies stay readable. Idempotent. */
static void receiver_stop(struct receiver *r)
{
    if (!r->running)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->listen_fd);
    r->running = false;
}

/* True when the bodies received so far contain <needle>. */
static bool receiver_has(struct receiver *r, const char *needle)
{
    pthread_mutex_lock(&r->lock);
    bool has = r->bodies && strstr(r->bodies, needle);
    pthread_mutex_unlock(&r->lock);
    return has;
}

/* --- a shipper reading one pipe, printing into a temporary file ------------ */

/* Everything written to the temporary file <f> (free with free). */
static char *file_text(FILE *f)
{
    fflush(f);
    long len = lseek(fileno(f), 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    assert_int_equal(pread(fileno(f), text, (size_t)len, 0), len);
    return text;
}

/* A test's rig lives in cmocka's state, and rig_teardown stops and frees
 * it also when a failed assertion has left the test early: a rig left
 * running goes on using its test's memory and stdout, and fails the next
 * test too. */
struct rig {
    struct receiver rx;
    struct logship *ls;
    FILE *out;        /* what the shipper prints */
    int write_fd;     /* the pipe the "child" writes to; -1: closed */
    FILE *said;       /* stdout, where the shipper's own log lines go, lands here */
    int saved_stdout; /* the real stdout while it is captured; -1: restored */
    char url[128];
};

/* Starts a receiver, captures stdout and starts a shipper reading one
 * pipe, whose lines wait at most <batch_wait_ms> for their batch; the rig
 * goes into <state> for rig_teardown. */
static struct rig *rig_start_waiting(void **state, size_t max_lines, int batch_wait_ms)
{
    struct rig *g = calloc(1, sizeof *g);
    assert_non_null(g);
    *state = g;
    g->write_fd = -1;
    g->saved_stdout = -1;
    receiver_start(&g->rx);
    g->said = tmpfile();
    assert_non_null(g->said);
    fflush(stdout);
    g->saved_stdout = dup(STDOUT_FILENO);
    dup2(fileno(g->said), STDOUT_FILENO);
    g->out = tmpfile();
    assert_non_null(g->out);
    snprintf(g->url, sizeof g->url, "http://user:secret@127.0.0.1:%d/loki/api/v1/push?x=1",
             g->rx.port);
    struct logship_options o = {.url = g->url,
                                .out_fd = fileno(g->out),
                                .max_lines = max_lines,
                                .max_bytes = 1 << 20,
                                .timeout_ms = 1000,
                                .flush_ms = 1500,
                                .batch_wait_ms = batch_wait_ms};
    char err[256] = "";
    assert_int_equal(logship_new(&o, &g->ls, err, sizeof err), RC_OK);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    g->write_fd = p[1];
    assert_int_equal(logship_attach(g->ls, p[0], "pointer"), RC_OK);
    return g;
}

static struct rig *rig_start(void **state, size_t max_lines)
{
    return rig_start_waiting(state, max_lines, 50);
}

/* Closes the pipe, stops the shipper (it says its last lines) and the
 * receiver. Idempotent. */
static void rig_stop(struct rig *g)
{
    if (g->write_fd >= 0)
        close(g->write_fd);
    g->write_fd = -1;
    logship_free(g->ls);
    g->ls = NULL;
    receiver_stop(&g->rx);
}

/* Gives stdout back, when it is captured. */
static void rig_release_stdout(struct rig *g)
{
    if (g->saved_stdout < 0)
        return;
    fflush(stdout);
    dup2(g->saved_stdout, STDOUT_FILENO);
    close(g->saved_stdout);
    g->saved_stdout = -1;
}

/* Stops the rig and gives stdout back; returns what the shipper said
 * there (free with free). */
static char *rig_said(struct rig *g)
{
    rig_stop(g);
    rig_release_stdout(g);
    return file_text(g->said);
}

static int rig_teardown(void **state)
{
    struct rig *g = *state;
    if (!g)
        return 0;
    rig_stop(g);
    rig_release_stdout(g);
    if (g->said)
        fclose(g->said);
    if (g->out)
        fclose(g->out);
    free(g->rx.bodies);
    pthread_mutex_destroy(&g->rx.lock);
    free(g);
    return 0;
}

static void rig_write(struct rig *g, const char *text)
{
    size_t len = strlen(text);
    assert_int_equal(write(g->write_fd, text, len), (ssize_t)len);
}

/* Everything the shipper printed (free with free). */
static char *rig_printed(struct rig *g) { return file_text(g->out); }

struct wait_stats {
    struct logship *ls;
    uint64_t shipped, dropped;
};

static bool shipped_at_least(void *ud)
{
    struct wait_stats *w = ud;
    struct logship_stats st;
    logship_get_stats(w->ls, &st);
    return st.shipped >= w->shipped && st.dropped >= w->dropped;
}

/* --- the pure parts ------------------------------------------------------------ */

static void test_cut(void **state)
{
    (void)state;
    assert_int_equal(logship_cut("abc", 3, 5), 3);
    assert_int_equal(logship_cut("abcdef", 6, 4), 4);
    /* "ab" then é (C3 A9): a cut at 3 would split it */
    assert_int_equal(logship_cut("ab\xC3\xA9z", 5, 3), 2);
    assert_int_equal(logship_cut("ab\xC3\xA9z", 5, 4), 4);
    /* a 4-byte character: back to its start */
    assert_int_equal(logship_cut("a\xF0\x9F\x98\x80z", 6, 3), 1);
    /* not UTF-8 at all: cut where asked */
    assert_int_equal(logship_cut("\x80\x80\x80\x80\x80", 5, 4), 4);
}

static void test_labels(void **state)
{
    (void)state;
    struct logship_labels lb;
    const char *line = "{\"time\":\"t\",\"level\":\"warn\",\"service\":\"purchase\",\"msg\":\"m\"}";
    logship_labels_of(line, strlen(line), "up", &lb);
    assert_string_equal(lb.service, "purchase");
    assert_string_equal(lb.level, "warn");

    logship_labels_of("[HAProxy] started", 17, "gateway", &lb);
    assert_string_equal(lb.service, "gateway");
    assert_string_equal(lb.level, "unknown");

    line = "{\"level\":\"fatal\",\"service\":7}";
    logship_labels_of(line, strlen(line), "web", &lb);
    assert_string_equal(lb.service, "web");
    assert_string_equal(lb.level, "unknown");

    line = "{\"level\":\"error\"} trailing";
    logship_labels_of(line, strlen(line), "web", &lb);
    assert_string_equal(lb.level, "unknown");

    char big[200];
    snprintf(big, sizeof big, "{\"level\":\"info\",\"service\":\"%070d\"}", 0);
    logship_labels_of(big, strlen(big), "history", &lb);
    assert_string_equal(lb.service, "history"); /* 70 bytes: not a label */
    assert_string_equal(lb.level, "info");
}

static void test_body(void **state)
{
    (void)state;
    const char *a = "{\"level\":\"info\",\"service\":\"pointer\",\"msg\":\"one\"}";
    const char *b = "not json \xFF here";
    const char *c = "{\"level\":\"info\",\"service\":\"pointer\",\"msg\":\"two\"}";
    struct logship_entry e[] = {
        {.text = a, .len = strlen(a), .ts_ns = 1000000001, .source = "pointer"},
        {.text = b, .len = strlen(b), .ts_ns = 1000000002, .source = "gateway"},
        {.text = c, .len = strlen(c), .ts_ns = 1000000003, .source = "pointer"},
    };
    char *body = NULL;
    assert_int_equal(logship_body(e, 3, "webtoon", &body), RC_OK);
    json_error_t err;
    json_t *root = json_loads(body, 0, &err);
    assert_non_null(root);
    json_t *streams = json_object_get(root, "streams");
    assert_int_equal(json_array_size(streams), 2);
    json_t *s0 = json_array_get(streams, 0), *s1 = json_array_get(streams, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s0, "stream"), "job")),
                        "webtoon");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s0, "stream"), "service")), "pointer");
    assert_string_equal(json_string_value(json_object_get(json_object_get(s0, "stream"), "level")),
                        "info");
    json_t *v0 = json_object_get(s0, "values");
    assert_int_equal(json_array_size(v0), 2);
    assert_string_equal(json_string_value(json_array_get(json_array_get(v0, 0), 0)), "1000000001");
    assert_string_equal(json_string_value(json_array_get(json_array_get(v0, 0), 1)), a);
    assert_string_equal(json_string_value(json_array_get(json_array_get(v0, 1), 1)), c);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s1, "stream"), "service")), "gateway");
    assert_string_equal(json_string_value(json_object_get(json_object_get(s1, "stream"), "level")),
                        "unknown");
    /* The byte that is not UTF-8 became U+FFFD; the rest is intact. */
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(json_object_get(s1, "values"), 0), 1)),
        "not json \xEF\xBF\xBD here");
    json_decref(root);
    mem_free(body);

    assert_int_equal(logship_body(NULL, 0, "webtoon", &body), RC_OK);
    assert_string_equal(body, "{\"streams\":[]}");
    mem_free(body);
}

/* Every allocation of logship_body fails in turn: RC_NOMEM, or a body that
 * is still one valid JSON document (a line whose labels could not be parsed
 * gets its pipe's name), and nothing leaks (LSan). */
static void test_body_allocation_failures(void **state)
{
    (void)state;
    const char *a = "{\"level\":\"error\",\"service\":\"purchase\",\"msg\":\"x\"}";
    struct logship_entry e[] = {
        {.text = a, .len = strlen(a), .ts_ns = 1, .source = "purchase"},
        {.text = "plain", .len = 5, .ts_ns = 2, .source = "web"},
    };
    for (long i = 0;; i++) {
        assert_true(i < 1000);
        char *body = NULL;
        mem_fail_after(i);
        int rc = logship_body(e, 2, "webtoon", &body);
        long refused = mem_fail_count();
        mem_fail_reset();
        if (rc != RC_OK) {
            assert_int_equal(rc, RC_NOMEM);
            assert_null(body);
            continue;
        }
        json_t *root = json_loads(body, 0, NULL);
        assert_non_null(root);
        json_decref(root);
        mem_free(body);
        if (refused == 0)
            break;
    }
}

static void test_bad_url(void **state)
{
    (void)state;
    struct logship *ls = NULL;
    char err[256] = "";
    struct logship_options o = {.url = "ftp://127.0.0.1/x", .out_fd = -1, .max_lines = 10};
    assert_int_equal(logship_new(&o, &ls, err, sizeof err), RC_CONFIG);
    assert_null(ls);
    assert_non_null(strstr(err, "not an http: or https: URL"));
    o.url = "no url at all";
    assert_int_equal(logship_new(&o, &ls, err, sizeof err), RC_CONFIG);
    logship_free(NULL);
}

/* --- the threads ------------------------------------------------------------------ */

/* Lines written in pieces come out whole and unchanged, each exactly once;
 * a line longer than LOGSHIP_LINE_MAX is split there; the last line without
 * a newline still comes out at the pipe's end; every line reaches the
 * receiver, labelled. */
static void test_framing_and_push(void **state)
{
    struct rig *g = rig_start(state, 1000);
    assert_non_null(strstr(logship_endpoint(g->ls), "127.0.0.1"));
    assert_null(strstr(logship_endpoint(g->ls), "secret"));
    assert_null(strstr(logship_endpoint(g->ls), "x=1"));
    rig_write(g, "{\"level\":\"info\",\"service\":\"pointer\",");
    usleep(20000);
    rig_write(g, "\"requestId\":\"r-1\",\"msg\":\"a\"}\n{\"level\":\"error\",\"ser");
    usleep(20000);
    rig_write(g, "vice\":\"purchase\",\"requestId\":\"r-2\",\"msg\":\"b\"}\n\nplain text\n");
    size_t big = LOGSHIP_LINE_MAX + 100;
    char *long_line = malloc(big + 2);
    memset(long_line, 'x', big);
    long_line[big] = '\n';
    long_line[big + 1] = '\0';
    rig_write(g, long_line);
    rig_write(g, "tail without newline");
    close(g->write_fd);
    g->write_fd = -1;
    struct wait_stats w = {.ls = g->ls, .shipped = 6};
    assert_true(test_wait_until(shipped_at_least, &w, 10000));
    assert_true(receiver_has(&g->rx, "\"stream\":{\"job\":\"webtoon\",\"service\":\"pointer\","
                                     "\"level\":\"info\"}"));
    assert_true(receiver_has(&g->rx, "\"service\":\"purchase\",\"level\":\"error\""));
    assert_true(receiver_has(&g->rx, "\\\"requestId\\\":\\\"r-2\\\""));
    assert_true(receiver_has(&g->rx, "\"service\":\"pointer\",\"level\":\"unknown\"}"));
    assert_true(receiver_has(&g->rx, "\"plain text\""));
    assert_true(receiver_has(&g->rx, "\"tail without newline\""));
    char *printed = rig_printed(g);
    char *expect = malloc(big + 1000);
    int n = snprintf(expect, big + 1000,
                     "{\"level\":\"info\",\"service\":\"pointer\",\"requestId\":\"r-1\",\"msg\":"
                     "\"a\"}\n{\"level\":\"error\",\"service\":\"purchase\",\"requestId\":\"r-2\","
                     "\"msg\":\"b\"}\n\nplain text\n");
    memset(expect + n, 'x', LOGSHIP_LINE_MAX);
    n += LOGSHIP_LINE_MAX;
    expect[n++] = '\n';
    memset(expect + n, 'x', 100);
    n += 100;
    snprintf(expect + n, 100, "\ntail without newline\n");
    assert_string_equal(printed, expect);
    struct logship_stats st;
    logship_get_stats(g->ls, &st);
    assert_int_equal(st.read, 6); /* the empty line is printed, not shipped */
    assert_int_equal(st.dropped, 0);
    free(expect);
    free(printed);
    free(long_line);
}

/* True once the shipper <ud> reports that its last push failed. The
 * receiver counting a request is not that: the shipper may not have read
 * the reply yet. */
static bool shipper_is_failing(void *ud)
{
    struct logship_stats st;
    logship_get_stats(ud, &st);
    return st.failing;
}

/* The receiver answers 503: the batch is kept and retried, new lines queue
 * up to the bound and the oldest are dropped and counted (in a warn line
 * with droppedLines); once it answers again the retried batch and the
 * newest lines arrive, and the dropped ones never do. */
static void test_outage_keeps_newest(void **state)
{
    struct rig *g = rig_start(state, 10);
    rig_write(g, "before the outage\n");
    struct wait_stats w = {.ls = g->ls, .shipped = 1};
    assert_true(test_wait_until(shipped_at_least, &w, 10000));

    atomic_store(&g->rx.status, 503);
    rig_write(g, "first of the outage\n");
    assert_true(test_wait_until(shipper_is_failing, g->ls, 10000)); /* it failed once */
    for (int i = 0; i < 30; i++) {
        char line[64];
        snprintf(line, sizeof line, "queued %02d\n", i);
        rig_write(g, line);
    }
    w = (struct wait_stats){.ls = g->ls, .shipped = 1, .dropped = 20};
    assert_true(test_wait_until(shipped_at_least, &w, 10000));
    struct logship_stats st;
    logship_get_stats(g->ls, &st);
    assert_true(st.failing);
    assert_int_equal(st.dropped, 20); /* 30 queued, 10 kept */
    assert_int_equal(st.queued, 11);  /* and the batch in flight */

    atomic_store(&g->rx.status, 204);
    w = (struct wait_stats){.ls = g->ls, .shipped = 12};
    assert_true(test_wait_until(shipped_at_least, &w, 15000));
    assert_true(receiver_has(&g->rx, "first of the outage"));
    assert_true(receiver_has(&g->rx, "queued 29"));
    assert_true(receiver_has(&g->rx, "queued 20"));
    assert_false(receiver_has(&g->rx, "queued 19"));
    assert_false(receiver_has(&g->rx, "queued 00"));
    char *said = rig_said(g);
    assert_non_null(strstr(said, "cannot push log lines (HTTP 503: nope)"));
    assert_non_null(strstr(said, "\"droppedLines\":20"));
    assert_non_null(strstr(said, "pushing log lines again"));
    assert_non_null(strstr(said, "log shipping stopped: 20 lines were dropped, 12 pushed"));
    free(said);
}

/* A queue bounded below a batch goes as soon as it is full, not when its
 * first line has waited its batch's time: lines coming faster than the
 * queue turns over in that time would else be dropped without one push. */
static void test_a_full_queue_goes_at_once(void **state)
{
    struct rig *g = rig_start_waiting(state, 10, 60000);
    for (int i = 0; i < 10; i++) {
        char line[64];
        snprintf(line, sizeof line, "line %02d\n", i);
        rig_write(g, line);
    }
    struct wait_stats w = {.ls = g->ls, .shipped = 10};
    assert_true(test_wait_until(shipped_at_least, &w, 10000));
    struct logship_stats st;
    logship_get_stats(g->ls, &st);
    assert_int_equal(st.dropped, 0);
    assert_true(receiver_has(&g->rx, "line 00"));
    assert_true(receiver_has(&g->rx, "line 09"));
}

/* A batch refused for good (400) is dropped at once, not retried. */
static void test_refused_batch_is_dropped(void **state)
{
    struct rig *g = rig_start(state, 100);
    atomic_store(&g->rx.status, 400);
    rig_write(g, "refused 1\nrefused 2\n");
    struct wait_stats w = {.ls = g->ls, .dropped = 2};
    assert_true(test_wait_until(shipped_at_least, &w, 10000));
    atomic_store(&g->rx.status, 204);
    rig_write(g, "accepted\n");
    w = (struct wait_stats){.ls = g->ls, .shipped = 1, .dropped = 2};
    assert_true(test_wait_until(shipped_at_least, &w, 10000));
    assert_false(receiver_has(&g->rx, "refused"));
    pthread_mutex_lock(&g->rx.lock);
    assert_int_equal(g->rx.requests, 2);
    pthread_mutex_unlock(&g->rx.lock);
    char *said = rig_said(g);
    assert_non_null(strstr(said, "cannot push log lines (HTTP 400: nope); 2 dropped so far"));
    free(said);
}

/* Stopping while nothing answers takes about flush_ms, not longer, and
 * counts what was left; the lines were printed all the same. */
static void test_stop_with_receiver_gone(void **state)
{
    struct rig *g = rig_start(state, 100);
    receiver_stop(&g->rx); /* nothing listens: connections are refused */
    rig_write(g, "lost 1\nlost 2\n");
    close(g->write_fd);
    g->write_fd = -1;
    int64_t t0 = test_now_ms();
    logship_stop(g->ls);
    int64_t took = test_now_ms() - t0;
    assert_true(took < 1500 + 1000 + 1500); /* flush_ms + one push's timeout + slack */
    struct logship_stats st;
    logship_get_stats(g->ls, &st);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.shipped, 0);
    char *printed = rig_printed(g);
    assert_string_equal(printed, "lost 1\nlost 2\n");
    free(printed);
    char *said = rig_said(g);
    assert_non_null(strstr(said, "\"droppedLines\":2"));
    free(said);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    mem_install_json_hooks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_body_allocation_failures),
        cmocka_unit_test(test_bad_url),
        cmocka_unit_test_teardown(test_framing_and_push, rig_teardown),
        cmocka_unit_test_teardown(test_outage_keeps_newest, rig_teardown),
        cmocka_unit_test_teardown(test_a_full_queue_goes_at_once, rig_teardown),
        cmocka_unit_test_teardown(test_refused_batch_is_dropped, rig_teardown),
        cmocka_unit_test_teardown(test_stop_with_receiver_gone, rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
