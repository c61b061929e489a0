/*
 * The HTTP server: one h2o event loop per worker thread, every loop
 * accepting from the same listening socket. Each worker tracks its open
 * connections, so a drain can close idle keep-alive connections instead of
 * waiting for their timeout.
 *
 * Lifecycle: start (bind, spawn, wait until every worker is ready) →
 * set_draining (readyz red, no more keep-alive) → stop (close listeners,
 * let in-progress requests finish, close what is idle, join).
 *
 * A request's record lives in its h2o pool, so a handler may park it
 * (http_req_park) and answer on a later turn of the loop: parked requests
 * sit in their worker's list, and each is asked whether it is done when
 * another thread says something finished (http_waker_wake, an eventfd
 * write the loop wakes up for) or, for waits nobody announces, when a short
 * timer fires. The pool's dispose hook takes a request out of the list
 * when its client goes away first.
 *
 * Tracing: each request is a SERVER span, a child of the client's
 * `traceparent` (a new trace when it is absent or invalid), named
 * "<METHOD> <route pattern>" so names stay few. Its context is the loop
 * thread's current one while the request's work runs: the handler, every
 * park check that resumes it, and the answer with its log line; between
 * those the loop has none. The probes (/healthz, /readyz, /metrics,
 * /openapi.json) and static files get a context for their log lines but no
 * exported span: a scrape every second is not a story worth a trace.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/http/http_internal.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/trace/trace.h"

#define HTTP__QUIET_MS 100 /* no new request this long: in-flight work is done */
/* h2o buffers bodies up to this × max_body (plus the largest route limit
 * above it), so that we answer oversize ones with problem+json ourselves. */
#define HTTP__BODY_SLACK 4

enum { HTTP__STATUS_CLASSES = 5 };

struct http__route_stats {
    struct metrics_counter *requests[HTTP__STATUS_CLASSES]; /* by status class 1xx..5xx */
    struct metrics_histogram *latency;
    bool quiet; /* probes: log at debug */
};

struct http__conn {
    h2o_linklist_t link; /* in http__worker.conns */
    h2o_socket_t *sock;  /* borrowed: h2o owns it and tells us when it closes */
    struct http_server *server;
};

/* The loop's eventfd, written by other threads to stop it or to have it
 * ask its parked requests again. <pending> coalesces the writes of a burst
 * into one wake-up. */
struct http_waker {
    int fd;
    atomic_bool pending;
    atomic_bool stop;
};

struct http__worker {
    struct http_server *server;
    struct http_waker wake;
    pthread_t thread;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_socket_t *wake_sock; /* reads a dup of wake.fd, loop thread only */
    void *app_ctx;
    h2o_linklist_t conns;  /* struct http__conn, loop thread only */
    h2o_linklist_t parked; /* struct http_req waiting in http_req_park, loop thread only */
    h2o_timeout_t park_timeout;
    h2o_timeout_entry_t park_tick; /* linked while anything is parked */
    int64_t last_request_ms;       /* monotonic, loop thread only */
    bool stopping;                 /* loop thread only */
    bool started;                  /* thread was created */
};

struct http_server {
    struct http_server_options opts;
    h2o_globalconf_t config;
    int listen_fd;
    int port;
    atomic_bool draining;
    atomic_bool unready; /* the last /readyz said not ready (draining aside) */
    atomic_int stop_timeout_ms;
    bool joined; /* http_server_drain ran */
    struct http_offload *offload;
    struct http__worker *workers;
    int nworkers;
    pthread_mutex_t lock; /* guards the start handshake below */
    pthread_cond_t cond;
    int nreported;                   /* workers that finished worker_init */
    int init_rc;                     /* first failure among them */
    struct http__route_stats *stats; /* routes, then the built-ins below */
    struct metrics_gauge *in_flight;
    struct metrics_gauge *connections;
};

/* http__dispatch's answer when a static file handler should take over. */
#define HTTP__DECLINED (-1)

enum { HTTP__HEALTHZ, HTTP__READYZ, HTTP__METRICS, HTTP__OPENAPI, HTTP__UNMATCHED, HTTP__NBUILTIN };
static const char *const http__builtin_paths[] = {"/healthz", "/readyz", "/metrics",
                                                  "/openapi.json", "(unmatched)"};

