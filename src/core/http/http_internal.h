/*
 * Shared inside the http module only (double-underscore names): the request
 * record handlers see through accessors, and the pure helpers the unit tests
 * exercise directly (route matching, percent-decoding, query lookup).
 */
#ifndef WEBTOON_HTTP_INTERNAL_H
#define WEBTOON_HTTP_INTERNAL_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "core/base/lru.h"
#include "core/http/http.h"
#include "core/trace/trace.h"

#define HTTP__MAX_PARAMS 8
#define HTTP__MAX_SEGMENTS 16
#define HTTP__REQUEST_ID_MAX 64

struct http__param {
    const char *name; /* borrowed from the route pattern, not NUL-terminated */
    size_t name_len;
    char *value; /* decoded, NUL-terminated, in the request pool */
};

struct http__worker;
struct http__job;
struct http_offload;

/* The offload threads of a server (offload.c). */
int http__offload_start(int threads, struct http_offload **out /* OUT */, char *err, size_t errlen);
/* Drops what has not started, waits for what runs, frees. NULL: nothing. */
void http__offload_stop(struct http_offload *o);
struct http_offload *http__offload_of(struct http_req *req);
/* The request is going away with work handed off: the work is dropped. */
void http__job_abandon(struct http__job *job);

struct http_req {
    h2o_req_t *h2o;
    struct http__worker *worker;    /* the loop thread serving it */
    void *ctx;                      /* worker context (borrowed) */
    const struct http_route *route; /* NULL for built-in routes */
    char method[16];
    char *path;        /* NUL-terminated, no query */
    const char *query; /* raw query after '?', or NULL */
    size_t query_len;
    struct http__param params[HTTP__MAX_PARAMS];
    size_t nparams;
    char request_id[HTTP__REQUEST_ID_MAX + 1];
    json_t *json; /* parsed body, owned */
    bool replied;
    int status;            /* status sent */
    bool close_connection; /* draining: no keep-alive */
    char detail[512];      /* reason recorded by http_fail */
    void *state;           /* http_req_state */
    const void *principal; /* http_req_principal */
    size_t stats_index;    /* which route's metrics count it */
    int64_t started_us;    /* monotonic, when it arrived */
    bool finished;         /* answered and accounted for */
    /* SERVER span of the request, a child of the client's traceparent; its
     * context is the loop thread's current one whenever the request's work
     * runs (handler, park checks, the answer and its log line) */
    struct trace_span span;
    /* parked (http_req_park), loop thread only */
    h2o_linklist_t parked_link; /* in the worker's parked list while waiting */
    bool parked;
    int64_t park_deadline_ms; /* monotonic */
    http_park_cb park_check;
    void *park_ud;
    void (*on_dispose)(void *ud); /* http_req_on_dispose */
    void *on_dispose_ud;
    struct http__job *job; /* work handed off (http_req_offload), loop thread only */
};

/* Allocator for path/query copies living as long as the request. */
typedef void *(*http__alloc_cb)(void *pool, size_t size);
/* The allocator over an h2o request pool (<pool> is an h2o_mem_pool_t). */
void *http__pool_alloc(void *pool, size_t size);

/*
 * A request path split at '/' into segments, each percent-decoded exactly
 * once. "/" is one empty segment; "/a/" is "a" and an empty segment, so a
 * trailing slash names a different resource (none of ours). Segments past
 * HTTP__MAX_SEGMENTS are validated but not kept: such a path fits no route.
 */
struct http__segment {
    char *value; /* decoded, NUL-terminated, in the request pool */
    size_t len;
};

struct http__path {
    struct http__segment segs[HTTP__MAX_SEGMENTS];
    size_t nsegs;    /* segments kept, <= HTTP__MAX_SEGMENTS */
    bool too_many;   /* the path had more segments than kept */
    char *canonical; /* "/" + segments, re-encoded the one way (ASCII), in the pool */
};

/*
 * Splits and decodes the raw path <raw>/<len> (the request target up to the
 * query, as sent). Refuses (RC_INVALID, with a static reason in <why>) a
 * path not starting with '/', malformed escapes, an encoded or raw NUL, an
 * encoded '/' (%2F) inside a segment, a segment that is not valid UTF-8 once
 * decoded, and dot segments ("." or "..", encoded or not), which
 * intermediaries would each resolve their own way. RC_NOMEM when <alloc>
 * refuses. On RC_OK fills <out>; its strings come from <alloc>(<pool>).
 */
int http__path_parse(const char *raw, size_t len, struct http__path *out /* OUT */,
                     http__alloc_cb alloc, void *pool, const char **why /* OUT */);

