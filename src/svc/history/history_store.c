/* The history view in the history service's own store (SQL). */
#include <stdio.h>
#include <string.h>

#include "core/base/rc.h"
#include "core/json/jx.h"
#include "svc/history/history.h"

static const struct store_migration history_schema[] = {
    {1, "CREATE TABLE user_summaries ("
        " user_id TEXT PRIMARY KEY,"
        " status TEXT NOT NULL,"
        " my_point BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "CREATE TABLE timeline ("
        " entry_id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " user_id TEXT NOT NULL,"
        " kind TEXT NOT NULL,"
        " ref_id TEXT,"
        " webtoon_id TEXT,"
        " point BIGINT,"
        " price BIGINT,"
        " status TEXT NOT NULL,"
        " reason TEXT,"
        " occurred_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "CREATE INDEX timeline_user ON timeline (user_id, entry_id);"
        /* A payment or purchase is one entry, updated in place. */
        "CREATE UNIQUE INDEX timeline_ref ON timeline (kind, ref_id) WHERE ref_id IS NOT NULL;"},
    /* Replays change nothing: the offset of the last event applied to each
     * summary and entry (a user's events share a partition, so offsets
     * order them), and the event that made an entry without a business id. */
    {2, "ALTER TABLE user_summaries ADD COLUMN event_offset BIGINT NOT NULL DEFAULT -1;"
        "ALTER TABLE timeline ADD COLUMN event_offset BIGINT NOT NULL DEFAULT -1;"
        "ALTER TABLE timeline ADD COLUMN source_event TEXT;"
        "CREATE UNIQUE INDEX timeline_source ON timeline (source_event)"
        " WHERE source_event IS NOT NULL;"},
    /* Who did it: the actor of the event that last changed the entry (NULL:
     * unknown, as for events from before actors, or nobody). */
    {3, "ALTER TABLE timeline ADD COLUMN actor TEXT;"},
};

const struct service_schema history_schemas[] = {
    {"history", history_schema, ARRAY_LEN(history_schema)},
    {0},
};

static int history_update_summary(struct store *st, const struct history_change *c,
                                  const struct bus_event *ev, const struct history_fields *f)
{
    if (!c->user_status && !f->has_balance)
        return RC_OK;
    return store_exec(st,
                      "INSERT INTO user_summaries (user_id, status, my_point, updated_at,"
                      " event_offset) VALUES ($1, COALESCE($2, 'joined'), COALESCE($3, 0), $4, $5)"
                      " ON CONFLICT (user_id) DO UPDATE SET"
                      " status = COALESCE($2, user_summaries.status),"
                      " my_point = COALESCE($3, user_summaries.my_point),"
                      " updated_at = excluded.updated_at, event_offset = excluded.event_offset"
                      " WHERE user_summaries.event_offset < excluded.event_offset",
                      STORE_ARGS(STORE_TEXT(f->user), STORE_TEXT_OR_NULL(c->user_status),
                                 f->has_balance ? STORE_INT(f->balance) : STORE_NULL,
                                 STORE_INT(ev->timestamp_ms), STORE_INT(ev->offset)),
                      NULL, NULL, NULL);
}

static int history_update_timeline(struct store *st, const struct history_change *c,
                                   const struct bus_event *ev, const struct history_fields *f)
{
    if (!c->kind)
        return RC_OK;
    const struct store_val args[] = {
        STORE_TEXT(f->user),
        STORE_TEXT(c->kind),
        STORE_TEXT_OR_NULL(f->ref),
        STORE_TEXT_OR_NULL(f->webtoon),
        f->has_point && strcmp(c->kind, "account") != 0 ? STORE_INT(f->point) : STORE_NULL,
        f->has_price ? STORE_INT(f->price) : STORE_NULL,
        STORE_TEXT(c->status),
        STORE_TEXT_OR_NULL(f->reason),
        STORE_INT(ev->timestamp_ms),
        STORE_INT(ev->offset),
        STORE_TEXT_OR_NULL(f->actor),
        STORE_TEXT(ev->id),
    };
    if (!f->ref) /* the entry its event made, once */
        return store_exec(st,
                          "INSERT INTO timeline (user_id, kind, ref_id, webtoon_id, point, price,"
                          " status, reason, occurred_at, updated_at, event_offset, actor,"
                          " source_event)"
                          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12)"
                          " ON CONFLICT (source_event) WHERE source_event IS NOT NULL DO NOTHING",
                          args, ARRAY_LEN(args), NULL, NULL, NULL);
    /* A later event moves the entry on, unless it reached a final status;
     * its status, reason and actor are the latest event's. */
    return store_exec(st,
                      "INSERT INTO timeline (user_id, kind, ref_id, webtoon_id, point, price,"
                      " status, reason, occurred_at, updated_at, event_offset, actor)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)"
                      " ON CONFLICT (kind, ref_id) WHERE ref_id IS NOT NULL DO UPDATE SET"
                      " status = excluded.status, reason = excluded.reason,"
                      " actor = excluded.actor,"
                      " webtoon_id = COALESCE(timeline.webtoon_id, excluded.webtoon_id),"
                      " point = COALESCE(timeline.point, excluded.point),"
                      " price = COALESCE(timeline.price, excluded.price),"
                      " updated_at = excluded.updated_at, event_offset = excluded.event_offset"
                      " WHERE timeline.event_offset < excluded.event_offset AND timeline.status"
                      " NOT IN ('rejected', 'cancelled', 'refunded', 'declined')",
                      args, ARRAY_LEN(args) - 1, NULL, NULL, NULL);
}