static struct http__worker *http__worker_of(h2o_context_t *ctx)
{
    return (struct http__worker *)((char *)ctx - offsetof(struct http__worker, ctx));
}

/* --- metrics and logging ------------------------------------------------ */

static void http__stats_init(struct http__route_stats *st, const char *method, const char *route,
                             bool quiet)
{
    char labels[256];
    for (int c = 0; c < HTTP__STATUS_CLASSES; c++) {
        snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",code=\"%dxx\"", route, method,
                 c + 1);
        st->requests[c] =
            metrics_counter("webtoon_http_requests_total",
                            "HTTP requests answered, by route and status class", labels);
    }
    snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\"", route, method);
    st->latency = metrics_histogram("webtoon_http_request_duration_seconds",
                                    "Time from request received to response sent", labels);
    st->quiet = quiet;
}

static void http__account(struct http__route_stats *st, struct http_req *req, int rc,
                          int64_t elapsed_us)
{
    int cls = req->status / 100 - 1;
    if (cls >= 0 && cls < HTTP__STATUS_CLASSES)
        metrics_counter_add(st->requests[cls], 1);
    metrics_histogram_observe_us(st->latency, elapsed_us);

    enum log_level level = req->status >= 500 ? LOG_ERROR : st->quiet ? LOG_DEBUG : LOG_INFO;
    if (!log_is_enabled(level))
        return;
    json_t *fields =
        json_pack("{s:s, s:s, s:i, s:f}", "method", req->method, "path", req->path ? req->path : "",
                  "status", req->status, "durationMs", (double)elapsed_us / 1000.0);
    if (fields && req->route)
        json_object_set_new(fields, "route", json_string(req->route->pattern));
    if (fields && rc != RC_OK) {
        json_object_set_new(fields, "error", json_string(rc_name(rc)));
        if (req->detail[0])
            json_object_set_new(fields, "detail", json_string(req->detail));
    }
    log_write(level, req->request_id, fields, "request");
}

/* --- built-in endpoints --------------------------------------------------- */

static int http__builtin(struct http_server *s, struct http_req *req, int which)
{
    switch (which) {
    case HTTP__HEALTHZ:
        return http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"), NULL);
    case HTTP__READYZ: {
        json_t *checks = json_object();
        if (!checks)
            return RC_NOMEM;
        bool draining = atomic_load(&s->draining);
        bool ready = !draining && (!s->opts.readiness || s->opts.readiness(req->ctx, checks));
        /* A change of readiness is said once, with the checks that made it,
         * so that a pod leaving its endpoints says why. */
        if (!draining && atomic_exchange(&s->unready, !ready) == ready)
            log_write(ready ? LOG_INFO : LOG_WARN, req->request_id,
                      json_pack("{s:O}", "checks", checks), ready ? "ready" : "not ready");
        if (ready)
            return http_reply_json(
                req, 200, json_pack("{s:s, s:o}", "status", "ready", "checks", checks), NULL);
        json_t *body = http_problem_new(
            req, RC_UNAVAILABLE, draining ? "shutting down" : "a dependency is not answering");
        if (body)
            json_object_set_new(body, "checks", checks);
        else
            json_decref(checks);
        return body ? http_reply_json(req, 503, body, "application/problem+json") : RC_NOMEM;
    }
    case HTTP__METRICS: {
        struct buf out;
        buf_init(&out, 4 << 20);
        int rc = metrics_render(&out);
        if (rc == RC_OK)
            rc = metrics_render_process(&out);
        if (rc == RC_OK)
            rc = http_reply(req, 200, "text/plain; version=0.0.4", out.data ? out.data : "",
                            out.len);
        buf_cleanup(&out);
        return rc;
    }
    case HTTP__OPENAPI:
        if (!s->opts.openapi)
            return http_fail(req, RC_NOT_FOUND, "no API document here");
        return http_reply(req, 200, "application/json", s->opts.openapi, strlen(s->opts.openapi));
    }
    return RC_NOT_FOUND;
}

/* --- dispatch --------------------------------------------------------------- */

