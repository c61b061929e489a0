/*
 * HTTP server on h2o's event loop: one loop per worker thread, all sharing
 * one listening socket; a routing table with path parameters; JSON
 * request/response helpers; problem+json errors; /healthz, /readyz and
 * /metrics built in; per-route request counts and latency histograms;
 * graceful drain.
 *
 * Handlers run on the loop thread and must not block for long (SQLite calls
 * are microseconds). A handler either replies (http_reply_*) and returns
 * RC_OK, or returns an error code, usually through http_fail() to give a
 * reason; the server then answers with problem+json. Exactly one reply
 * leaves per request.
 */
#ifndef WEBTOON_HTTP_H
#define WEBTOON_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/bug.h"

struct http_req;
struct http_server;

typedef int (*http_handler_cb)(struct http_req *req);

/* <pattern> is a path of literal segments and {name} parameters, e.g.
 * "/pointers/{id}/withdraw". A path goes to the most specific pattern it
 * fits (a literal segment beats a parameter, as in OpenAPI); routes sharing
 * that pattern are its methods, and what Allow lists on 405 and OPTIONS. */
struct http_route {
    const char *method;
    const char *pattern;
    http_handler_cb handler;
};

/* A route whose bodies may exceed the server's max_body (image uploads). */
struct http_body_limit {
    const char *method;
    const char *pattern; /* as in its http_route */
    size_t max_body;
};

struct http_server_options {
    const char *addr;                          /* listen address, e.g. "127.0.0.1" */
    int port;                                  /* 0: any free port (see http_server_port) */
    int threads;                               /* event-loop threads, >= 1 */
    size_t max_body;                           /* larger bodies get 413 */
    const struct http_body_limit *body_limits; /* exceptions, ended by {0}; may be NULL */
    int timeout_ms;                            /* slow request / idle keep-alive limit */
    const struct http_route *routes;
    size_t nroutes;
    void *app; /* passed to worker_init */
    /* Creates the per-thread context handlers see as http_req_ctx(); may be
     * NULL. Called on the worker thread before it serves. */
    int (*worker_init)(void *app, void **ctx /* OUT */);
    void (*worker_cleanup)(void *ctx);
    /* /readyz: true when this thread can serve requests; may add a member
     * per dependency to <checks> (a JSON object) saying how it is, which
     * /readyz shows whether ready or not. NULL: always ready. */
    bool (*readiness)(void *ctx, json_t *checks);
    const char *openapi; /* served at GET /openapi.json when not NULL */
    /* Decides who may call the matched route, before its handler runs:
     * RC_OK to go on, an error code to answer with, or HTTP_PARKED after
     * parking the request (its check then runs the route's handler, see
     * http_req_route). NULL: everyone may. */
    int (*authorize)(void *ctx, struct http_req *req);
    /* Directory of static files served for GET/HEAD paths no route matches
     * (index.html for directories); NULL: none. */
    const char *static_root;
    /* Read cache (cache.h) of the whole process, split evenly among the
     * threads: at most <cache_entries> responses of <cache_bytes> in all;
     * either 0: no cache. */
    size_t cache_entries;
    size_t cache_bytes;
    /* Threads for blocking work requests hand off (http_req_offload);
     * 0: none, and http_req_offload answers 503. */
    int offload_threads;
};

/*
 * Binds, starts the worker threads and returns once they serve. On failure
 * returns RC_IO (bind) or the worker_init code, with a reason in <err>.
 * Free with http_server_stop.
 */
int http_server_start(const struct http_server_options *opts, struct http_server **out /* OUT */,
                      char *err, size_t errlen);
/* Port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);
/* From now on /readyz answers 503 and connections close after their
 * current response, so a load balancer moves away. Thread-safe. */
void http_server_set_draining(struct http_server *s);
/* Closes the listener, lets requests in progress finish (at most
 * <timeout_ms>) and joins the threads; <s> stays valid (http_server_wake
 * does nothing more) until http_server_stop, so threads that may still
 * wake it can be stopped in between. NULL or a second call does nothing. */
void http_server_drain(struct http_server *s, int timeout_ms);
/* Drains (when http_server_drain did not) and frees <s>. NULL does nothing. */
void http_server_stop(struct http_server *s, int timeout_ms);
/* Has every loop ask its parked requests now: for a thread that finished
 * something many requests may wait for (e.g. publishing events).
 * Thread-safe; cheap when a wake-up is already on its way. */
