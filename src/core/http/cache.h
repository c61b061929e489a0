/*
 * Read cache of GET representations, one per event-loop thread, so no lock
 * is ever taken on the read path.
 *
 * An entry is the body, content type and ETag of one resource, under a key
 * the caller normalizes (its path with the query as parsed, so that
 * "?page=0&size=20" and no query are one entry), made from one <version> of
 * the data behind it. The caller reads the current version before each
 * lookup: a counter that every write changing that data bumps in its own
 * transaction, so once that transaction commits no thread of any process
 * serves an entry made before it. Only resources that are the same for
 * every caller belong here (they go out with Cache-Control: no-cache, which
 * shared caches may keep and must revalidate).
 *
 * Bounded per process (http_server_options.cache_entries, .cache_bytes,
 * split evenly among the threads): the least recently used entries make
 * room. Metrics: webtoon_http_cache_hits_total and _misses_total by route,
 * webtoon_http_cache_evictions_total, and the gauges
 * webtoon_http_cache_entries and webtoon_http_cache_bytes (all threads).
 */
#ifndef WEBTOON_HTTP_CACHE_H
#define WEBTOON_HTTP_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/http/http.h"

/* Answers <req> from this thread's cache when it holds <key> made at
 * <version> (200, or 304 when If-None-Match matches) and returns true;
 * otherwise returns false and <req> is still to be answered. */
bool http_cache_serve(struct http_req *req, const char *key, int64_t version);

/* Answers <req> with <body> (stolen on every path) as 200 <content_type>
 * (or 304), like http_reply_json_validated, and keeps the bytes under
 * <key> at <version> for the next http_cache_serve on this thread. */
int http_cache_reply_json(struct http_req *req, const char *key, int64_t version, json_t *body,
                          const char *content_type);

#endif
