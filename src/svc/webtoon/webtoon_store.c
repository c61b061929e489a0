/* SQL of the webtoon service: the catalog and who owns what. */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "domain/users.h"
#include "svc/webtoon/webtoon.h"

static const struct store_migration webtoon_schema[] = {
    {1, "CREATE TABLE webtoons ("
        " webtoon_id TEXT PRIMARY KEY,"
        " title TEXT NOT NULL,"
        " author TEXT NOT NULL,"
        " point BIGINT NOT NULL CHECK (point >= 0),"
        " episode BIGINT NOT NULL CHECK (episode > 0),"
        " status TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "CREATE TABLE ownership ("
        " user_id TEXT NOT NULL,"
        " webtoon_id TEXT NOT NULL,"
        " purchase_id TEXT NOT NULL,"
        " is_read INTEGER NOT NULL DEFAULT 0,"
        " granted_at BIGINT NOT NULL,"
        " read_at BIGINT,"
        " PRIMARY KEY (user_id, webtoon_id));"},
    /* The catalog's version: every write to webtoons bumps it in its own
     * transaction, so a page made at an older version is never served
     * again, by any replica (see webtoon_store_catalog_version). */
    {2, "CREATE TABLE catalog_version ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " version BIGINT NOT NULL);"
        "INSERT INTO catalog_version (id, version) VALUES (1, 0);"},
};

const struct service_schema webtoon_schemas[] = {
    {"webtoon", webtoon_schema, ARRAY_LEN(webtoon_schema)},
    {"users", domain_users_schema, DOMAIN_USERS_SCHEMA_STEPS},
    {"effects", domain_effects_schema, DOMAIN_EFFECTS_SCHEMA_STEPS},
    {0},
};

static void webtoon_read_row(const struct store_row *row, struct webtoon_item *w)
{
    w->found = true;
    snprintf(w->webtoon_id, sizeof w->webtoon_id, "%s", row->cols[0].s);
    snprintf(w->title, sizeof w->title, "%s", row->cols[1].s);
    snprintf(w->author, sizeof w->author, "%s", row->cols[2].s);
    w->point = row->cols[3].i;
    w->episode = row->cols[4].i;
    snprintf(w->status, sizeof w->status, "%s", row->cols[5].s);
}

static int webtoon_take(void *ud, const struct store_row *row)
{
    webtoon_read_row(row, ud);
    return 0;
}

int webtoon_store_get(struct store *st, const char *id, struct webtoon_item *out)
{
    *out = (struct webtoon_item){0};
    return store_exec(st, "SELECT " WEBTOON_COLUMNS " FROM webtoons WHERE webtoon_id = $1",
                      STORE_ARGS(STORE_TEXT(id)), webtoon_take, out, NULL);
}

/* Part of every write to the catalog, in its transaction. */
static int webtoon_store_bump_catalog(struct store *st)
{
    return store_exec(st, "UPDATE catalog_version SET version = version + 1 WHERE id = 1", NULL, 0,
                      NULL, NULL, NULL);
}

int webtoon_store_catalog_version(struct store *st, int64_t *version, bool *found)
{
    return store_query_int(st, "SELECT version FROM catalog_version WHERE id = 1", NULL, 0, version,
                           found);
}

int webtoon_store_insert(struct store *st, const struct webtoon_item *w, bool *created)
{
    int64_t n = 0;
    int rc =
        store_exec(st,
                   "INSERT INTO webtoons (webtoon_id, title, author, point, episode, status,"
                   " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                   " ON CONFLICT (webtoon_id) DO NOTHING",
                   STORE_ARGS(STORE_TEXT(w->webtoon_id), STORE_TEXT(w->title),
                              STORE_TEXT(w->author), STORE_INT(w->point), STORE_INT(w->episode),
                              STORE_TEXT(w->status), STORE_INT(clock_wall_ms())),
                   NULL, NULL, &n);
    *created = n == 1;
    return rc == RC_OK && *created ? webtoon_store_bump_catalog(st) : rc;
}

