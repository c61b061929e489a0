/* HTTP routes of the webtoon service. */
#include <stdio.h>
#include <string.h>

#include "core/auth/policy.h"
#include "core/base/clock.h"
#include "core/base/rc.h"
#include "domain/access.h"
#include "domain/users.h"
#include "core/http/cache.h"
#include "core/json/jx.h"
#include "core/service/command.h"
#include "svc/webtoon/webtoon.h"

/*
 * Makes sure the series <w> goes into exists. One the request named must;
 * one taken from the episode's id (<derived>) is made on the fly from the
 * episode's title and author, as the original API had no series.
 */
static int webtoon_require_series(struct http_req *req, struct store *st,
                                  const struct webtoon_item *w, bool derived)
{
    struct webtoon_series s;
    int rc = webtoon_store_series_get(st, w->series_id, clock_business_ms(), &s);
    if (rc != RC_OK || s.found)
        return rc;
    if (!derived)
        return http_fail(req, RC_NOT_FOUND, "no series '%s'; create it with POST /series first",
                         w->series_id);
    s = (struct webtoon_series){
        .found = true, .created_at = clock_wall_ms(), .latest_episode_at = -1};
    snprintf(s.series_id, sizeof s.series_id, "%s", w->series_id);
    snprintf(s.title, sizeof s.title, "%s", w->title);
    snprintf(s.author, sizeof s.author, "%s", w->author);
    snprintf(s.status, sizeof s.status, "ongoing");
    bool created;
    if ((rc = webtoon_store_series_insert(st, &s, &created)) != RC_OK)
        return rc;
    return created ? webtoon_emit_series(st, &s, EV_SERIES_CREATED) : RC_OK;
}

static int webtoon_upload(struct http_req *req, struct store *st, const json_t *body,
                          struct service_reply *reply)
{
    struct webtoon_item w = {0};
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "webtoonId", "title", "author", "point", "episode", "status", "seriesId",
            "freeFrom", (const char *)NULL);
    const char *id = jx_id(&r, "webtoonId", JX_REQUIRED, DOMAIN_ID_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    char detail[256];
    int rc = webtoon_read_fields(body, false, &w, detail, sizeof detail);
    if (rc != RC_OK)
        return http_fail(req, rc, "%s", detail);
    snprintf(w.webtoon_id, sizeof w.webtoon_id, "%s", id);
    bool derived = !w.series_id[0];
    if (derived)
        webtoon_series_of_episode(id, w.series_id, sizeof w.series_id);
    bool created = false;
    if ((rc = webtoon_require_series(req, st, &w, derived)) != RC_OK ||
        (rc = webtoon_store_insert(st, &w, &created)) != RC_OK)
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
    jx_only(&r, "title", "author", "point", "episode", "status", "seriesId", "freeFrom",
            (const char *)NULL);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    char detail[256], series[sizeof w.series_id];
    snprintf(series, sizeof series, "%s", w.series_id);
    bool partial = !strcmp(http_req_method(req), "PATCH");
    if ((rc = webtoon_read_fields(body, partial, &w, detail, sizeof detail)) != RC_OK)
        return http_fail(req, rc, "%s", detail);
    if (strcmp(series, w.series_id) != 0 &&
        (rc = webtoon_require_series(req, st, &w, false)) != RC_OK)
        return rc;
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
                             const char *type, const char *purchase, const char *reason, bool free)
{
    json_t *fields = json_pack("{s:s, s:s, s:I, s:b}", "userId", user, "webtoonId", w->webtoon_id,
                               "point", (json_int_t)w->point, "free", free);
    if (fields && purchase)
        json_object_set_new(fields, "purchaseId", json_string(purchase));
    if (fields && reason)
        json_object_set_new(fields, "reason", json_string(reason));
    return webtoon_emit(st, user, type, fields);
}

/*
 * The reader of a command on the episode of the path (open, progress): the
 * signed-in user (<named>, when sent, must be them), active, into <user>;
 * the episode into <w>, their hold on it into <own>. 404 for an unknown
 * episode.
 */
