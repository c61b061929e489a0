/*
 * The read cache (cache.h): a bounded map (core/base/lru.h), one per
 * event-loop thread (thread-local, made on first use), and its metrics.
 * Entries are one allocation each: the struct, then the key and the body.
 */
#include <stdio.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/http/cache.h"
#include "core/http/http_internal.h"
#include "core/json/jx.h"
#include "core/metrics/metrics.h"

/* --- the store ------------------------------------------------------------ */

static void http__cache_entry_free(struct lru_entry *e) { mem_free(e); }

struct http__cache *http__cache_new(size_t max_entries, size_t max_bytes)
{
    struct http__cache *c = mem_calloc(1, sizeof *c);
    if (c && lru_init(&c->lru, max_entries, max_bytes, http__cache_entry_free) != RC_OK) {
        mem_free(c);
        return NULL;
    }
    return c;
}

void http__cache_free(struct http__cache *c)
{
    if (!c)
        return;
    lru_clear(&c->lru);
    mem_free(c);
}

const struct http__cache_entry *http__cache_get(struct http__cache *c, const char *key,
                                                int64_t version)
{
    struct http__cache_entry *e = (struct http__cache_entry *)lru_get(&c->lru, key, strlen(key));
    if (e && e->version != version) {
        lru_remove(&c->lru, &e->lru); /* made from data that has changed since */
        return NULL;
    }
    return e;
}

int http__cache_put(struct http__cache *c, const char *key, int64_t version,
                    const char *content_type, const char *body, size_t len, const char *etag)
{
    size_t key_len = strlen(key), type_len = strlen(content_type);
    size_t size = sizeof(struct http__cache_entry) + key_len + 1 + len + 1;
    if (size > c->lru.max_bytes || type_len >= HTTP__CACHE_TYPE_MAX || size < len)
        return RC_TOO_LARGE;
    struct http__cache_entry *e = mem_alloc(size);
    if (!e)
        return RC_NOMEM;
    memset(e, 0, sizeof *e);
    e->version = version;
    e->len = len;
    memcpy(e->data, key, key_len + 1);
    e->key = e->data;
    memcpy(e->data + key_len + 1, body, len);
    e->data[key_len + 1 + len] = '\0';
    e->body = e->data + key_len + 1;
    memcpy(e->etag, etag, HTTP_ETAG_MAX);
    e->etag[HTTP_ETAG_MAX - 1] = '\0';
    memcpy(e->content_type, content_type, type_len + 1);
    e->lru.key = e->key;
    e->lru.key_len = key_len;
    e->lru.size = size;
    return lru_put(&c->lru, &e->lru);
}

/* --- this thread's cache and the metrics ------------------------------------ */

#define HTTP__CACHE_ROUTES 8 /* cached routes whose counters a thread remembers */

struct http__cache_route_stats {
    const struct http_route *route;
    struct metrics_counter *hits, *misses;
};

static _Thread_local struct {
    struct http__cache *cache;
    bool tried; /* made (or found it is off or out of memory) */
    struct http__cache_route_stats routes[HTTP__CACHE_ROUTES];
    size_t nroutes;
    struct metrics_gauge *entries, *bytes;
    struct metrics_counter *evictions;
} http__local;

/* This thread's cache, made on first use with the server's limits; NULL
 * when the cache is off (or out of memory). */
static struct http__cache *http__local_cache(struct http_req *req)
{
    if (http__local.tried)
        return http__local.cache;
    http__local.tried = true;
    size_t max_entries, max_bytes;
    http__worker_cache_limits(req->worker, &max_entries, &max_bytes);
    if (max_entries == 0 || max_bytes == 0)
        return NULL;
    http__local.cache = http__cache_new(max_entries, max_bytes);
    http__local.entries =
        metrics_gauge("webtoon_http_cache_entries", "Responses held by the read cache", "");
    http__local.bytes =
        metrics_gauge("webtoon_http_cache_bytes", "Bytes held by the read cache", "");
    http__local.evictions =
        metrics_counter("webtoon_http_cache_evictions_total",
                        "Cached responses pushed out to make room for others", "");
    return http__local.cache;
}

/* The hit and miss counters of <req>'s route (labelled by its pattern, so
 * the series are as few as the routes). */
static struct http__cache_route_stats http__local_route(struct http_req *req)
{
    for (size_t i = 0; i < http__local.nroutes; i++)
        if (http__local.routes[i].route == req->route)
            return http__local.routes[i];
    char labels[300];
    snprintf(labels, sizeof labels, "route=\"%s\"", req->route ? req->route->pattern : "");
    struct http__cache_route_stats st = {
        .route = req->route,
        .hits = metrics_counter("webtoon_http_cache_hits_total",
                                "GETs answered from the read cache", labels),
        .misses =
            metrics_counter("webtoon_http_cache_misses_total",
                            "GETs of cached resources the read cache could not answer", labels),
    };
    if (http__local.nroutes < HTTP__CACHE_ROUTES)
        http__local.routes[http__local.nroutes++] = st;
    return st;
}

/* Passes the change of <c>'s size since <entries>/<bytes>/<evictions> on to
 * the process-wide metrics. */
static void http__local_account(const struct http__cache *c, size_t entries, size_t bytes,
                                uint64_t evictions)
{
    metrics_gauge_add(http__local.entries, (int64_t)c->lru.entries - (int64_t)entries);
    metrics_gauge_add(http__local.bytes, (int64_t)c->lru.bytes - (int64_t)bytes);
    metrics_counter_add(http__local.evictions, c->lru.evictions - evictions);
}

bool http_cache_serve(struct http_req *req, const char *key, int64_t version)
{
    struct http__cache *c = http__local_cache(req);
    if (!c)
        return false;
    struct http__cache_route_stats st = http__local_route(req);
    size_t entries = c->lru.entries, bytes = c->lru.bytes;
    const struct http__cache_entry *e = http__cache_get(c, key, version);
    http__local_account(c, entries, bytes, c->lru.evictions);
    if (!e) {
        metrics_counter_add(st.misses, 1);
        return false;
    }
    metrics_counter_add(st.hits, 1);
    http_reply_validated(req, e->content_type, e->body, e->len, e->etag, HTTP_REVALIDATE);
    return true;
}

int http_cache_reply_json(struct http_req *req, const char *key, int64_t version, json_t *body,
                          const char *content_type)
{
    char *text = body ? jx_dump(body) : NULL;
    json_decref(body);
    if (!text)
        return RC_NOMEM;
    size_t len = strlen(text);
    char etag[HTTP_ETAG_MAX];
    http_etag_of(text, len, etag);
    struct http__cache *c = http__local_cache(req);
    if (c) {
        size_t entries = c->lru.entries, bytes = c->lru.bytes;
        uint64_t evictions = c->lru.evictions;
        (void)http__cache_put(c, key, version, content_type, text, len, etag); /* best effort */
        http__local_account(c, entries, bytes, evictions);
    }
    int rc = http_reply_validated(req, content_type, text, len, etag, HTTP_REVALIDATE);
    mem_free(text);
    return rc;
}

void http__cache_thread_cleanup(void)
{
    struct http__cache *c = http__local.cache;
    if (c) {
        metrics_gauge_add(http__local.entries, -(int64_t)c->lru.entries);
        metrics_gauge_add(http__local.bytes, -(int64_t)c->lru.bytes);
    }
    http__cache_free(c);
    memset(&http__local, 0, sizeof http__local);
}