static int history_store_apply(struct service_ctx *ctx, struct store *st,
                               const struct history_change *c, const struct bus_event *ev,
                               const struct history_fields *f)
{
    (void)ctx;
    int rc = history_update_summary(st, c, ev, f);
    return rc == RC_OK ? history_update_timeline(st, c, ev, f) : rc;
}

static int history_store_clear(struct service_ctx *ctx)
{
    struct store *st = ctx->store;
    int rc = store_begin(st);
    if (rc != RC_OK)
        return rc;
    static const char *const tables[] = {"DELETE FROM user_summaries", "DELETE FROM timeline",
                                         "DELETE FROM inbox"};
    for (size_t i = 0; i < ARRAY_LEN(tables) && rc == RC_OK; i++)
        rc = store_exec(st, tables[i], NULL, 0, NULL, NULL, NULL);
    if (rc == RC_OK)
        return store_commit(st);
    store_rollback(st);
    return rc;
}

#define HISTORY_SUMMARY_COLUMNS "user_id, status, my_point"
#define HISTORY_ENTRY_COLUMNS                                                                      \
    "entry_id, kind, ref_id, webtoon_id, point, price, status, reason, occurred_at, updated_at,"   \
    " actor"

static json_t *history_summary_item(const struct store_row *row)
{
    return hal_with_self(json_pack("{s:s, s:s, s:I}", "userId", row->cols[0].s, "status",
                                   row->cols[1].s, "myPoint", (json_int_t)row->cols[2].i),
                         "/histories/%s", row->cols[0].s);
}

static json_t *history_entry_item(const struct store_row *row)
{
    static const char *const optional_text[] = {NULL, NULL, "refId", "webtoonId"};
    json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I}", "entryId", (json_int_t)row->cols[0].i,
                          "kind", row->cols[1].s, "status", row->cols[6].s, "occurredAt",
                          (json_int_t)row->cols[8].i, "updatedAt", (json_int_t)row->cols[9].i);
    if (!o)
        return NULL;
    for (size_t i = 2; i < ARRAY_LEN(optional_text); i++)
        if (row->cols[i].type == STORE_T_TEXT)
            json_object_set_new(o, optional_text[i], json_string(row->cols[i].s));
    if (row->cols[4].type == STORE_T_INT)
        json_object_set_new(o, "point", json_integer(row->cols[4].i));
    if (row->cols[5].type == STORE_T_INT)
        json_object_set_new(o, "price", json_integer(row->cols[5].i));
    if (row->cols[7].type == STORE_T_TEXT)
        json_object_set_new(o, "reason", json_string(row->cols[7].s));
    if (row->cols[10].type == STORE_T_TEXT)
        json_object_set_new(o, "actor", json_string(row->cols[10].s));
    return o;
}

static int history_store_summaries(struct service_ctx *ctx, const char *user,
                                   const struct hal_page *page, json_t **out)
{
    char query[DOMAIN_ID_MAX + 16];
    return hal_query_collection(
        ctx->store,
        "SELECT COUNT(*) FROM user_summaries WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1)",
        "SELECT " HISTORY_SUMMARY_COLUMNS " FROM user_summaries"
        " WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) ORDER BY user_id LIMIT $2 OFFSET $3",
        STORE_ARGS(STORE_TEXT_OR_NULL(user)), history_summary_item, "histories", page, "/histories",
        domain_listing_query(user, query, sizeof query), out);
}

static int history_take_summary(void *ud, const struct store_row *row)
{
    json_t **out = ud;
    *out = history_summary_item(row);
    return *out ? 0 : RC_NOMEM;
}

static int history_store_summary(struct service_ctx *ctx, const char *user, json_t **out)
{
    *out = NULL;
    return store_exec(ctx->store,
                      "SELECT " HISTORY_SUMMARY_COLUMNS " FROM user_summaries WHERE user_id = $1",
                      STORE_ARGS(STORE_TEXT(user)), history_take_summary, out, NULL);
}

static int history_store_timeline(struct service_ctx *ctx, const char *user,
                                  const struct hal_page *page, json_t **out)
{
    char path[128];
    snprintf(path, sizeof path, "/histories/%s/timeline", user);
    return hal_query_collection(ctx->store, "SELECT COUNT(*) FROM timeline WHERE user_id = $1",
                                "SELECT " HISTORY_ENTRY_COLUMNS " FROM timeline WHERE user_id = $1"
                                " ORDER BY entry_id DESC LIMIT $2 OFFSET $3",
                                STORE_ARGS(STORE_TEXT(user)), history_entry_item, "timeline", page,
                                path, NULL, out);
}

const struct history_view_ops history_store_view = {
    .apply = history_store_apply,
    .summaries = history_store_summaries,
    .summary = history_store_summary,
    .timeline = history_store_timeline,
    .clear = history_store_clear,
};
