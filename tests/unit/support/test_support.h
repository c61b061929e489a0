/*
 * Helpers shared by unit tests: cmocka includes, temporary directories and a
 * tiny blocking HTTP/1.1 client for talking to a server started in-process.
 */
#ifndef WEBTOON_TEST_SUPPORT_H
#define WEBTOON_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Makes a fresh directory under $TMPDIR and writes its path into <out>. */
static inline void test_tmpdir(char *out, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, size, "%s/webtoon-test-XXXXXX", base ? base : "/tmp");
    assert_non_null(mkdtemp(out));
}

/* Removes <dir> and everything in it. */
static inline void test_rmtree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Milliseconds on the monotonic clock. */
static inline int64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits for an asynchronous effect: calls <cond>(<ud>) every few
 * milliseconds until it returns true (then returns true) or <timeout_ms>
 * pass (then returns false). The deadline is a safety net, never the
 * thing a test measures: assert on the result.
 */
static inline bool test_wait_until(bool (*cond)(void *ud), void *ud, int timeout_ms)
{
    int64_t deadline = test_now_ms() + timeout_ms;
    for (;;) {
        if (cond(ud))
            return true;
        if (test_now_ms() >= deadline)
            return false;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 2 * 1000000};
        nanosleep(&pause, NULL);
    }
}

struct test_response {
    int status;
    char headers[4096];
    char body[65536];
    size_t body_len;
};

static inline int test_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends <raw> on <fd> and reads one response. Returns 0, or -1 when the
 * connection closed before a whole response came back. */
static inline int test_exchange(int fd, const char *raw, size_t raw_len, struct test_response *res)
{
    memset(res, 0, sizeof *res);
    if (raw_len && send(fd, raw, raw_len, MSG_NOSIGNAL) != (ssize_t)raw_len)
        return -1;
    static char buf[1 << 20];
    size_t len = 0;
    for (;;) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - buf) + 4;
            const char *cl = strcasestr(buf, "content-length:");
            size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
            if (len >= head + want) {
                sscanf(buf, "HTTP/1.%*d %d", &res->status);
                size_t hl = head < sizeof res->headers ? head : sizeof res->headers - 1;
                memcpy(res->headers, buf, hl);
                res->body_len = want < sizeof res->body - 1 ? want : sizeof res->body - 1;
                memcpy(res->body, buf + head, res->body_len);
                return 0;
            }
        }
        ssize_t n = recv(fd, buf + len, sizeof buf - len - 1, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
    }
}

/* One request on a new connection. <body> may be NULL. */
static inline int test_http(int port, const char *method, const char *path, const char *headers,
                            const char *body, struct test_response *res)
{
    int fd = test_connect(port);
    if (fd < 0)
        return -1;
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + 4096;
    char *raw = malloc(cap);
    int n = snprintf(raw, cap,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%sContent-Length: "
                     "%zu\r\n\r\n%s",
                     method, path, headers ? headers : "", blen, body ? body : "");
    int rc = test_exchange(fd, raw, (size_t)n, res);
    free(raw);
    close(fd);
    return rc;
}

/* The server's webtoon_http_requests_in_flight (this request counts). */
static inline double test_in_flight(int port)
{
    struct test_response r;
    assert_int_equal(test_http(port, "GET", "/metrics", NULL, NULL, &r), 0);
    const char *at = strstr(r.body, "\nwebtoon_http_requests_in_flight{");
    assert_non_null(at);
    return strtod(strchr(at, '}') + 1, NULL);
}

/* For test_wait_until: only the asking request is in flight on port *<ud>. */
static inline bool test_nothing_in_flight(void *ud) { return test_in_flight(*(int *)ud) == 1; }

#endif
