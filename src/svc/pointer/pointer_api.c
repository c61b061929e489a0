/* HTTP routes of the pointer service. */
#include <stdio.h>
#include <string.h>

#include "core/auth/policy.h"
#include "core/base/rc.h"
#include "domain/access.h"
#include "domain/listing.h"
#include "domain/users.h"
#include "core/json/jx.h"
#include "core/service/command.h"
#include "svc/pointer/pointer.h"

/* Publishes the state of <a> as event <type>. */
static int pointer_emit_state(struct store *st, const struct pointer_account *a, const char *type)
{
    return pointer_emit(st, a->user_id, type,
                        json_pack("{s:s, s:I, s:s}", "userId", a->user_id, "point",
                                  (json_int_t)a->point, "status",
                                  a->withdrawn ? "withdrawn" : "joined"));
}

static int pointer_join(struct http_req *req, struct store *st, const json_t *body,
                        struct service_reply *reply)
{
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "userId", (const char *)NULL);
    const char *named = jx_id(&r, "userId", JX_OPTIONAL, DOMAIN_ID_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    const char *user;
    int rc = auth_actor(req, named, &user); /* join creates the caller's own account */
    if (rc != RC_OK)
        return rc;
    bool created = false;
    rc = pointer_store_create(st, user, &created);
    if (rc != RC_OK)
        return rc;
    if (!created)
        return http_fail(req, RC_ALREADY_EXISTS, "user '%s' has already joined", user);
    struct pointer_account a = {.found = true, .point = 0};
    snprintf(a.user_id, sizeof a.user_id, "%s", user);
    if ((rc = pointer_emit_state(st, &a, EV_JOINED)) != RC_OK)
        return rc;
    reply->status = 201;
    reply->body = pointer_json(&a);
    snprintf(reply->location, sizeof reply->location, "/pointers/%s", user);
    return RC_OK;
}

static int pointer_handle_pointers_post(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, pointer_join);
}

static int pointer_withdraw(struct http_req *req, struct store *st, const json_t *body,
                            struct service_reply *reply)
{
    (void)body;
    const char *user = http_req_param(req, "id");
    struct pointer_account a;
    int rc = pointer_store_get(st, user, &a);
    if (rc != RC_OK)
        return rc;
    switch (pointer_check_withdraw(&a)) {
    case POINTER_UNKNOWN_USER:
        return http_fail(req, RC_UNKNOWN_USER, "no user '%.64s'", user);
    case POINTER_WITHDRAWN:
        return http_fail(req, RC_USER_WITHDRAWN, "user '%s' has already withdrawn", user);
    default:
        break;
    }
    if ((rc = pointer_store_withdraw(st, user)) != RC_OK)
        return rc;
    a.withdrawn = true;
    if ((rc = pointer_emit_state(st, &a, EV_WITHDRAWN)) != RC_OK)
        return rc;
    reply->status = 200;
    reply->body = pointer_json(&a);
    return RC_OK;
}

static int pointer_handle_withdraw_put(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_NONE, pointer_withdraw);
}

static int pointer_handle_pointer_get(struct http_req *req)
{
    const char *user = http_req_param(req, "id");
    struct pointer_account a;
    int rc = pointer_store_get(service_store(req), user, &a);
    if (rc != RC_OK)
        return rc;
    if (!a.found)
        return http_fail(req, RC_UNKNOWN_USER, "no user '%.64s'", user);
    return http_reply_json(req, 200, pointer_json(&a), "application/hal+json");
}

static int pointer_handle_pointers_get(struct http_req *req)
{
    return domain_listing_reply(
        req, service_store(req),
        "SELECT COUNT(*) FROM pointers WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1)",
        "SELECT user_id, point, status FROM pointers"
        " WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1)"
        " ORDER BY created_at, user_id LIMIT $2 OFFSET $3",
        pointer_item, "pointers", "/pointers");
}

static const struct http_route pointer_routes[] = {
    {"POST", "/pointers", pointer_handle_pointers_post},
    {"GET", "/pointers", pointer_handle_pointers_get},
    {"GET", "/pointers/{id}", pointer_handle_pointer_get},
    {"PUT", "/pointers/{id}/withdraw", pointer_handle_withdraw_put},
    {0},
};

const struct service_def pointer_service = {
    .name = "pointer",
    .port_setting = CONFIG_POINTER_PORT,
    .schemas = pointer_schemas,
    .routes = pointer_routes,
    .access_rules = domain_access_rules,
    .handlers = pointer_handlers,
    .sweep = pointer_sweep,
};
