/*
 * HAL JSON shapes of the API (compatible with Spring Data REST): items with
 * `_links.self.href`, and paged collections
 *   {"_embedded": {"<name>": [...]}, "_links": {...},
 *    "page": {"size", "totalElements", "totalPages", "number"}}.
 * Links are relative URIs, so they work behind the gateway unchanged.
 */
#ifndef WEBTOON_HAL_H
#define WEBTOON_HAL_H

#include <jansson.h>
#include <stdint.h>

#include "core/http/http.h"
#include "core/store/store.h"

#define HAL_PAGE_SIZE_DEFAULT 20
#define HAL_PAGE_SIZE_MAX 100

struct hal_page {
    int64_t number; /* zero-based page index */
    int64_t size;   /* items per page, 1..HAL_PAGE_SIZE_MAX */
};

/* Reads ?page=&size= of <req>. RC_INVALID (reason recorded) when out of
 * range. */
int hal_page_parse(struct http_req *req, struct hal_page *page /* OUT */);
/* Row offset of <page> for SQL LIMIT/OFFSET. */
int64_t hal_page_offset(const struct hal_page *page);

/* Adds `_links.self.href` (printf-style) to <item>; returns <item>. */
json_t *hal_with_self(json_t *item, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * New collection body: <items> (stolen) under `_embedded.<name>`, with
 * paging links built from <path> and <query> (extra query parameters
 * without page/size, e.g. "owner=u1", or NULL). NULL when out of memory.
 */
json_t *hal_collection(const char *name, json_t *items, const struct hal_page *page, int64_t total,
                       const char *path, const char *query);

/* Turns one result row into an item (new reference), NULL when out of
 * memory. */
typedef json_t *(*hal_item_cb)(const struct store_row *row);

/*
 * Runs a paged listing: <count_sql> (one integer) and <select_sql> with the
 * same <nargs> <args>, plus two more parameters it must use as
 * LIMIT $<nargs+1> OFFSET $<nargs+2>. Each row becomes an item through
 * <to_item>. On success returns RC_OK with a new collection body in <out>.
 */
int hal_query_collection(struct store *st, const char *count_sql, const char *select_sql,
                         const struct store_val *args, size_t nargs, hal_item_cb to_item,
                         const char *name, const struct hal_page *page, const char *path,
                         const char *query, json_t **out /* OUT */);

#endif