static int webtoon_reader_of(struct http_req *req, struct store *st, const char *named,
                             const char **user, struct webtoon_item *w,
                             struct webtoon_ownership *own)
{
    const char *id = http_req_param(req, "id");
    int rc = auth_actor(req, named, user);
    if (rc != RC_OK || (rc = webtoon_store_get(st, id, w)) != RC_OK)
        return rc;
    if (!w->found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    if ((rc = domain_users_require_active(req, st, *user)) != RC_OK)
        return rc;
    return webtoon_store_ownership(st, *user, id, own);
}

/* Adds to an open's answer <body> where <user> stopped in <w> (when
 * anywhere) and the published episodes before and after it. */
static int webtoon_add_reading_place(struct store *st, const char *user,
                                     const struct webtoon_item *w, json_t *body)
{
    char prev[DOMAIN_ID_MAX + 1], next[DOMAIN_ID_MAX + 1];
    int64_t page, updated_at;
    int rc = webtoon_store_neighbours(st, w, prev, next);
    if (rc == RC_OK)
        rc = webtoon_store_progress_get(st, user, w->webtoon_id, &page, &updated_at);
    if (rc != RC_OK)
        return rc;
    if (prev[0])
        json_object_set_new(body, "previous", json_string(prev));
    if (next[0])
        json_object_set_new(body, "next", json_string(next));
    if (page > 0)
        json_object_set_new(body, "progress",
                            json_pack("{s:I, s:o}", "page", (json_int_t)page, "updatedAt",
                                      webtoon_time_json(updated_at)));
    return RC_OK;
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
    int64_t now = clock_business_ms();
    bool free = false;
    int rc = webtoon_reader_of(req, st, named, &user, &w, &own);
    if (rc != RC_OK)
        return rc;
    switch (webtoon_decide_open(&w, own.found, now)) {
    case WEBTOON_OPEN_HIDDEN:
        return http_fail(req, RC_INVALID_STATE, "webtoon '%s' is not published", id);
    case WEBTOON_OPEN_NOT_OWNED: {
        /* Refused, and recorded: the history shows the attempt. */
        char detail[160];
        snprintf(detail, sizeof detail, "buy '%s' for %lld points to read it", id,
                 (long long)w.point);
        if ((rc = webtoon_emit_open(st, user, &w, EV_OPEN_REJECTED, NULL, "not owned", false)) !=
            RC_OK)
            return rc;
        reply->status = 403;
        reply->content_type = "application/problem+json";
        reply->body = http_problem_new(req, RC_NOT_OWNED, detail);
        return RC_OK;
    }
    case WEBTOON_OPEN_FREE:
        free = true;
        rc = webtoon_emit_open(st, user, &w, EV_OPEN_APPROVED, NULL, NULL, true);
        break;
    case WEBTOON_OPEN_OWNED:
        rc = webtoon_store_mark_read(st, user, id);
        if (rc == RC_OK)
            rc = webtoon_emit_open(st, user, &w, EV_OPEN_APPROVED, own.purchase_id, NULL, false);
        break;
    }
    if (rc == RC_OK)
        rc = webtoon_store_count_popularity(st, w.series_id);
    if (rc != RC_OK)
        return rc;
    reply->status = 200;
    reply->content_type = "application/json";
    json_t *pages = NULL;
    if ((rc = webtoon_media_page_urls(req, st, &w, user, free, &pages)) != RC_OK)
        return rc;
    reply->body = json_pack("{s:s, s:s, s:s, s:b, s:s, s:I, s:s, s:o}", "userId", user, "webtoonId",
                            id, "result", "approved", "free", free, "title", w.title, "episode",
                            (json_int_t)w.episode, "seriesId", w.series_id, "pages", pages);
    if (reply->body && own.found)
        json_object_set_new(reply->body, "purchaseId", json_string(own.purchase_id));
    return reply->body ? webtoon_add_reading_place(st, user, &w, reply->body) : RC_NOMEM;
}

static int webtoon_handle_open_post(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, webtoon_open);
}

