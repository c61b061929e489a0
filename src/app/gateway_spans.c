/* The gateway's spans, made from HAProxy's request log lines; see
 * gateway_spans.h. */
#include "app/gateway_spans.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/bug.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

#define GATEWAY_SPANS_PER_DRAIN 256
#define GATEWAY_SPANS_RCVBUF (1 << 20) /* a burst of a few hundred lines */

struct gateway_spans {
    int fd;
    char line[GATEWAY_SPAN_LINE_MAX];
};

/* The route family of a backend, as the span's http.route (a bounded set:
 * the backends the template defines); NULL for an answer of the gateway
 * itself. */
static const char *gateway_span_route(const char *backend)
{
    static const char *const routes[][2] = {
        {"pointer", "/pointers"}, {"payment", "/payments"},   {"history", "/histories"},
        {"webtoon", "/webtoons"}, {"purchase", "/purchases"}, {"web", "/*"},
    };
    for (size_t i = 0; i < ARRAY_LEN(routes); i++)
        if (!strcmp(backend, routes[i][0]))
            return routes[i][1];
    return NULL;
}

static const char *gateway_span_str(const json_t *line, const char *key)
{
    const char *s = json_string_value(json_object_get(line, key));
    return s ? s : "";
}

/* An integer field of <line>; HAProxy writes -1 for a time it did not
 * measure (a request cut short), which counts as 0 here. */
static int64_t gateway_span_ms(const json_t *line, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(line, key));
    return v > 0 ? (int64_t)v : 0;
}

int gateway_span_from_line(const char *text, size_t len, struct trace_span *out)
{
    json_t *line = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = RC_INVALID;
    if (!json_is_object(line) || strcmp(gateway_span_str(line, "msg"), "request") != 0 ||
        !json_is_integer(json_object_get(line, "acceptMs")))
        goto out;
    const char *path = gateway_span_str(line, "path");
    rc = RC_NOT_FOUND;
    if (!*gateway_span_str(line, "traceId") || !strcmp(path, "/healthz") ||
        !strcmp(path, "/readyz") || !strcmp(path, "/metrics"))
        goto out;
    const char *flags = gateway_span_str(line, "traceFlags");
    bool sampled = strlen(flags) == 2 && (strchr("13579bdf", flags[1]) != NULL);
    int64_t start_ms = gateway_span_ms(line, "acceptMs") + gateway_span_ms(line, "handshakeMs") +
                       gateway_span_ms(line, "idleMs");
    int64_t end_ms = start_ms + gateway_span_ms(line, "durationMs");
    const char *method = trace_http_method(gateway_span_str(line, "method"));
    const char *route = gateway_span_route(gateway_span_str(line, "backend"));
    char name[TRACE_NAME_MAX];
    if (!strcmp(method, "_OTHER"))
        snprintf(name, sizeof name, "HTTP");
    else
        snprintf(name, sizeof name, "%s%s%s", method, route ? " " : "", route ? route : "");
    rc = trace_span_make(out, name, TRACE_SERVER, gateway_span_str(line, "traceId"),
                         gateway_span_str(line, "spanId"), gateway_span_str(line, "parentSpanId"),
                         sampled, start_ms * 1000000, end_ms * 1000000);
    if (rc != RC_OK)
        goto out;
    json_int_t status = json_integer_value(json_object_get(line, "status"));
    trace_span_attr_str(out, "http.request.method", method);
    if (route)
        trace_span_attr_str(out, "http.route", route);
    trace_span_attr_str(out, "url.path", path);
    trace_span_attr_int(out, "http.response.status_code", status);
    trace_span_attr_str(out, "client.address", gateway_span_str(line, "client"));
    trace_span_attr_str(out, "webtoon.request_id", gateway_span_str(line, "requestId"));
    trace_span_attr_int(out, "webtoon.retries", gateway_span_ms(line, "retries"));
    if (status >= 500 || status <= 0)
        trace_span_set_error(out, status <= 0 ? "no answer" : NULL);
out:
    json_decref(line);
    return rc;
}

int gateway_spans_open(struct gateway_spans **out, int *port)
{
    *out = NULL;
    struct gateway_spans *s = mem_calloc(1, sizeof *s);
    if (!s)
        return RC_NOMEM;
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    int rcvbuf = GATEWAY_SPANS_RCVBUF;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&addr, &alen) != 0) {
        gateway_spans_close(s);
        return RC_IO;
    }
    (void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf); /* best effort */
    *port = ntohs(addr.sin_port);
    *out = s;
    return RC_OK;
}

int gateway_spans_fd(const struct gateway_spans *s) { return s->fd; }

void gateway_spans_drain(struct gateway_spans *s)
{
    struct trace_span span;
    for (int i = 0; i < GATEWAY_SPANS_PER_DRAIN; i++) {
        ssize_t n = recv(s->fd, s->line, sizeof s->line, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* EAGAIN: nothing more waits */
        size_t len = (size_t)n;
        while (len > 0 && (s->line[len - 1] == '\n' || s->line[len - 1] == '\r'))
            len--;
        if (gateway_span_from_line(s->line, len, &span) == RC_OK)
            trace_span_submit(&span);
    }
}

void gateway_spans_close(struct gateway_spans *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    mem_free(s);
}
