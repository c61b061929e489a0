/* HTTP routes of the webtoon service. */
#include <stdio.h>
#include <string.h>

#include "core/auth/policy.h"
#include "core/base/rc.h"
#include "domain/access.h"
#include "domain/users.h"
#include "core/http/cache.h"
#include "core/json/jx.h"
#include "core/service/command.h"
#include "svc/webtoon/webtoon.h"

static int webtoon_upload(struct http_req *req, struct store *st, const json_t *body,
                          struct service_reply *reply)
{
    struct webtoon_item w = {0};
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "webtoonId", "title", "author", "point", "episode", "status", (const char *)NULL);
    const char *id = jx_id(&r, "webtoonId", JX_REQUIRED, DOMAIN_ID_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    char detail[256];
    int rc = webtoon_read_fields(body, false, &w, detail, sizeof detail);
    if (rc != RC_OK)
        return http_fail(req, rc, "%s", detail);
    snprintf(w.webtoon_id, sizeof w.webtoon_id, "%s", id);
    bool created = false;
    if ((rc = webtoon_store_insert(st, &w, &created)) != RC_OK)
        return rc;
    if (!created)
        return http_fail(req, RC_ALREADY_EXISTS, "webtoon '%s' already exists; update it instead",
                         id);
    if ((rc = webtoon_emit_item(st, &w, EV_UPLOADED)) != RC_OK)
        return rc;
    reply->status = 201;
    reply->body = webtoon_json(&w);
    snprintf(reply->location, sizeof reply->location, "/webtoons/%s", id);
    return RC_OK;
}

static int webtoon_handle_webtoons_post(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, webtoon_upload);
}

static int webtoon_update(struct http_req *req, struct store *st, const json_t *body,
                          struct service_reply *reply)
{
    const char *id = http_req_param(req, "id");
    struct webtoon_item w;
    int rc = webtoon_store_get(st, id, &w);
    if (rc != RC_OK)
        return rc;
    if (!w.found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    /* The path names the webtoon; its id is not a field to send again. */
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "title", "author", "point", "episode", "status", (const char *)NULL);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    char detail[256];
    bool partial = !strcmp(http_req_method(req), "PATCH");
    if ((rc = webtoon_read_fields(body, partial, &w, detail, sizeof detail)) != RC_OK)
        return http_fail(req, rc, "%s", detail);
    if ((rc = webtoon_store_update(st, &w)) != RC_OK ||
        (rc = webtoon_emit_item(st, &w, EV_UPDATED)) != RC_OK)
        return rc;
    reply->status = 200;
    reply->body = webtoon_json(&w);
    return RC_OK;
}

static int webtoon_handle_webtoon_update(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, webtoon_update);
}

/* Records the outcome of an open as an event: reads feed the history, and
 * the purchase service learns that a bought episode can no longer be
 * cancelled. */
static int webtoon_emit_open(struct store *st, const char *user, const struct webtoon_item *w,
                             const char *type, const char *purchase, const char *reason)
{
    json_t *fields = json_pack("{s:s, s:s, s:I, s:b}", "userId", user, "webtoonId", w->webtoon_id,
                               "point", (json_int_t)w->point, "free", w->point == 0);
    if (fields && purchase)
        json_object_set_new(fields, "purchaseId", json_string(purchase));
    if (fields && reason)
        json_object_set_new(fields, "reason", json_string(reason));
    return webtoon_emit(st, user, type, fields);
}

static int webtoon_open(struct http_req *req, struct store *st, const json_t *body,
                        struct service_reply *reply)
{
    const char *id = http_req_param(req, "id");
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "userId", (const char *)NULL);
    const char *named = jx_id(&r, "userId", JX_OPTIONAL, DOMAIN_ID_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    const char *user;
    struct webtoon_item w;
    struct webtoon_ownership own;
    int rc = auth_actor(req, named, &user);
    if (rc != RC_OK || (rc = webtoon_store_get(st, id, &w)) != RC_OK)
        return rc;
    if (!w.found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    if ((rc = domain_users_require_active(req, st, user)) != RC_OK ||
        (rc = webtoon_store_ownership(st, user, id, &own)) != RC_OK)
        return rc;
    switch (webtoon_decide_open(&w, own.found)) {
    case WEBTOON_OPEN_HIDDEN:
        return http_fail(req, RC_INVALID_STATE, "webtoon '%s' is not published", id);
    case WEBTOON_OPEN_NOT_OWNED: {
        /* Refused, and recorded: the history shows the attempt. */
        char detail[160];
        snprintf(detail, sizeof detail, "buy '%s' for %lld points to read it", id,
                 (long long)w.point);
        if ((rc = webtoon_emit_open(st, user, &w, EV_OPEN_REJECTED, NULL, "not owned")) != RC_OK)
            return rc;
        reply->status = 403;
        reply->content_type = "application/problem+json";
        reply->body = http_problem_new(req, RC_NOT_OWNED, detail);
        return RC_OK;
    }
    case WEBTOON_OPEN_FREE:
        rc = webtoon_emit_open(st, user, &w, EV_OPEN_APPROVED, NULL, NULL);
        break;
    case WEBTOON_OPEN_OWNED:
        rc = webtoon_store_mark_read(st, user, id);
        if (rc == RC_OK)
            rc = webtoon_emit_open(st, user, &w, EV_OPEN_APPROVED, own.purchase_id, NULL);
        break;
    }
    if (rc != RC_OK)
        return rc;
    reply->status = 200;
    reply->content_type = "application/json";
    reply->body = json_pack("{s:s, s:s, s:s, s:b, s:s, s:I}", "userId", user, "webtoonId", id,
                            "result", "approved", "free", w.point == 0, "title", w.title, "episode",
                            (json_int_t)w.episode);
    if (reply->body && own.found)
        json_object_set_new(reply->body, "purchaseId", json_string(own.purchase_id));
    return RC_OK;
}

static int webtoon_handle_open_post(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, webtoon_open);
}