void http_server_wake(struct http_server *s);

/* --- inside a handler --------------------------------------------------- */

/* Per-thread context made by worker_init (borrowed). */
void *http_req_ctx(struct http_req *req);
/* The route <req> matched (NULL for built-in resources). */
const struct http_route *http_req_route(struct http_req *req);
/* Request id: the client's X-Request-Id when it is a sane token, else a new
 * UUID. Borrowed for the request's lifetime. */
const char *http_req_id(struct http_req *req);
const char *http_req_method(struct http_req *req);
/* Path without the query string in one canonical form: each segment decoded
 * once and re-encoded the same way (ASCII only), so "/%70ointers/al%69ce" is
 * "/pointers/alice". Borrowed for the request's lifetime. */
const char *http_req_path(struct http_req *req);
/* Path parameter <name> of the matched route, percent-decoded once: never
 * empty, valid UTF-8, without NUL or '/'; borrowed. */
const char *http_req_param(struct http_req *req, const char *name);
/* Query parameter <name>, percent-decoded, or NULL; borrowed. */
const char *http_req_query(struct http_req *req, const char *name);
/* Integer query parameter: <def> when absent; RC_INVALID (with a reason
 * already recorded) when not an integer within <min>..<max>. */
int http_req_query_int(struct http_req *req, const char *name, int64_t def, int64_t min,
                       int64_t max, int64_t *out /* OUT */);
/* Request header <name> (case-insensitive), NUL-terminated, or NULL. */
const char *http_req_header(struct http_req *req, const char *name);
/* The client's address (the TCP peer: "127.0.0.1", "::1") into <out>
 * (<len> bytes, 46 is enough); "" when unknown. */
void http_req_peer(struct http_req *req, char *out /* OUT */, size_t len);
/* Raw body and its length (may be empty). */
const char *http_req_body(struct http_req *req, size_t *len /* OUT */);
/*
 * The body parsed as a JSON object. Requires Content-Type application/json
 * (or +json): RC_UNSUPPORTED_MEDIA otherwise; RC_BAD_JSON when it does not
 * parse. The value is borrowed until the request ends.
 */
int http_req_json(struct http_req *req, json_t **out /* OUT */);

/* Adds a response header (copied). */
void http_reply_header(struct http_req *req, const char *name, const char *value);
/* Sends <body> (stolen on every path) as JSON with <status> and
 * <content_type> (NULL: application/json). */
int http_reply_json(struct http_req *req, int status, json_t *body, const char *content_type);
/* Sends <len> bytes of <body> (copied) as <content_type> (NULL: none, for
 * replies without content such as 204). */
int http_reply(struct http_req *req, int status, const char *content_type, const char *body,
               size_t len);
/* --- validators: conditional GETs (RFC 9110 8.8.3, 13.1.2) --------------- */

/* A strong ETag: a quoted 64-bit hash in hex, NUL included. */
#define HTTP_ETAG_MAX 19
/* Cache-Control of a representation clients may keep but must revalidate
 * (If-None-Match) before each use; _PRIVATE for one user's resources, which
 * shared caches must not keep. */
#define HTTP_REVALIDATE "no-cache"
#define HTTP_REVALIDATE_PRIVATE "private, no-cache"

/* Writes the strong ETag of the <len> bytes at <body> into <out>: the same
 * bytes always give the same tag, different bytes a different one. */
void http_etag_of(const char *body, size_t len, char out[HTTP_ETAG_MAX] /* OUT */);
/*
 * Answers a GET with the representation <body> (<len> bytes, copied) as 200
 * <content_type>, carrying ETag <etag> and Cache-Control <cache_control>;
 * when the request's If-None-Match matches <etag> (or is "*"), 304 Not
 * Modified instead, with the same two headers and no body.
 */
int http_reply_validated(struct http_req *req, const char *content_type, const char *body,
                         size_t len, const char *etag, const char *cache_control);
/* http_reply_validated of <body> (stolen on every path) as JSON, its ETag
 * computed from the bytes sent. */
int http_reply_json_validated(struct http_req *req, json_t *body, const char *content_type,
                              const char *cache_control);

