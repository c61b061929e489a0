/* HTTP routes of the history service: summaries and timelines, read from
 * wherever the view lives (history_view). */
#include <stdio.h>

#include "core/auth/policy.h"
#include "core/base/rc.h"
#include "domain/access.h"
#include "domain/users.h"
#include "svc/history/history.h"

#define HISTORY_RECENT 50 /* timeline entries embedded in a user's history */

static int history_handle_histories_get(struct http_req *req)
{
    struct service_ctx *ctx = http_req_ctx(req);
    const char *user;
    int rc = domain_listing_user(req, &user);
    if (rc != RC_OK)
        return rc;
    struct hal_page page;
    json_t *body = NULL;
    rc = hal_page_parse(req, &page);
    if (rc == RC_OK)
        rc = history_view(ctx)->summaries(ctx, user, &page, &body);
    return rc == RC_OK ? http_reply_json(req, 200, body, "application/hal+json") : rc;
}

static int history_user_get(struct http_req *req)
{
    struct service_ctx *ctx = http_req_ctx(req);
    const struct history_view_ops *view = history_view(ctx);
    const char *user = http_req_param(req, "userId");
    json_t *summary = NULL, *timeline = NULL;
    int rc = view->summary(ctx, user, &summary);
    if (rc != RC_OK)
        return rc;
    if (!summary)
        return service_unseen(req, RC_UNKNOWN_USER, "no history for user '%.64s'", user);
    struct hal_page recent = {.number = 0, .size = HISTORY_RECENT};
    if ((rc = view->timeline(ctx, user, &recent, &timeline)) != RC_OK) {
        json_decref(summary);
        return rc;
    }
    json_object_set(summary, "_embedded", json_object_get(timeline, "_embedded"));
    json_object_set_new(json_object_get(summary, "_links"), "timeline",
                        json_pack("{s:s++}", "href", "/histories/", user, "/timeline"));
    json_decref(timeline);
    return http_reply_json(req, 200, summary, "application/hal+json");
}

/* A user who just joined has a history as soon as the view caught up. */
static int history_handle_history_get(struct http_req *req)
{
    return service_read(req, history_user_get);
}

static int history_handle_timeline_get(struct http_req *req)
{
    struct service_ctx *ctx = http_req_ctx(req);
    const char *user = http_req_param(req, "userId");
    if (!domain_id_is_valid(user))
        return http_fail(req, RC_INVALID, "'%.64s' is not a valid user id", user);
    struct hal_page page;
    json_t *body = NULL;
    int rc = hal_page_parse(req, &page);
    if (rc == RC_OK)
        rc = history_view(ctx)->timeline(ctx, user, &page, &body);
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
    .access_rules = domain_access_rules,
    .handlers = history_handlers,
    .ext_open = history_redis_open,
    .ext_close = history_redis_close,
    .ext_name = "view",
    .ext_is_ready = history_redis_is_ready,
};
