/*
 * A tiny OTLP/HTTP collector for unit tests: a thread on 127.0.0.1 (a free
 * port) that reads HTTP/1.1 requests, keeps each one's head and body, and
 * answers with <status> (200 unless a test says otherwise), or not at all
 * for the next <unanswered> requests (a collector that hangs). Tests read
 * the fields under <lock>, or after trace_export_stop has returned.
 */
#ifndef WEBTOON_TEST_COLLECTOR_H
#define WEBTOON_TEST_COLLECTOR_H

#include "support/test_support.h"

#include <jansson.h>
#include <poll.h>
#include <pthread.h>

#define TEST_COLLECTOR_POSTS 64

struct test_collector {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t lock;
    bool stopping;                     /* under lock */
    int status;                        /* what it answers; under lock */
    int unanswered;                    /* the next this many requests get no answer; under lock */
    int received;                      /* requests read so far; under lock */
    char *posts[TEST_COLLECTOR_POSTS]; /* request bodies (malloc); under lock */
    char heads[TEST_COLLECTOR_POSTS][1024];
    int nposts;
};

static inline bool test_collector_stopping(struct test_collector *c)
{
    pthread_mutex_lock(&c->lock);
    bool v = c->stopping;
    pthread_mutex_unlock(&c->lock);
    return v;
}

/* Reads one request from <fd> into a new body (free); NULL at EOF. */
static inline char *test_collector_read(struct test_collector *c, int fd, char *head,
                                        size_t headlen)
{
    static char buf[1 << 20];
    size_t len = 0;
    for (;;) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end) {
            size_t hl = (size_t)(end - buf) + 4;
            const char *cl = strcasestr(buf, "content-length:");
            size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
            if (len >= hl + want) {
                snprintf(head, headlen, "%.*s", (int)hl, buf);
                return strndup(buf + hl, want);
            }
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 50);
        if (r == 0) {
            if (test_collector_stopping(c))
                return NULL;
            continue;
        }
        ssize_t n = recv(fd, buf + len, sizeof buf - len - 1, 0);
        if (n <= 0)
            return NULL;
        len += (size_t)n;
        buf[len] = '\0';
    }
}

static inline void *test_collector_main(void *arg)
{
    struct test_collector *c = arg;
    while (!test_collector_stopping(c)) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int conn = accept(c->fd, NULL, NULL);
        if (conn < 0)
            continue;
        char head[1024];
        char *body;
        while ((body = test_collector_read(c, conn, head, sizeof head)) != NULL) {
            pthread_mutex_lock(&c->lock);
            c->received++;
            bool answer = c->unanswered == 0;
            if (!answer)
                c->unanswered--;
            int status = c->status;
            if (c->nposts < TEST_COLLECTOR_POSTS) {
                snprintf(c->heads[c->nposts], sizeof c->heads[0], "%s", head);
                c->posts[c->nposts++] = body;
                body = NULL;
            }
            pthread_mutex_unlock(&c->lock);
            free(body);
            if (!answer)
                continue; /* the client gives up and closes: EOF next */
            char reply[128];
            int n = snprintf(reply, sizeof reply,
                             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\n\r\n{}",
                             status);
            if (send(conn, reply, (size_t)n, MSG_NOSIGNAL) != n)
                break;
        }
        close(conn);
    }
    return NULL;
}

static inline void test_collector_start(struct test_collector *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->status = 200;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(c->fd, 16), 0);
    getsockname(c->fd, (struct sockaddr *)&a, &alen);
    c->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&c->thread, NULL, test_collector_main, c), 0);
}

static inline void test_collector_stop(struct test_collector *c)
{
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    close(c->fd);
    for (int i = 0; i < c->nposts; i++)
        free(c->posts[i]);
    pthread_mutex_destroy(&c->lock);
}

/* "http://127.0.0.1:<port>" into <out>. */
static inline void test_collector_endpoint(const struct test_collector *c, char *out, size_t len)
{
    snprintf(out, len, "http://127.0.0.1:%d", c->port);
}

/* Post <i> parsed (json_decref it), with its spans array in <spans>. */
static inline json_t *test_collector_post(struct test_collector *c, int i, json_t **spans)
{
    json_error_t e;
    json_t *body = json_loads(c->posts[i], 0, &e);
    if (!body)
        fail_msg("post %d is not JSON: %s", i, e.text);
    json_t *rs = json_array_get(json_object_get(body, "resourceSpans"), 0);
    *spans = json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
    assert_true(json_is_array(*spans));
    return body;
}

/* Every span received so far, in order, as a new array (json_decref). */
static inline json_t *test_collector_spans(struct test_collector *c)
{
    json_t *all = json_array();
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->nposts; i++) {
        json_t *spans, *body = test_collector_post(c, i, &spans);
        json_array_extend(all, spans);
        json_decref(body);
    }
    pthread_mutex_unlock(&c->lock);
    return all;
}

/* The string value of attribute <key> of OTLP span <span>, or NULL. */
static inline const char *test_span_attr(const json_t *span, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(span, "attributes"), i, a)
    {
        if (!strcmp(json_string_value(json_object_get(a, "key")), key)) {
            json_t *v = json_object_get(a, "value");
            json_t *s = json_object_get(v, "stringValue");
            return s ? json_string_value(s) : json_string_value(json_object_get(v, "intValue"));
        }
    }
    return NULL;
}

/* The string member <key> of <o>, or "" when absent. */
static inline const char *test_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

#endif
