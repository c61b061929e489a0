/* HTTP routes of the purchase service. */
#include <stdio.h>
#include <string.h>

#include "core/auth/policy.h"
#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/rc.h"
#include "domain/access.h"
#include "domain/listing.h"
#include "domain/users.h"
#include "core/json/jx.h"
#include "core/service/command.h"
#include "svc/purchase/purchase.h"

static int purchase_buy(struct http_req *req, struct store *st, const json_t *body,
                        struct service_reply *reply)
{
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "userId", "webtoonId", (const char *)NULL);
    const char *named = jx_id(&r, "userId", JX_OPTIONAL, DOMAIN_ID_MAX);
    const char *webtoon = jx_id(&r, "webtoonId", JX_REQUIRED, DOMAIN_ID_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    const char *user;
    int rc = auth_actor(req, named, &user);
    if (rc != RC_OK || (rc = domain_users_require_active(req, st, user)) != RC_OK)
        return rc;
    struct purchase_catalog_entry c;
    if ((rc = purchase_store_catalog_get(st, webtoon, &c)) != RC_OK)
        return rc;
    if (!c.found)
        return service_unseen(req, RC_NOT_FOUND, "no webtoon '%s' in the catalog", webtoon);
    if (!c.published)
        return http_fail(req, RC_INVALID_STATE, "webtoon '%s' is not on sale", webtoon);
    if (c.point == 0)
        return http_fail(req, RC_INVALID_STATE, "webtoon '%s' is free: open it, no need to buy",
                         webtoon);

    struct purchase_record p = {
        .found = true, .point = c.point, .my_point = -1, .created_at = clock_wall_ms()};
    id_uuid7(p.purchase_id);
    snprintf(p.user_id, sizeof p.user_id, "%s", user);
    snprintf(p.webtoon_id, sizeof p.webtoon_id, "%s", webtoon);
    snprintf(p.status, sizeof p.status, "pending");
    rc = purchase_store_insert(st, &p);
    if (rc == RC_CONFLICT)
        return http_fail(req, RC_ALREADY_EXISTS, "user '%s' already owns or is buying webtoon '%s'",
                         user, webtoon);
    if (rc != RC_OK || (rc = purchase_emit(st, &p, EV_BUY_COMPLETE, NULL)) != RC_OK)
        return rc;
    reply->status = 202;
    reply->body = purchase_json(&p);
    snprintf(reply->location, sizeof reply->location, "/purchases/%s", p.purchase_id);
    return RC_OK;
}

static int purchase_handle_purchases_post(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, purchase_buy);
}

static int purchase_cancel(struct http_req *req, struct store *st, const json_t *body,
                           struct service_reply *reply)
{
    (void)body;
    const char *id = http_req_param(req, "id");
    struct purchase_record p;
    int rc = purchase_store_get(st, id, &p);
    if (rc != RC_OK)
        return rc;
    if (!p.found)
        return http_fail(req, RC_NOT_FOUND, "no purchase '%.64s'", id);
    if ((rc = auth_may_act_on(req, p.user_id)) != RC_OK)
        return rc;
    if (p.read)
        return http_fail(req, RC_INVALID_STATE,
                         "the episode was already read, so the purchase cannot be cancelled");
    const char *next = purchase_next(p.status, PURCHASE_CANCEL);
    if (!next)
        return http_fail(req, RC_INVALID_STATE, "a %s purchase cannot be cancelled", p.status);
    bool changed;
    id_uuid7(p.cancel_id);
    if ((rc = purchase_store_start_cancel(st, id, p.cancel_id, &changed)) != RC_OK)
        return rc;
    if (!changed)
        return RC_RETRY; /* a concurrent command moved it: decide again */
    snprintf(p.status, sizeof p.status, "%s", next);
    *p.cancel_error = '\0';
    if ((rc = purchase_emit(st, &p, EV_CANCEL_REQUESTED, NULL)) != RC_OK)
        return rc;
    reply->status = 202;
    reply->body = purchase_json(&p);
    return RC_OK;
}

static int purchase_handle_cancel_put(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_NONE, purchase_cancel);
}

static int purchase_handle_purchase_get(struct http_req *req)
{
    const char *id = http_req_param(req, "id");
    struct purchase_record p;
    int rc = purchase_store_get(service_store(req), id, &p);
    if (rc != RC_OK)
        return rc;
    if (!p.found)
        return http_fail(req, RC_NOT_FOUND, "no purchase '%.64s'", id);
    if ((rc = auth_may_read(req, p.user_id)) != RC_OK)
        return rc;
    return http_reply_json(req, 200, purchase_json(&p), "application/hal+json");
}

static int purchase_handle_purchases_get(struct http_req *req)
{
    return domain_listing_reply(
        req, service_store(req),
        "SELECT COUNT(*) FROM purchases WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1)",
        "SELECT " PURCHASE_COLUMNS
        " FROM purchases WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1)"
        " ORDER BY created_at DESC, purchase_id LIMIT $2 OFFSET $3",
        purchase_item, "purchases", "/purchases");
}

static const struct http_route purchase_routes[] = {
    {"POST", "/purchases", purchase_handle_purchases_post},
    {"POST", "/purchases/buywebtoon", purchase_handle_purchases_post},
    {"GET", "/purchases", purchase_handle_purchases_get},
    {"GET", "/purchases/{id}", purchase_handle_purchase_get},
    {"PUT", "/purchases/{id}/cancel", purchase_handle_cancel_put},
    {0},
};

const struct service_def purchase_service = {
    .name = "purchase",
    .port_setting = CONFIG_PURCHASE_PORT,
    .schemas = purchase_schemas,
    .routes = purchase_routes,
    .access_rules = domain_access_rules,
    .handlers = purchase_handlers,
    .sweep = purchase_sweep,
};
