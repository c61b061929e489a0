/* HTTP routes of the history service: summaries and timelines. */
#include <stdio.h>

#include "core/base/rc.h"
#include "core/domain/users.h"
#include "svc/history/history.h"

#define HISTORY_RECENT 50 /* timeline entries embedded in a user's history */

static int history_handle_histories_get(struct http_req *req)
{
    return hal_reply_user_collection(
        req, service_store(req),
        "SELECT COUNT(*) FROM user_summaries WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1)",
        "SELECT " HISTORY_SUMMARY_COLUMNS " FROM user_summaries"
        " WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) ORDER BY user_id LIMIT $2 OFFSET $3",
        history_summary_item, "histories", "/histories");
}

/* One page of <user>'s timeline, newest first, as a collection in <out>. */
static int history_timeline(struct store *st, const char *user, const struct hal_page *page,
                            json_t **out)
{
    char path[128];
    snprintf(path, sizeof path, "/histories/%s/timeline", user);
    return hal_query_collection(st, "SELECT COUNT(*) FROM timeline WHERE user_id = $1",
                                "SELECT " HISTORY_ENTRY_COLUMNS " FROM timeline WHERE user_id = $1"
                                " ORDER BY entry_id DESC LIMIT $2 OFFSET $3",
                                STORE_ARGS(STORE_TEXT(user)), history_entry_item, "timeline", page,
                                path, NULL, out);
}

struct history_one {
    json_t *summary;
};

static int history_take_summary(void *ud, const struct store_row *row)
{
    struct history_one *h = ud;
    h->summary = history_summary_item(row);
    return h->summary ? 0 : RC_NOMEM;
}

static int history_handle_history_get(struct http_req *req)
{
    const char *user = http_req_param(req, "userId");
    struct store *st = service_store(req);
    struct history_one h = {0};
    int rc =
        store_exec(st, "SELECT " HISTORY_SUMMARY_COLUMNS " FROM user_summaries WHERE user_id = $1",
                   STORE_ARGS(STORE_TEXT(user)), history_take_summary, &h, NULL);
    if (rc != RC_OK)
        return rc;
    if (!h.summary) {
        http_reply_header(req, "Retry-After", "1");
        return http_fail(req, RC_UNKNOWN_USER, "no history for user '%.64s' (yet)", user);
    }
    struct hal_page recent = {.number = 0, .size = HISTORY_RECENT};
    json_t *timeline = NULL;
    if ((rc = history_timeline(st, user, &recent, &timeline)) != RC_OK) {
        json_decref(h.summary);
        return rc;
    }
    json_object_set(h.summary, "_embedded", json_object_get(timeline, "_embedded"));
    json_object_set_new(json_object_get(h.summary, "_links"), "timeline",
                        json_pack("{s:s++}", "href", "/histories/", user, "/timeline"));
    json_decref(timeline);
    return http_reply_json(req, 200, h.summary, "application/hal+json");
}

static int history_handle_timeline_get(struct http_req *req)
{
    struct hal_page page;
    json_t *body = NULL;
    int rc = hal_page_parse(req, &page);
    if (rc == RC_OK)
        rc = history_timeline(service_store(req), http_req_param(req, "userId"), &page, &body);
    return rc == RC_OK ? http_reply_json(req, 200, body, "application/hal+json") : rc;
}

static const struct http_route history_routes[] = {
    {"GET", "/histories", history_handle_histories_get},
    {"GET", "/histories/{userId}", history_handle_history_get},
    {"GET", "/histories/{userId}/timeline", history_handle_timeline_get},
    {0},
};

const struct service_def history_service = {
    .name = "history",
    .port_setting = CONFIG_HISTORY_PORT,
    .schemas = history_schemas,
    .routes = history_routes,
    .handlers = history_handlers,
};
