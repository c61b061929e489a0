/* HTTP routes of the history service: summaries and timelines. */
#include <stdio.h>

#include "core/base/rc.h"
#include "core/domain/users.h"
#include "svc/history/history.h"

#define HISTORY_RECENT 50 /* timeline entries embedded in a user's history */

static int history_handle_histories_get(struct http_req *req)
{
    struct hal_page page;
    const char *user = http_req_query(req, "userId");
    char query[96] = "";
    if (user && !domain_id_is_valid(user))
        return http_fail(req, RC_INVALID, "query parameter 'userId' is not a valid user id");
    if (user)
        snprintf(query, sizeof query, "userId=%s", user);
    json_t *body = NULL;
    int rc = hal_page_parse(req, &page);
    if (rc == RC_OK)
        rc = hal_query_collection(
            service_store(req),
            "SELECT COUNT(*) FROM user_summaries WHERE ($1 IS NULL OR user_id = $1)",
            "SELECT " HISTORY_SUMMARY_COLUMNS " FROM user_summaries"
            " WHERE ($1 IS NULL OR user_id = $1) ORDER BY user_id LIMIT $2 OFFSET $3",
            STORE_ARGS(STORE_TEXT_OR_NULL(user)), history_summary_item, "histories", &page,
            "/histories", user ? query : NULL, &body);
    return rc == RC_OK ? http_reply_json(req, 200, body, "application/hal+json") : rc;
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
    char path[128];
    snprintf(path, sizeof path, "/histories/%s/timeline", user);
    json_t *timeline = NULL;
    rc = hal_query_collection(st, "SELECT COUNT(*) FROM timeline WHERE user_id = $1",
                              "SELECT " HISTORY_ENTRY_COLUMNS " FROM timeline WHERE user_id = $1"
                              " ORDER BY entry_id DESC LIMIT $2 OFFSET $3",
                              STORE_ARGS(STORE_TEXT(user)), history_entry_item, "timeline", &recent,
                              path, NULL, &timeline);
    if (rc != RC_OK) {
        json_decref(h.summary);
        return rc;
    }
    json_object_set(h.summary, "_embedded", json_object_get(timeline, "_embedded"));
    json_object_set_new(json_object_get(h.summary, "_links"), "timeline",
                        json_pack("{s:s}", "href", path));
    json_decref(timeline);
    return http_reply_json(req, 200, h.summary, "application/hal+json");
}

static int history_handle_timeline_get(struct http_req *req)
{
    const char *user = http_req_param(req, "userId");
    struct hal_page page;
    char path[128];
    snprintf(path, sizeof path, "/histories/%s/timeline", user);
    json_t *body = NULL;
    int rc = hal_page_parse(req, &page);
    if (rc == RC_OK)
        rc = hal_query_collection(
            service_store(req), "SELECT COUNT(*) FROM timeline WHERE user_id = $1",
            "SELECT " HISTORY_ENTRY_COLUMNS " FROM timeline WHERE user_id = $1"
            " ORDER BY entry_id DESC LIMIT $2 OFFSET $3",
            STORE_ARGS(STORE_TEXT(user)), history_entry_item, "timeline", &page, path, NULL, &body);
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