/*
 * Catalog reads (pages and items, the same for every caller) come from the
 * read cache while the catalog's version is the one they were made at.
 * Reads the version (before any catalog data) into <version>, or -1 when
 * there is none to cache under, and answers from the cache when it can:
 * then *<served>.
 */
static int webtoon_catalog_cached(struct http_req *req, const char *key, int64_t *version,
                                  bool *served)
{
    bool found;
    *served = false;
    int rc = webtoon_store_catalog_version(service_store(req), version, &found);
    if (rc != RC_OK)
        return rc;
    if (!found)
        *version = -1;
    else
        *served = http_cache_serve(req, key, *version);
    return RC_OK;
}

/* Answers with the catalog representation <body> (stolen), kept in the
 * read cache under <key> at <version> (see webtoon_catalog_cached). */
static int webtoon_catalog_reply(struct http_req *req, const char *key, int64_t version,
                                 json_t *body)
{
    if (version < 0)
        return http_reply_json_validated(req, body, "application/hal+json", HTTP_REVALIDATE);
    return http_cache_reply_json(req, key, version, body, "application/hal+json");
}

static int webtoon_handle_webtoon_get(struct http_req *req)
{
    const char *id = http_req_param(req, "id"), *key = http_req_path(req);
    int64_t version;
    bool served;
    struct webtoon_item w;
    int rc = webtoon_catalog_cached(req, key, &version, &served);
    if (rc != RC_OK || served)
        return rc;
    if ((rc = webtoon_store_get(service_store(req), id, &w)) != RC_OK)
        return rc;
    if (!w.found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    return webtoon_catalog_reply(req, key, version, webtoon_json(&w));
}

static int webtoon_handle_webtoons_get(struct http_req *req)
{
    struct hal_page page;
    int rc = hal_page_parse(req, &page);
    if (rc != RC_OK)
        return rc;
    /* One entry per page, however the query spelled it ("?size=20" is page 0). */
    char key[64];
    snprintf(key, sizeof key, "/webtoons?page=%lld&size=%lld", (long long)page.number,
             (long long)page.size);
    int64_t version;
    bool served;
    if ((rc = webtoon_catalog_cached(req, key, &version, &served)) != RC_OK || served)
        return rc;
    json_t *body = NULL;
    rc = hal_query_collection(service_store(req), "SELECT COUNT(*) FROM webtoons",
                              "SELECT " WEBTOON_COLUMNS " FROM webtoons"
                              " ORDER BY created_at, webtoon_id LIMIT $1 OFFSET $2",
                              NULL, 0, webtoon_item_of_row, "webtoons", &page, "/webtoons", NULL,
                              &body);
    return rc == RC_OK ? webtoon_catalog_reply(req, key, version, body) : rc;
}

/* What an open would decide, without recording anything. */
static int webtoon_handle_reader_get(struct http_req *req)
{
    const char *id = http_req_param(req, "id"), *user = http_req_param(req, "userId");
    if (!domain_id_is_valid(user))
        return http_fail(req, RC_INVALID, "'%.64s' is not a valid user id", user);
    struct store *st = service_store(req);
    struct webtoon_item w;
    struct webtoon_ownership own;
    int rc = webtoon_store_get(st, id, &w);
    if (rc == RC_OK && w.found)
        rc = webtoon_store_ownership(st, user, id, &own);
    if (rc != RC_OK)
        return rc;
    if (!w.found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    return http_reply_json_validated(req,
                                     json_pack("{s:s, s:s, s:b, s:b, s:b}", "userId", user,
                                               "webtoonId", id, "owned", own.found, "read",
                                               own.read, "free", w.point == 0),
                                     NULL, HTTP_REVALIDATE_PRIVATE);
}

static int webtoon_handle_library_get(struct http_req *req)
{
    const char *user = http_req_param(req, "userId");
    if (!domain_id_is_valid(user))
        return http_fail(req, RC_INVALID, "'%.64s' is not a valid user id", user);
    json_t *owned = NULL;
    int rc = webtoon_store_library(service_store(req), user, &owned);
    if (rc != RC_OK)
        return rc;
    return http_reply_json_validated(
        req,
        hal_with_self(json_pack("{s:s, s:o}", "userId", user, "owned", owned), "/libraries/%s",
                      user),
        "application/hal+json", HTTP_REVALIDATE_PRIVATE);
}

static const struct http_route webtoon_routes[] = {
    {"POST", "/webtoons", webtoon_handle_webtoons_post},
    {"GET", "/webtoons", webtoon_handle_webtoons_get},
    {"GET", "/webtoons/{id}", webtoon_handle_webtoon_get},
    {"PATCH", "/webtoons/{id}", webtoon_handle_webtoon_update},
    {"PUT", "/webtoons/{id}", webtoon_handle_webtoon_update},
    {"POST", "/webtoons/{id}/open", webtoon_handle_open_post},
    {"GET", "/webtoons/{id}/readers/{userId}", webtoon_handle_reader_get},
    {"GET", "/libraries/{userId}", webtoon_handle_library_get},
    {0},
};

const struct service_def webtoon_service = {
    .name = "webtoon",
    .port_setting = CONFIG_WEBTOON_PORT,
    .schemas = webtoon_schemas,
    .routes = webtoon_routes,
    .access_rules = domain_access_rules,
    .handlers = webtoon_handlers,
};