/* Appends <method> to the comma-separated list <allow> unless present. */
static void http__allow_add(char *allow, size_t cap, const char *method)
{
    size_t len = strlen(allow), mlen = strlen(method);
    for (const char *a = allow; (a = strstr(a, method)) != NULL; a += mlen)
        if ((a == allow || a[-1] == ' ') && (a[mlen] == ',' || a[mlen] == '\0'))
            return;
    if (len + mlen + 3 < cap)
        snprintf(allow + len, cap - len, "%s%s", len ? ", " : "", method);
}

/* The reply to a method the resource at <req>'s path does not take:
 * OPTIONS learns what it does take (204), any other method gets 405; both
 * say it in Allow. */
static int http__not_allowed(struct http_req *req, const char *allow)
{
    http_reply_header(req, "Allow", allow);
    if (!strcmp(req->method, "OPTIONS"))
        return http_reply(req, 204, NULL, "", 0);
    return http_fail(req, RC_METHOD_NOT_ALLOWED, "%s is not allowed here; use %s", req->method,
                     allow);
}

/*
 * Finds the route for <req> and runs it; sets *<stats_index>. The path is
 * decoded once here, from the bytes the client sent. The resource is the
 * most specific pattern the path fits (a literal segment beats a
 * parameter); a method it lacks is answered with its own methods in Allow.
 */
static size_t http__body_limit(const struct http_server_options *o, const struct http_route *r)
{
    for (const struct http_body_limit *l = o->body_limits; l && l->method; l++)
        if (!strcmp(l->method, r->method) && !strcmp(l->pattern, r->pattern))
            return l->max_body;
    return o->max_body;
}