/* Records where the reader stopped in an episode they may open. */
static int webtoon_progress(struct http_req *req, struct store *st, const json_t *body,
                            struct service_reply *reply)
{
    const char *id = http_req_param(req, "id");
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "userId", "page", (const char *)NULL);
    const char *named = jx_id(&r, "userId", JX_OPTIONAL, DOMAIN_ID_MAX);
    int64_t page = jx_int(&r, "page", JX_REQUIRED, 1, WEBTOON_PAGE_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    const char *user;
    struct webtoon_item w;
    struct webtoon_ownership own;
    int rc = webtoon_reader_of(req, st, named, &user, &w, &own);
    if (rc != RC_OK)
        return rc;
    switch (webtoon_decide_open(&w, own.found, clock_business_ms())) {
    case WEBTOON_OPEN_HIDDEN:
        return http_fail(req, RC_INVALID_STATE, "webtoon '%s' is not published", id);
    case WEBTOON_OPEN_NOT_OWNED:
        return http_fail(req, RC_NOT_OWNED, "buy '%s' to read it", id);
    default:
        break;
    }
    if (w.pages > 0 && page > w.pages)
        return http_fail(req, RC_INVALID_STATE, "webtoon '%s' has %lld pages", id,
                         (long long)w.pages);
    int64_t at = clock_wall_ms();
    if ((rc = webtoon_store_progress_put(st, user, id, page, at)) != RC_OK)
        return rc;
    reply->status = 200;
    reply->content_type = "application/json";
    reply->body = json_pack("{s:s, s:I, s:o}", "webtoonId", id, "page", (json_int_t)page,
                            "updatedAt", webtoon_time_json(at));
    return RC_OK;
}

static int webtoon_handle_progress_put(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, webtoon_progress);
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
    return http_reply_json_validated(
        req,
        json_pack("{s:s, s:s, s:b, s:b, s:b}", "userId", user, "webtoonId", id, "owned", own.found,
                  "read", own.read, "free", webtoon_is_free_now(&w, clock_business_ms())),
        NULL, HTTP_REVALIDATE_PRIVATE);
}

static int webtoon_handle_library_get(struct http_req *req)
{
    const char *user = http_req_param(req, "userId");
    if (!domain_id_is_valid(user))
        return http_fail(req, RC_INVALID, "'%.64s' is not a valid user id", user);
    json_t *owned = NULL, *reading = NULL;
    int rc = webtoon_store_library(service_store(req), user, &owned);
    if (rc == RC_OK)
        rc = webtoon_store_continue_reading(service_store(req), user, &reading);
    if (rc != RC_OK) {
        json_decref(owned);
        return rc;
    }
    return http_reply_json_validated(
        req,
        hal_with_self(json_pack("{s:s, s:o, s:o}", "userId", user, "owned", owned,
                                "continueReading", reading),
                      "/libraries/%s", user),
        "application/hal+json", HTTP_REVALIDATE_PRIVATE);
}

/* --- series -------------------------------------------------------------------- */

static int webtoon_series_create(struct http_req *req, struct store *st, const json_t *body,
                                 struct service_reply *reply)
{
    struct webtoon_series s = {.found = true, .latest_episode_at = -1};
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "seriesId", "title", "author", "synopsis", "genres", "status", (const char *)NULL);
    const char *id = jx_id(&r, "seriesId", JX_REQUIRED, DOMAIN_ID_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    char detail[256];
    int rc = webtoon_read_series_fields(body, false, &s, detail, sizeof detail);
    if (rc != RC_OK)
        return http_fail(req, rc, "%s", detail);
    snprintf(s.series_id, sizeof s.series_id, "%s", id);
    s.created_at = clock_wall_ms();
    bool created = false;
    if ((rc = webtoon_store_series_insert(st, &s, &created)) != RC_OK)
        return rc;
    if (!created)
        return http_fail(req, RC_ALREADY_EXISTS, "series '%s' already exists; update it instead",
                         id);
    if ((rc = webtoon_emit_series(st, &s, EV_SERIES_CREATED)) != RC_OK)
        return rc;
    reply->status = 201;
    reply->body = webtoon_series_json(&s);
    snprintf(reply->location, sizeof reply->location, "/series/%s", id);
    return RC_OK;
}

static int webtoon_handle_series_post(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, webtoon_series_create);
}

static int webtoon_series_update(struct http_req *req, struct store *st, const json_t *body,
                                 struct service_reply *reply)
{
    const char *id = http_req_param(req, "id");
    struct webtoon_series s;
    int rc = webtoon_store_series_get(st, id, clock_business_ms(), &s);
    if (rc != RC_OK)
        return rc;
    if (!s.found)
        return http_fail(req, RC_NOT_FOUND, "no series '%.64s'", id);
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "title", "author", "synopsis", "genres", "status", (const char *)NULL);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    char detail[256];
    bool partial = !strcmp(http_req_method(req), "PATCH");
    if ((rc = webtoon_read_series_fields(body, partial, &s, detail, sizeof detail)) != RC_OK)
        return http_fail(req, rc, "%s", detail);
    if ((rc = webtoon_store_series_update(st, &s)) != RC_OK ||
        (rc = webtoon_emit_series(st, &s, EV_SERIES_UPDATED)) != RC_OK)
        return rc;
    reply->status = 200;
    reply->body = webtoon_series_json(&s);
    return RC_OK;
}