/*
 * Matches the parsed <path> against <pattern>, a route of literal segments
 * and {name} parameters. On a match fills <params> (at most
 * HTTP__MAX_PARAMS; values borrowed from <path>) and *<nparams>, sets
 * *<specificity> (greater for a pattern whose first literal comes earlier,
 * so "/purchases/buywebtoon" beats "/purchases/{id}", as OpenAPI ranks
 * concrete paths before templated ones) and returns true. A parameter never
 * matches an empty segment.
 */
bool http__route_match(const char *pattern, const struct http__path *path,
                       struct http__param *params, size_t *nparams /* OUT */,
                       uint32_t *specificity /* OUT */);

/* Copy of <raw>/<len> with every byte outside printable ASCII written as
 * %XX, so logs and problem+json can quote a path that failed to parse. New,
 * from <alloc>(<pool>); NULL when it refuses. */
char *http__path_escape(const char *raw, size_t len, http__alloc_cb alloc, void *pool);

/* Where the path starts in request target <target>/<len>: 0 for the usual
 * origin form ("/a?b"); past the authority for the absolute form
 * ("http://host/a", RFC 9112 3.2.2), which is <len> when it has no path. A
 * target of neither form gets 0 (and is refused by http__path_parse). */
size_t http__target_path_offset(const char *target, size_t len);

/* Length of the longest prefix of <s>/<len> that is valid UTF-8 (no
 * overlong forms, surrogates or code points past U+10FFFF). */
size_t http__utf8_valid_prefix(const char *s, size_t len);

/* Decodes %XX (and '+' as space when <plus_is_space>) from <in> into <out>
 * (room for <len> + 1 bytes). Fails on malformed escapes and on %00. */
bool http__percent_decode(const char *in, size_t len, bool plus_is_space, char *out,
                          size_t *out_len /* OUT */);

/* Finds <name> in the raw query <query>/<len>; on success returns a decoded
 * copy made with <alloc>, else NULL. Malformed escapes count as absent. */
char *http__query_get(const char *query, size_t len, const char *name, http__alloc_cb alloc,
                      void *pool);

/* Content type of a JSON request: application/json or application/<x>+json,
 * parameters (charset) allowed. */
bool http__is_json_media_type(const char *value, size_t len);

/*
 * True when the If-None-Match field value <field>/<len> matches <etag> (a
 * quoted entity-tag as http_etag_of writes): "*", or a comma-separated list
 * holding <etag> under the weak comparison RFC 9110 13.1.2 asks for (W/"x"
 * matches "x"). A value that does not parse as that grammar matches nothing,
 * so the full representation goes out, which is never wrong.
 */
bool http__etag_list_matches(const char *field, size_t len, const char *etag);

/* --- the read cache's store (cache.c): pure, one per thread ------------- */

#define HTTP__CACHE_TYPE_MAX 64 /* content type of an entry, NUL included */

struct http__cache_entry {
    struct lru_entry lru; /* keyed by <key> */
    int64_t version;      /* of the data it was made from */
    const char *key;      /* NUL-terminated, in <data> */
    const char *body;     /* <len> bytes (and a NUL), in <data> */
    size_t len;
    char etag[HTTP_ETAG_MAX];
    char content_type[HTTP__CACHE_TYPE_MAX];
    char data[];
};

/* Its size counts the entry, the key and the body. */
struct http__cache {
    struct lru lru;
};

/* New empty cache holding at most <max_entries> entries of <max_bytes> in
 * all (both >= 1); NULL when out of memory. Free with http__cache_free. */
struct http__cache *http__cache_new(size_t max_entries, size_t max_bytes);
void http__cache_free(struct http__cache *c);
/* The entry of <key> when it was made at <version> (now the most recently
 * used), else NULL; an entry of another version is dropped. Borrowed until
 * the next http__cache_put or http__cache_free. */
const struct http__cache_entry *http__cache_get(struct http__cache *c, const char *key,
                                                int64_t version);
/* Keeps a copy of <body> (<len> bytes), <content_type> and <etag> under
 * <key> at <version>, replacing the entry <key> had and pushing out the
 * least recently used ones until it fits. RC_TOO_LARGE (nothing kept) when
 * it alone exceeds the byte limit or its content type is too long;
 * RC_NOMEM. */
int http__cache_put(struct http__cache *c, const char *key, int64_t version,
                    const char *content_type, const char *body, size_t len, const char *etag);
/* The limits of the cache of one thread of <w>'s server: its share of the
 * process's (0: no cache). */
void http__worker_cache_limits(const struct http__worker *w, size_t *entries /* OUT */,
                               size_t *bytes /* OUT */);
/* Frees this thread's cache, if it made one (a worker thread's last act). */
void http__cache_thread_cleanup(void);

/* Sends the problem+json reply for <rc> with the recorded detail. */
void http__reply_problem(struct http_req *req, int rc);

#endif
