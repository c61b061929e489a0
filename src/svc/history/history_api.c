/* HTTP routes and event handlers of the history service. */
#include <string.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"
#include "svc/history/history.h"

static const struct store_migration history_schema[] = {
    {1,
     "CREATE TABLE user_summaries ("
     " user_id TEXT PRIMARY KEY,"
     " status TEXT NOT NULL,"
     " my_point BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL);"
     "CREATE TABLE timeline ("
     " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
     " user_id TEXT NOT NULL,"
     " event_type TEXT NOT NULL,"
     " event_id TEXT NOT NULL,"
     " occurred_at BIGINT NOT NULL,"
     " detail TEXT NOT NULL);"
     "CREATE INDEX timeline_user ON timeline (user_id, seq);",
     NULL},
};

/* Appends one timeline entry. Deliberately no uniqueness here: the inbox
 * alone guarantees an event is recorded once. */
static int history_record(struct store *st, const char *user, const struct bus_event *ev,
                          const json_t *payload)
{
    char *detail = jx_dump(payload);
    if (!detail)
        return RC_NOMEM;
    int rc = store_exec(st,
                        "INSERT INTO timeline (user_id, event_type, event_id, occurred_at, detail)"
                        " VALUES ($1, $2, $3, $4, $5)",
                        STORE_ARGS(STORE_TEXT(user), STORE_TEXT(ev->type), STORE_TEXT(ev->id),
                                   STORE_INT(ev->timestamp_ms), STORE_TEXT(detail)),
                        NULL, NULL, NULL);
    mem_free(detail);
    return rc;
}

static int history_on_joined(void *ctx, struct store *st, const struct bus_event *ev,
                             const json_t *payload)
{
    (void)ctx;
    struct jx_reader r;
    jx_reader_init(&r, payload);
    const char *user = jx_str(&r, "userId", JX_REQUIRED, 64);
    if (r.rc)
        return RC_BAD_EVENT;
    int rc = store_exec(st,
                        "INSERT INTO user_summaries (user_id, status, my_point, updated_at)"
                        " VALUES ($1, 'joined', 0, $2) ON CONFLICT (user_id) DO UPDATE"
                        " SET status = 'joined', updated_at = excluded.updated_at",
                        STORE_ARGS(STORE_TEXT(user), STORE_INT(clock_wall_ms())), NULL, NULL, NULL);
    return rc == RC_OK ? history_record(st, user, ev, payload) : rc;
}

struct history_page {
    json_t *items;
};

static int history_take_summary(void *ud, const struct store_row *row)
{
    struct history_page *p = ud;
    char href[96];
    snprintf(href, sizeof href, "/histories/%s", row->cols[0].s);
    json_t *item = json_pack("{s:s, s:s, s:I, s:{s:{s:s}}}", "userId", row->cols[0].s, "status",
                             row->cols[1].s, "myPoint", (json_int_t)row->cols[2].i, "_links",
                             "self", "href", href);
    return item && json_array_append_new(p->items, item) == 0 ? 0 : RC_NOMEM;
}

static int history_handle_histories_get(struct http_req *req)
{
    const char *user = http_req_query(req, "userId");
    struct history_page page = {.items = json_array()};
    if (!page.items)
        return RC_NOMEM;
    int rc = store_exec(service_store(req),
                        "SELECT user_id, status, my_point FROM user_summaries"
                        " WHERE ($1 IS NULL OR user_id = $1) ORDER BY user_id",
                        STORE_ARGS(STORE_TEXT_OR_NULL(user)), history_take_summary, &page, NULL);
    if (rc != RC_OK) {
        json_decref(page.items);
        return rc;
    }
    size_t total = json_array_size(page.items);
    json_t *body = json_pack("{s:{s:o}, s:{s:{s:s}}, s:{s:I, s:I, s:I, s:I}}", "_embedded",
                             "histories", page.items, "_links", "self", "href", "/histories",
                             "page", "size", (json_int_t)total, "totalElements", (json_int_t)total,
                             "totalPages", (json_int_t)1, "number", (json_int_t)0);
    return http_reply_json(req, 200, body, "application/hal+json");
}

static const struct http_route history_routes[] = {
    {"GET", "/histories", history_handle_histories_get},
};

static const struct inbox_handler history_handlers[] = {
    {"Joined", history_on_joined},
};

const struct service_def history_service = {
    .name = "history",
    .port_setting = CONFIG_HISTORY_PORT,
    .migrations = history_schema,
    .nmigrations = ARRAY_LEN(history_schema),
    .routes = history_routes,
    .nroutes = ARRAY_LEN(history_routes),
    .handlers = history_handlers,
    .nhandlers = ARRAY_LEN(history_handlers),
};