static int webtoon_handle_series_update(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, webtoon_series_update);
}

/*
 * Series reads also depend on the time (an episode becoming free) and on
 * popularity, which reads and purchases change without a catalog write:
 * their cache key carries both (webtoon_store_series_freshness) after
 * <path>, into <key>.
 */
static int webtoon_series_key(struct http_req *req, const char *path, int64_t now, char *key,
                              size_t len)
{
    char fresh[64];
    int rc = webtoon_store_series_freshness(service_store(req), now, fresh, sizeof fresh);
    snprintf(key, len, "%s#%s", path, fresh);
    return rc;
}

static int webtoon_handle_series_get(struct http_req *req)
{
    const char *id = http_req_param(req, "id");
    int64_t now = clock_business_ms(), version;
    char key[256];
    bool served;
    struct webtoon_series s;
    int rc = webtoon_series_key(req, http_req_path(req), now, key, sizeof key);
    if (rc != RC_OK || (rc = webtoon_catalog_cached(req, key, &version, &served)) != RC_OK ||
        served)
        return rc;
    if ((rc = webtoon_store_series_get(service_store(req), id, now, &s)) != RC_OK)
        return rc;
    if (!s.found)
        return http_fail(req, RC_NOT_FOUND, "no series '%.64s'", id);
    return webtoon_catalog_reply(req, key, version, webtoon_series_json(&s));
}

/* Reads ?<name>= into <out> when <valid> says it is one; NULL when absent. */
static int webtoon_query_choice(struct http_req *req, const char *name, bool (*valid)(const char *),
                                const char *choices, const char **out)
{
    *out = http_req_query(req, name);
    if (*out && !valid(*out))
        return http_fail(req, RC_INVALID, "query parameter '%s' must be one of %s", name, choices);
    return RC_OK;
}

static bool webtoon_sort_is_valid(const char *sort)
{
    return !strcmp(sort, "new") || !strcmp(sort, "popular") || !strcmp(sort, "title");
}

static int webtoon_handle_series_list(struct http_req *req)
{
    struct hal_page page;
    const char *q = http_req_query(req, "q"), *genre, *status, *sort;
    int rc = hal_page_parse(req, &page);
    if (rc == RC_OK)
        rc = webtoon_query_choice(req, "genre", webtoon_genre_is_valid,
                                  "action, comedy, drama, fantasy, horror, romance, sci-fi, "
                                  "slice-of-life, sports, thriller",
                                  &genre);
    if (rc == RC_OK)
        rc = webtoon_query_choice(req, "status", webtoon_series_status_is_valid,
                                  "ongoing, completed, hiatus", &status);
    if (rc == RC_OK)
        rc = webtoon_query_choice(req, "sort", webtoon_sort_is_valid, "new, popular, title", &sort);
    if (rc != RC_OK)
        return rc;
    struct webtoon_search search;
    webtoon_search_parse(q, &search);
    char match[WEBTOON_QUERY_WORDS * (WEBTOON_QUERY_WORD_MAX + 8) + 1];
    char words[WEBTOON_QUERY_WORDS * (WEBTOON_QUERY_WORD_MAX * 3 + 3) + 1];
    webtoon_search_expr(&search, store_is_postgres(service_store(req)), match, sizeof match);
    webtoon_search_param(&search, words, sizeof words);
    /* One normalized query for the links and the cache key. */
    char query[sizeof words + 96], path[sizeof query + 64], key[sizeof path + 80];
    snprintf(query, sizeof query, "%s%s%s%s%s%ssort=%s", search.n ? "q=" : "", words,
             search.n ? "&" : "", genre ? "genre=" : "", genre ? genre : "", genre ? "&" : "",
             sort ? sort : "new");
    if (status) {
        size_t used = strlen(query);
        snprintf(query + used, sizeof query - used, "&status=%s", status);
    }
    snprintf(path, sizeof path, "/series?%s&page=%lld&size=%lld", query, (long long)page.number,
             (long long)page.size);
    struct webtoon_series_filter f = {.match = search.n ? match : NULL,
                                      .genre = genre,
                                      .status = status,
                                      .sort = sort ? sort : "new",
                                      .query = query,
                                      .now = clock_business_ms()};
    int64_t version;
    bool served;
    if ((rc = webtoon_series_key(req, path, f.now, key, sizeof key)) != RC_OK ||
        (rc = webtoon_catalog_cached(req, key, &version, &served)) != RC_OK || served)
        return rc;
    json_t *body = NULL;
    rc = webtoon_store_series_page(service_store(req), &f, &page, &body);
    return rc == RC_OK ? webtoon_catalog_reply(req, key, version, body) : rc;
}