/* New problem+json object (RFC 9457) for <rc> with <detail> (may be NULL),
 * for replies built by hand, e.g. a failure that was still recorded. */
json_t *http_problem_new(struct http_req *req, int rc, const char *detail);
/* The same without a request (an answer recorded for later replays):
 * <instance> and <request_id> may be NULL. */
json_t *http_problem_body(int rc, const char *detail, const char *instance, const char *request_id);

/* Records a reason for <rc> and returns <rc>; the server replies with
 * problem+json when the handler returns it. */
int http_fail(struct http_req *req, int rc, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* --- answering later ------------------------------------------------------ */

/* What a handler returns, through http_req_park, when it answers later. */
#define HTTP_PARKED (-2)

/* Decides a parked request: replies (returning RC_OK) or returns an error
 * code (answered with problem+json), or returns HTTP_PARKED to wait on,
 * which is not allowed once <expired>. It may park the request again with
 * a new deadline through http_req_park. Runs on the request's loop thread. */
typedef int (*http_park_cb)(struct http_req *req, void *ud, bool expired);

/*
 * Instead of replying now, keeps <req> open without blocking its event
 * loop: <check>(<req>, <ud>, false) runs every HTTP_PARK_TICK_MS until it
 * decides, and <check>(<req>, <ud>, true) once <timeout_ms> have passed.
 * A handler (or a check) returns what this returns, HTTP_PARKED. If the
 * client goes away meanwhile, <check> is not called again. <ud> is
 * borrowed: allocate it with http_req_alloc so it lives with the request.
 */
int http_req_park(struct http_req *req, int timeout_ms, http_park_cb check, void *ud);
/* For waits nobody announces with a wake-up. */
#define HTTP_PARK_TICK_MS 2

/* The loop of a request, to be woken from another thread when something a
 * parked request waits for is done, so its check runs at once instead of
 * at the next tick. Valid until the server is stopped (not just drained). */
struct http_waker;
struct http_waker *http_req_waker(struct http_req *req);
/* Thread-safe; a burst of calls costs one wake-up. */
void http_waker_wake(struct http_waker *wk);

/*
 * Blocking work (image decoding, object storage I/O) handed from a request
 * to the server's offload threads, so the loop keeps serving: <run>(<data>)
 * runs on an offload thread, then <resume>(<req>, <data>) on the request's
 * loop, where it answers as a handler would (reply, fail, park, offload
 * again). <data> belongs to the work from then on (freed with <cleanup>,
 * NULL: mem_free, on whichever thread is last), because the work may
 * outlive the request: if the client leaves, or <timeout_ms> pass first
 * (503, or what <expired> answers), <resume> is not called. A full queue
 * is 503 at once, unless the work is <inline_when_busy>.
 */
struct http_work {
    void (*run)(void *data);
    int (*resume)(struct http_req *req, void *data);
    void (*cleanup)(void *data);
    int timeout_ms;
    /* Optional: answers <req> when <timeout_ms> pass before the work is
     * done (the work may still run; its <data> is not the request's). */
    int (*expired)(struct http_req *req);
    /* With no offload threads, or a full queue, <run> and <resume> run
     * here on the loop instead of a 503: for work that must happen once
     * its request got that far (a charge after its payment committed). */
    bool inline_when_busy;
};
/* Returns HTTP_PARKED (return it from the handler) or an error code. */
int http_req_offload(struct http_req *req, const struct http_work *work, void *data);

/* Calls <fn>(<ud>) on the loop thread when <req>'s memory is about to go
 * away (after its answer, or when the client left before it): for work
 * that another thread may still be doing on it. One per request. */
void http_req_on_dispose(struct http_req *req, void (*fn)(void *ud), void *ud);

/* <size> zeroed bytes living exactly as long as <req>, or NULL. */
void *http_req_alloc(struct http_req *req, size_t size);

/* One pointer of per-request state for the layer above the server (set
 * once, e.g. by a command wrapper); NULL until set. Borrowed. */
void *http_req_state(struct http_req *req);
void http_req_set_state(struct http_req *req, void *state);
/* Who is calling, as the authorize hook found out (NULL: nobody signed in).
 * Borrowed; allocate it with http_req_alloc. */
const void *http_req_principal(struct http_req *req);
void http_req_set_principal(struct http_req *req, const void *principal);

#endif