static int http__dispatch(struct http_server *s, struct http_req *req, size_t *stats_index)
{
    size_t nroutes = s->opts.nroutes;
    *stats_index = nroutes + HTTP__UNMATCHED;
    h2o_req_t *h = req->h2o;
    struct http__path path;
    const char *why;
    size_t end = h->query_at != SIZE_MAX ? h->query_at : h->path.len;
    size_t at = http__target_path_offset(h->path.base, end);
    int rc = at == end ? http__path_parse("/", 1, &path, http__pool_alloc, &h->pool, &why)
                       : http__path_parse(h->path.base + at, end - at, &path, http__pool_alloc,
                                          &h->pool, &why);
    if (rc != RC_OK)
        return why ? http_fail(req, rc, "%s", why) : rc;
    req->path = path.canonical;

    for (int b = 0; b < HTTP__UNMATCHED; b++) {
        if (!strcmp(req->path, http__builtin_paths[b])) {
            *stats_index = nroutes + (size_t)b;
            if (strcmp(req->method, "GET") != 0)
                return http__not_allowed(req, "GET");
            return http__builtin(s, req, b);
        }
    }
    uint32_t best = 0;
    bool found = false;
    for (size_t i = 0; i < nroutes; i++) {
        size_t nparams;
        uint32_t specificity;
        if (http__route_match(s->opts.routes[i].pattern, &path, req->params, &nparams,
                              &specificity) &&
            (!found || specificity > best)) {
            best = specificity;
            found = true;
        }
    }
    char allow[128] = "";
    for (size_t i = 0; found && i < nroutes; i++) {
        const struct http_route *r = &s->opts.routes[i];
        size_t nparams;
        uint32_t specificity;
        if (!http__route_match(r->pattern, &path, req->params, &nparams, &specificity) ||
            specificity != best)
            continue;
        if (strcmp(r->method, req->method) != 0) {
            http__allow_add(allow, sizeof allow, r->method);
            continue;
        }
        req->nparams = nparams;
        req->route = r;
        *stats_index = i;
        size_t body_len = h->entity.base ? h->entity.len : 0;
        size_t limit = http__body_limit(&s->opts, r);
        if (body_len > limit)
            return http_fail(req, RC_TOO_LARGE, "the body has %zu bytes; the limit is %zu",
                             body_len, limit);
        if (s->opts.authorize) {
            int allowed = s->opts.authorize(req->ctx, req);
            if (allowed != RC_OK)
                return allowed;
        }
        return r->handler(req);
    }
    if (*allow)
        return http__not_allowed(req, allow);
    if (s->opts.static_root && (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD")))
        return HTTP__DECLINED;
    return http_fail(req, RC_NOT_FOUND, "no resource at %s", req->path);
}

static void http__take_request_id(struct http_req *req)
{
    ssize_t at = h2o_find_header_by_str(&req->h2o->headers, H2O_STRLIT("x-request-id"), -1);
    if (at >= 0) {
        h2o_iovec_t v = req->h2o->headers.entries[at].value;
        if (id_is_token(v.base, v.len, HTTP__REQUEST_ID_MAX)) {
            memcpy(req->request_id, v.base, v.len);
            req->request_id[v.len] = '\0';
            return;
        }
    }
    id_uuid(req->request_id);
}

/* The client's traceparent, when it sent exactly one that parses (the
 * spec: several are as good as none). */
static bool http__client_trace(struct http_req *req, struct trace_ctx *out)
{
    h2o_headers_t *headers = &req->h2o->headers;
    ssize_t at = h2o_find_header_by_str(headers, H2O_STRLIT("traceparent"), -1);
    if (at < 0 || h2o_find_header_by_str(headers, H2O_STRLIT("traceparent"), at) >= 0)
        return false;
    h2o_iovec_t v = headers->entries[at].value;
    return trace_parse(v.base, v.len, out) == RC_OK;
}

/* Names, describes and ends the request's span (not for the probes);
 * <error> says why it failed when it never got an answer. */
static void http__trace_end(struct http_req *req, const char *error)
{
    if (!req->span.recording || req->worker->server->stats[req->stats_index].quiet)
        return; /* no exporter (the default), unsampled, or a probe: nothing to build */
    const char *route = req->route ? req->route->pattern : NULL;
    const char *method = trace_http_method(req->method);
    char name[TRACE_NAME_MAX];
    if (!strcmp(method, "_OTHER"))
        snprintf(name, sizeof name, "HTTP");
    else
        snprintf(name, sizeof name, "%s%s%s", method, route ? " " : "", route ? route : "");
    struct trace_span *sp = &req->span;
    trace_span_set_name(sp, name);
    trace_span_attr_str(sp, "http.request.method", method);
    if (route)
        trace_span_attr_str(sp, "http.route", route);
    trace_span_attr_str(sp, "url.path", req->path ? req->path : "/");
    if (req->replied)
        trace_span_attr_int(sp, "http.response.status_code", req->status);
    if (error)
        trace_span_set_error(sp, error);
    else if (req->status >= 500)
        trace_span_set_error(sp, req->detail[0] ? req->detail : NULL);
    trace_span_end(sp);
}

/* Answers <req> with problem+json unless it replied, and accounts for it
 * (metrics, the request log line, its span). Runs with the request's trace
 * context current. */
static void http__finish(struct http_req *req, int rc)
{
    struct http_server *s = req->worker->server;
    if (!req->replied) {
        if (rc == RC_OK) {
            rc = RC_INTERNAL;
            http_fail(req, rc, "the handler sent no reply");
        }
        http__reply_problem(req, rc);
    }
    json_decref(req->json);
    req->json = NULL;
    req->finished = true;
    metrics_gauge_add(s->in_flight, -1);
    http__account(&s->stats[req->stats_index], req, rc, clock_mono_us() - req->started_us);
    http__trace_end(req, NULL);
}

/* The request's pool is going away: a parked request whose client left
 * leaves the list and is never checked again. */
static void http__req_dispose(void *p)
{
    struct http_req *req = p;
    if (req->on_dispose)
        req->on_dispose(req->on_dispose_ud);
    if (req->job) {
        http__job_abandon(req->job);
        req->job = NULL;
    }
    if (req->parked) {
        h2o_linklist_unlink(&req->parked_link);
        req->parked = false;
    }
    if (!req->finished) {
        json_decref(req->json);
        metrics_gauge_add(req->worker->server->in_flight, -1);
        trace_set_current(&req->span.ctx);
        log_write(
            LOG_DEBUG, req->request_id,
            json_pack("{s:s, s:s}", "method", req->method, "path", req->path ? req->path : ""),
            "client went away before the answer");
        http__trace_end(req, "the client went away before the answer");
        trace_set_current(NULL);
    }
}

/* Asks every parked request of <w> whether it is done. */
static void http__check_parked(struct http__worker *w)
{
    int64_t now = clock_mono_ms();
    h2o_linklist_t due; /* checks may park again: those go back to w->parked */
    h2o_linklist_init_anchor(&due);
    h2o_linklist_insert_list(&due, &w->parked);
    while (!h2o_linklist_is_empty(&due)) {
        struct http_req *req = H2O_STRUCT_FROM_MEMBER(struct http_req, parked_link, due.next);
        h2o_linklist_unlink(&req->parked_link);
        req->parked = false;
        bool expired = now >= req->park_deadline_ms;
        trace_set_current(&req->span.ctx); /* the request's work resumes */
        int rc = req->park_check(req, req->park_ud, expired);
        if (rc != HTTP_PARKED) {
            http__finish(req, rc);
        } else if (!req->parked) { /* waits on, with the same deadline */
            BUG_ON(expired);
            h2o_linklist_insert(&w->parked, &req->parked_link);
            req->parked = true;
        }
        trace_set_current(NULL);
    }
    if (!h2o_linklist_is_empty(&w->parked) && !h2o_timeout_is_linked(&w->park_tick))
        h2o_timeout_link(w->loop, &w->park_timeout, &w->park_tick);
}

static void http__on_park_tick(h2o_timeout_entry_t *entry)
{
    http__check_parked(H2O_STRUCT_FROM_MEMBER(struct http__worker, park_tick, entry));
}

struct http_waker *http_req_waker(struct http_req *req) { return &req->worker->wake; }
struct http_offload *http__offload_of(struct http_req *req) { return req->worker->server->offload; }

void http_waker_wake(struct http_waker *wk)
{
    if (atomic_exchange(&wk->pending, true))
        return; /* a wake-up is on its way and will see what we did */
    uint64_t one = 1;
    /* Cannot fail short of a full counter, which a pending read empties. */
    (void)!write(wk->fd, &one, sizeof one);
}

void http_server_wake(struct http_server *s)
{
    for (int i = 0; i < s->nworkers; i++)
        http_waker_wake(&s->workers[i].wake);
}

int http_req_park(struct http_req *req, int timeout_ms, http_park_cb check, void *ud)
{
    struct http__worker *w = req->worker;
    BUG_ON(req->parked || req->replied);
    req->park_deadline_ms = clock_mono_ms() + timeout_ms;
    req->park_check = check;
    req->park_ud = ud;
    h2o_linklist_insert(&w->parked, &req->parked_link);
    req->parked = true;
    if (!h2o_timeout_is_linked(&w->park_tick))
        h2o_timeout_link(w->loop, &w->park_timeout, &w->park_tick);
    return HTTP_PARKED;
}

void http_req_on_dispose(struct http_req *req, void (*fn)(void *ud), void *ud)
{
    BUG_ON(req->on_dispose && fn);
    req->on_dispose = fn;
    req->on_dispose_ud = ud;
}

void *http_req_alloc(struct http_req *req, size_t size)
{
    void *p = h2o_mem_alloc_pool(&req->h2o->pool, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void http__worker_cache_limits(const struct http__worker *w, size_t *entries, size_t *bytes)
{
    const struct http_server_options *o = &w->server->opts;
    size_t threads = (size_t)o->threads;
    *entries = o->cache_entries / threads;
    *bytes = o->cache_bytes / threads;
}

void *http_req_state(struct http_req *req) { return req->state; }
const struct http_route *http_req_route(struct http_req *req) { return req->route; }
const void *http_req_principal(struct http_req *req) { return req->principal; }
void http_req_set_principal(struct http_req *req, const void *principal)
{
    req->principal = principal;
}
void http_req_set_state(struct http_req *req, void *state) { req->state = state; }

static int http__on_req(h2o_handler_t *self, h2o_req_t *h)
{
    (void)self;
    struct http__worker *w = http__worker_of(h->conn->ctx);
    struct http_server *s = w->server;
    int64_t started = clock_mono_us();
    w->last_request_ms = started / 1000;

    struct http_req *req = h2o_mem_alloc_shared(&h->pool, sizeof *req, http__req_dispose);
    *req = (struct http_req){.h2o = h,
                             .worker = w,
                             .ctx = w->app_ctx,
                             .started_us = started,
                             .stats_index = s->opts.nroutes + HTTP__UNMATCHED};
    metrics_gauge_add(s->in_flight, 1);
    req->close_connection = atomic_load(&s->draining);
    http__take_request_id(req);
    struct trace_ctx client;
    trace_span_begin(&req->span, NULL, TRACE_SERVER,
                     http__client_trace(req, &client) ? &client : NULL);
    trace_set_current(&req->span.ctx);
    /* The path as sent, quotable in logs and problems until http__dispatch
     * decodes it; NULL (quoted as "/") if the pool refuses. */
    req->path = http__path_escape(h->path.base, h->query_at != SIZE_MAX ? h->query_at : h->path.len,
                                  http__pool_alloc, &h->pool);
    if (h->query_at != SIZE_MAX) {
        req->query = h->path.base + h->query_at + 1;
        req->query_len = h->path.len - h->query_at - 1;
    }

    int rc;
    if (h->method.len >= sizeof req->method) {
        snprintf(req->method, sizeof req->method, "(long)");
        rc = http_fail(req, RC_METHOD_NOT_ALLOWED, "unknown method");
    } else {
        memcpy(req->method, h->method.base, h->method.len);
        req->method[h->method.len] = '\0';
        rc = http__dispatch(s, req, &req->stats_index);
    }
    if (rc == HTTP__DECLINED) {
        /* h2o's file handler, registered after this one, serves it. */
        req->finished = true;
        metrics_gauge_add(s->in_flight, -1);
        trace_set_current(NULL);
        return -1;
    }
    if (rc != HTTP_PARKED)
        http__finish(req, rc);
    trace_set_current(NULL);
    return 0;
}

/* --- connections -------------------------------------------------------- */

static void http__on_conn_close(void *data)
{
    struct http__conn *c = data;
    metrics_gauge_add(c->server->connections, -1);
    h2o_linklist_unlink(&c->link);
    mem_free(c);
}

static void http__on_accept(h2o_socket_t *listener, const char *err)
{
    struct http__worker *w = listener->data;
    if (err)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (!sock)
        return; /* another loop took it, or a transient accept error */
    struct http__conn *c = mem_calloc(1, sizeof *c);
    if (!c) {
        h2o_socket_close(sock);
        return;
    }
    c->sock = sock;
    c->server = w->server;
    metrics_gauge_add(w->server->connections, 1);
    h2o_linklist_insert(&w->conns, &c->link);
    sock->on_close.cb = http__on_conn_close;
    sock->on_close.data = c;
    h2o_accept(&w->accept_ctx, sock);
}

static void http__on_wake(h2o_socket_t *sock, const char *err)
{
    struct http__worker *w = sock->data;
    uint64_t count;
    if (!err) /* DONT_READ: h2o only says it is readable */
        (void)!read(h2o_socket_get_fd(sock), &count, sizeof count);
    /* Cleared before the checks, so a wake that comes during them writes
     * again and is not lost. */
    atomic_store(&w->wake.pending, false);
    if (atomic_load(&w->wake.stop))
        w->stopping = true;
    http__check_parked(w);
}

/* Tells every idle connection the conversation is over: reading stops with
 * EOF, so h2o closes each connection once its current response (if any)
 * is out. */
static void http__shutdown_reads(struct http__worker *w)
{
    for (h2o_linklist_t *l = w->conns.next; l != &w->conns; l = l->next) {
        struct http__conn *c = (struct http__conn *)((char *)l - offsetof(struct http__conn, link));
        shutdown(h2o_socket_get_fd(c->sock), SHUT_RD);
    }
}

/* --- worker thread ---------------------------------------------------------- */

static void http__report(struct http_server *s, int rc)
{
    pthread_mutex_lock(&s->lock);
    if (rc != RC_OK && s->init_rc == RC_OK)
        s->init_rc = rc;
    s->nreported++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void *http__worker_main(void *arg)
{
    struct http__worker *w = arg;
    struct http_server *s = w->server;
    h2o_linklist_init_anchor(&w->conns);
    h2o_linklist_init_anchor(&w->parked);
    w->loop = h2o_evloop_create();
    h2o_timeout_init(w->loop, &w->park_timeout, HTTP_PARK_TICK_MS);
    w->park_tick.cb = http__on_park_tick;
    h2o_context_init(&w->ctx, w->loop, &s->config);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = s->config.hosts;

    int rc = s->opts.worker_init ? s->opts.worker_init(s->opts.app, &w->app_ctx) : RC_OK;
    int listen_fd = rc == RC_OK ? fcntl(s->listen_fd, F_DUPFD_CLOEXEC, 0) : -1;
    int wake_fd = rc == RC_OK ? fcntl(w->wake.fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (rc == RC_OK && (listen_fd < 0 || wake_fd < 0)) {
        rc = RC_IO;
        if (listen_fd >= 0)
            close(listen_fd);
        if (wake_fd >= 0)
            close(wake_fd);
    }
    http__report(s, rc);
    if (rc != RC_OK)
        goto out;

    /* h2o sockets own (and close) the duplicated descriptors. */
    w->listener = h2o_evloop_socket_create(w->loop, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = w;
    h2o_socket_read_start(w->listener, http__on_accept);
    w->wake_sock = h2o_evloop_socket_create(w->loop, wake_fd, H2O_SOCKET_FLAG_DONT_READ);
    w->wake_sock->data = w;
    h2o_socket_read_start(w->wake_sock, http__on_wake);

    while (!w->stopping)
        h2o_evloop_run(w->loop, INT32_MAX);

    /* Drain: no new connections; finish what is in progress, then close. */
    h2o_socket_close(w->listener);
    int64_t deadline = clock_mono_ms() + atomic_load(&s->stop_timeout_ms);
    while (clock_mono_ms() < deadline && !h2o_linklist_is_empty(&w->conns) &&
           (clock_mono_ms() - w->last_request_ms < HTTP__QUIET_MS ||
            !h2o_linklist_is_empty(&w->parked)))
        h2o_evloop_run(w->loop, 10);
    http__shutdown_reads(w);
    while (clock_mono_ms() < deadline && !h2o_linklist_is_empty(&w->conns))
        h2o_evloop_run(w->loop, 10);
    h2o_socket_close(w->wake_sock);
out:
    http__cache_thread_cleanup();
    if (s->opts.worker_cleanup && w->app_ctx)
        s->opts.worker_cleanup(w->app_ctx);
    if (h2o_linklist_is_empty(&w->conns)) {
        /* Let h2o run the callbacks of the sockets just closed. */
        h2o_evloop_run(w->loop, 0);
        h2o_multithread_queue_t *queue = w->ctx.queue;
        if (h2o_timeout_is_linked(&w->park_tick))
            h2o_timeout_unlink(&w->park_tick);
        h2o_timeout_dispose(w->loop, &w->park_timeout);
        h2o_context_dispose(&w->ctx);
        /* h2o 2.2's evloop build closes the context's queue but never frees
         * the struct (h2o_mem_alloc, i.e. malloc). */
        free(queue);
        h2o_evloop_destroy(w->loop);
    }
    /* else: a client held on past the deadline; the process is exiting and
     * the loop's memory goes with it. */
    return NULL;
}

/* --- start / stop ------------------------------------------------------------ */

static int http__listen(struct http_server *s, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->opts.port);
    int gai = getaddrinfo(s->opts.addr, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "listen address %s: %s", s->opts.addr, gai_strerror(gai));
        return RC_CONFIG;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", s->opts.addr, s->opts.port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return RC_IO;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    s->listen_fd = fd;
    return RC_OK;
}

static int http__stats_setup(struct http_server *s)
{
    size_t n = s->opts.nroutes + HTTP__NBUILTIN;
    s->stats = mem_calloc(n, sizeof *s->stats);
    if (!s->stats)
        return RC_NOMEM;
    for (size_t i = 0; i < s->opts.nroutes; i++)
        http__stats_init(&s->stats[i], s->opts.routes[i].method, s->opts.routes[i].pattern, false);
    for (size_t b = 0; b < HTTP__NBUILTIN; b++)
        http__stats_init(&s->stats[s->opts.nroutes + b], b == HTTP__UNMATCHED ? "any" : "GET",
                         http__builtin_paths[b], b != HTTP__UNMATCHED);
    s->in_flight =
        metrics_gauge("webtoon_http_requests_in_flight", "Requests being handled right now", "");
    s->connections = metrics_gauge("webtoon_http_connections", "Open client connections", "");
    return RC_OK;
}

int http_server_start(const struct http_server_options *opts, struct http_server **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    BUG_ON(opts->threads < 1);
    struct http_server *s = mem_calloc(1, sizeof *s);
    if (!s)
        return RC_NOMEM;
    s->opts = *opts;
    atomic_init(&s->unready, true); /* not ready until a /readyz says so */
    s->listen_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    atomic_store(&s->stop_timeout_ms, 10000);

    h2o_config_init(&s->config);
    size_t largest = 0;
    for (const struct http_body_limit *l = opts->body_limits; l && l->method; l++)
        if (l->max_body > largest)
            largest = l->max_body;
    s->config.max_request_entity_size = largest + opts->max_body * HTTP__BODY_SLACK;
    s->config.http1.req_timeout = (uint64_t)opts->timeout_ms;
    s->config.http2.idle_timeout = (uint64_t)opts->timeout_ms;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = http__on_req;
    if (opts->static_root) {
        static const char *index_files[] = {"index.html", NULL};
        h2o_file_register(path, opts->static_root, index_files, NULL, 0);
    }

    int rc = http__stats_setup(s);
    if (rc == RC_OK)
        rc = http__listen(s, err, errlen);
    if (rc == RC_OK && opts->offload_threads > 0)
        rc = http__offload_start(opts->offload_threads, &s->offload, err, errlen);
    if (rc == RC_OK && !(s->workers = mem_calloc((size_t)opts->threads, sizeof *s->workers)))
        rc = RC_NOMEM;
    for (int i = 0; rc == RC_OK && i < opts->threads; i++) {
        struct http__worker *w = &s->workers[i];
        w->server = s;
        w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->wake.fd < 0 || thread_start(&w->thread, "http", http__worker_main, w) != 0) {
            snprintf(err, errlen, "cannot start HTTP worker: %s", strerror(errno));
            rc = RC_IO;
            break;
        }
        w->started = true;
        s->nworkers++;
    }
    if (rc == RC_OK) {
        pthread_mutex_lock(&s->lock);
        while (s->nreported < s->nworkers)
            pthread_cond_wait(&s->cond, &s->lock);
        rc = s->init_rc;
        pthread_mutex_unlock(&s->lock);
        if (rc != RC_OK)
            snprintf(err, errlen, "worker initialisation failed: %s", rc_name(rc));
    }
    if (rc != RC_OK) {
        http_server_stop(s, 0);
        return rc;
    }
    *out = s;
    return RC_OK;
}

int http_server_port(const struct http_server *s) { return s->port; }

void http_server_set_draining(struct http_server *s) { atomic_store(&s->draining, true); }

void http_server_drain(struct http_server *s, int timeout_ms)
{
    if (!s || s->joined)
        return;
    s->joined = true;
    atomic_store(&s->stop_timeout_ms, timeout_ms);
    for (int i = 0; i < s->nworkers; i++) {
        struct http_waker *wk = &s->workers[i].wake;
        atomic_store(&wk->stop, true);
        uint64_t one = 1;
        /* Written even when a wake-up is pending, which may have been
         * consumed before the stop flag was set. A worker that failed its
         * init has returned already and ignores it. */
        (void)!write(wk->fd, &one, sizeof one);
    }
    for (int i = 0; i < s->opts.threads && s->workers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
    http__offload_stop(s->offload); /* after the loops: nobody submits */
    s->offload = NULL;
}

void http_server_stop(struct http_server *s, int timeout_ms)
{
    if (!s)
        return;
    http_server_drain(s, timeout_ms);
    for (int i = 0; i < s->opts.threads && s->workers; i++)
        if (s->workers[i].wake.fd > 0)
            close(s->workers[i].wake.fd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    h2o_config_dispose(&s->config);
    mem_free(s->workers);
    mem_free(s->stats);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    mem_free(s);
}