int webtoon_store_update(struct store *st, const struct webtoon_item *w)
{
    int rc =
        store_exec(st,
                   "UPDATE webtoons SET title = $2, author = $3, point = $4, episode = $5,"
                   " status = $6, updated_at = $7 WHERE webtoon_id = $1",
                   STORE_ARGS(STORE_TEXT(w->webtoon_id), STORE_TEXT(w->title),
                              STORE_TEXT(w->author), STORE_INT(w->point), STORE_INT(w->episode),
                              STORE_TEXT(w->status), STORE_INT(clock_wall_ms())),
                   NULL, NULL, NULL);
    return rc == RC_OK ? webtoon_store_bump_catalog(st) : rc;
}

static int webtoon_take_ownership(void *ud, const struct store_row *row)
{
    struct webtoon_ownership *o = ud;
    o->found = true;
    snprintf(o->purchase_id, sizeof o->purchase_id, "%s", row->cols[0].s);
    o->read = row->cols[1].i != 0;
    return 0;
}

int webtoon_store_ownership(struct store *st, const char *user, const char *webtoon,
                            struct webtoon_ownership *out)
{
    *out = (struct webtoon_ownership){0};
    return store_exec(st,
                      "SELECT purchase_id, is_read FROM ownership"
                      " WHERE user_id = $1 AND webtoon_id = $2",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon)), webtoon_take_ownership,
                      out, NULL);
}

int webtoon_store_grant(struct store *st, const char *user, const char *webtoon,
                        const char *purchase)
{
    return store_exec(st,
                      "INSERT INTO ownership (user_id, webtoon_id, purchase_id, granted_at)"
                      " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, webtoon_id) DO NOTHING",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon), STORE_TEXT(purchase),
                                 STORE_INT(clock_wall_ms())),
                      NULL, NULL, NULL);
}

int webtoon_store_mark_read(struct store *st, const char *user, const char *webtoon)
{
    return store_exec(st,
                      "UPDATE ownership SET is_read = 1, read_at = COALESCE(read_at, $3)"
                      " WHERE user_id = $1 AND webtoon_id = $2",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon), STORE_INT(clock_wall_ms())),
                      NULL, NULL, NULL);
}

int webtoon_store_revoke(struct store *st, const char *user, const char *webtoon)
{
    return store_exec(st, "DELETE FROM ownership WHERE user_id = $1 AND webtoon_id = $2",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon)), NULL, NULL, NULL);
}

static int webtoon_take_owned(void *ud, const struct store_row *row)
{
    json_t *item = json_pack("{s:s, s:s, s:b}", "webtoonId", row->cols[0].s, "purchaseId",
                             row->cols[1].s, "read", row->cols[2].i != 0);
    return item && json_array_append_new(ud, item) == 0 ? 0 : RC_NOMEM;
}

int webtoon_store_library(struct store *st, const char *user, json_t **out)
{
    *out = json_array();
    if (!*out)
        return RC_NOMEM;
    int rc = store_exec(st,
                        "SELECT webtoon_id, purchase_id, is_read FROM ownership WHERE user_id = $1"
                        " ORDER BY granted_at, webtoon_id LIMIT 1000",
                        STORE_ARGS(STORE_TEXT(user)), webtoon_take_owned, *out, NULL);
    if (rc != RC_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

json_t *webtoon_json(const struct webtoon_item *w)
{
    return hal_with_self(json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "webtoonId", w->webtoon_id,
                                   "title", w->title, "author", w->author, "point",
                                   (json_int_t)w->point, "episode", (json_int_t)w->episode,
                                   "status", w->status),
                         "/webtoons/%s", w->webtoon_id);
}

json_t *webtoon_item_of_row(const struct store_row *row)
{
    struct webtoon_item w;
    webtoon_read_row(row, &w);
    return webtoon_json(&w);
}