static int webtoon_handle_series_episodes_get(struct http_req *req)
{
    const char *id = http_req_param(req, "id");
    const struct auth_identity *caller = auth_caller(req);
    bool admin = caller && caller->admin;
    struct hal_page page;
    int rc = hal_page_parse(req, &page);
    if (rc != RC_OK)
        return rc;
    char key[160];
    snprintf(key, sizeof key, "/series/%s/episodes?page=%lld&size=%lld", id, (long long)page.number,
             (long long)page.size);
    /* Admins see hidden episodes too: their answers are not shared. */
    int64_t version = -1;
    bool served = false;
    if (!admin && ((rc = webtoon_catalog_cached(req, key, &version, &served)) != RC_OK || served))
        return rc;
    struct webtoon_series s;
    struct store *st = service_store(req);
    if ((rc = webtoon_store_series_get(st, id, 0, &s)) != RC_OK)
        return rc;
    if (!s.found)
        return http_fail(req, RC_NOT_FOUND, "no series '%.64s'", id);
    json_t *body = NULL;
    if ((rc = webtoon_store_episodes_page(st, id, admin, &page, &body)) != RC_OK)
        return rc;
    if (admin)
        return http_reply_json_validated(req, body, "application/hal+json",
                                         HTTP_REVALIDATE_PRIVATE);
    return webtoon_catalog_reply(req, key, version, body);
}

static const struct http_route webtoon_routes[] = {
    {"POST", "/webtoons", webtoon_handle_webtoons_post},
    {"GET", "/webtoons", webtoon_handle_webtoons_get},
    {"GET", "/webtoons/{id}", webtoon_handle_webtoon_get},
    {"PATCH", "/webtoons/{id}", webtoon_handle_webtoon_update},
    {"PUT", "/webtoons/{id}", webtoon_handle_webtoon_update},
    {"POST", "/webtoons/{id}/open", webtoon_handle_open_post},
    {"GET", "/webtoons/{id}/readers/{userId}", webtoon_handle_reader_get},
    {"PUT", "/webtoons/{id}/progress", webtoon_handle_progress_put},
    {"GET", "/libraries/{userId}", webtoon_handle_library_get},
    {"POST", "/series", webtoon_handle_series_post},
    {"GET", "/series", webtoon_handle_series_list},
    {"GET", "/series/{id}", webtoon_handle_series_get},
    {"PATCH", "/series/{id}", webtoon_handle_series_update},
    {"PUT", "/series/{id}", webtoon_handle_series_update},
    {"GET", "/series/{id}/episodes", webtoon_handle_series_episodes_get},
    {"PUT", "/series/{id}/cover", webtoon_handle_cover_put},
    {"GET", "/series/{id}/cover", webtoon_handle_cover_get},
    {"POST", "/webtoons/{id}/pages", webtoon_handle_pages_post},
    {"PUT", "/webtoons/{id}/pages", webtoon_handle_pages_put},
    {"GET", "/webtoons/{id}/pages/{n}", webtoon_handle_page_get},
    {"DELETE", "/webtoons/{id}/pages/{n}", webtoon_handle_page_delete},
    {0},
};

const struct service_def webtoon_service = {
    .name = "webtoon",
    .port_setting = CONFIG_WEBTOON_PORT,
    .schemas = webtoon_schemas,
    .routes = webtoon_routes,
    .access_rules = domain_access_rules,
    .handlers = webtoon_handlers,
    .ext_open = webtoon_media_open,
    .ext_close = webtoon_media_close,
    .body_limits = webtoon_media_body_limits,
};
