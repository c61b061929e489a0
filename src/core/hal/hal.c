/* HAL items and paged collections; see hal.h. */
#include "core/hal/hal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/rc.h"

int hal_page_parse(struct http_req *req, struct hal_page *page)
{
    int rc = http_req_query_int(req, "page", 0, 0, 1000000, &page->number);
    if (rc == RC_OK)
        rc = http_req_query_int(req, "size", HAL_PAGE_SIZE_DEFAULT, 1, HAL_PAGE_SIZE_MAX,
                                &page->size);
    return rc;
}

int64_t hal_page_offset(const struct hal_page *page) { return page->number * page->size; }

json_t *hal_with_self(json_t *item, const char *fmt, ...)
{
    char href[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(href, sizeof href, fmt, ap);
    va_end(ap);
    if (item)
        json_object_set_new(item, "_links", json_pack("{s:{s:s}}", "self", "href", href));
    return item;
}

static json_t *hal_link(const char *path, const char *query, int64_t number, int64_t size)
{
    char href[600];
    snprintf(href, sizeof href, "%s?%s%spage=%lld&size=%lld", path, query ? query : "",
             query ? "&" : "", (long long)number, (long long)size);
    return json_pack("{s:s}", "href", href);
}

json_t *hal_collection(const char *name, json_t *items, const struct hal_page *page, int64_t total,
                       const char *path, const char *query)
{
    int64_t pages = total == 0 ? 0 : (total + page->size - 1) / page->size;
    json_t *links = json_object();
    if (links) {
        json_object_set_new(links, "self", hal_link(path, query, page->number, page->size));
        if (page->number + 1 < pages)
            json_object_set_new(links, "next", hal_link(path, query, page->number + 1, page->size));
        if (page->number > 0)
            json_object_set_new(links, "prev", hal_link(path, query, page->number - 1, page->size));
    }
    return json_pack("{s:{s:o}, s:o, s:{s:I, s:I, s:I, s:I}}", "_embedded", name, items, "_links",
                     links, "page", "size", (json_int_t)page->size, "totalElements",
                     (json_int_t)total, "totalPages", (json_int_t)pages, "number",
                     (json_int_t)page->number);
}

struct hal_rows {
    json_t *items;
    hal_item_cb to_item;
};

static int hal_take_row(void *ud, const struct store_row *row)
{
    struct hal_rows *r = ud;
    json_t *item = r->to_item(row);
    return item && json_array_append_new(r->items, item) == 0 ? 0 : RC_NOMEM;
}

int hal_query_collection(struct store *st, const char *count_sql, const char *select_sql,
                         const struct store_val *args, size_t nargs, hal_item_cb to_item,
                         const char *name, const struct hal_page *page, const char *path,
                         const char *query, json_t **out)
{
    enum { HAL_MAX_ARGS = 8 };
    BUG_ON(nargs > HAL_MAX_ARGS);
    struct store_val all[HAL_MAX_ARGS + 2];
    for (size_t i = 0; i < nargs; i++)
        all[i] = args[i];
    all[nargs] = STORE_INT(page->size);
    all[nargs + 1] = STORE_INT(hal_page_offset(page));

    *out = NULL;
    int64_t total = 0;
    struct hal_rows rows = {.items = json_array(), .to_item = to_item};
    if (!rows.items)
        return RC_NOMEM;
    int rc = store_query_int(st, count_sql, args, nargs, &total, NULL);
    if (rc == RC_OK)
        rc = store_exec(st, select_sql, all, nargs + 2, hal_take_row, &rows, NULL);
    if (rc != RC_OK) {
        json_decref(rows.items);
        return rc;
    }
    *out = hal_collection(name, rows.items, page, total, path, query);
    return *out ? RC_OK : RC_NOMEM;
}
