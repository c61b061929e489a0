/* SQL of the purchase service: purchases and its copy of the catalog. */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "core/store/store.h"
#include "domain/users.h"
#include "svc/purchase/purchase.h"

static const struct store_migration purchase_schema[] = {
    {1, "CREATE TABLE purchases ("
        " purchase_id TEXT PRIMARY KEY,"
        " user_id TEXT NOT NULL,"
        " webtoon_id TEXT NOT NULL,"
        " point BIGINT NOT NULL CHECK (point > 0),"
        " my_point BIGINT,"
        " status TEXT NOT NULL,"
        " reason TEXT,"
        " cancel_error TEXT,"
        " is_read INTEGER NOT NULL DEFAULT 0,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "CREATE INDEX purchases_user ON purchases (user_id, created_at);"
        /* At most one live purchase of an episode per user, even under races. */
        "CREATE UNIQUE INDEX purchases_active ON purchases (user_id, webtoon_id)"
        " WHERE status IN ('pending', 'approved', 'cancelling');"
        "CREATE TABLE catalog ("
        " webtoon_id TEXT PRIMARY KEY,"
        " point BIGINT NOT NULL,"
        " status TEXT NOT NULL,"
        " updated_at BIGINT NOT NULL);"},
    /* Cancel attempts with ids and deadlines; catalog events in order. */
    {2, "ALTER TABLE purchases ADD COLUMN cancel_id TEXT;"
        "ALTER TABLE purchases ADD COLUMN cancel_requested_at BIGINT;"
        "CREATE INDEX purchases_status ON purchases (status, created_at);"
        "ALTER TABLE catalog ADD COLUMN event_offset BIGINT NOT NULL DEFAULT -1;"},
};

const struct service_schema purchase_schemas[] = {
    {"purchase", purchase_schema, ARRAY_LEN(purchase_schema)},
    {"users", domain_users_schema, DOMAIN_USERS_SCHEMA_STEPS},
    {0},
};

static void purchase_read_row(const struct store_row *row, struct purchase_record *p)
{
    p->found = true;
    store_row_text(p->purchase_id, sizeof p->purchase_id, &row->cols[0]);
    store_row_text(p->user_id, sizeof p->user_id, &row->cols[1]);
    store_row_text(p->webtoon_id, sizeof p->webtoon_id, &row->cols[2]);
    p->point = row->cols[3].i;
    p->my_point = store_row_int(&row->cols[4], -1);
    store_row_text(p->status, sizeof p->status, &row->cols[5]);
    store_row_text(p->reason, sizeof p->reason, &row->cols[6]);
    store_row_text(p->cancel_error, sizeof p->cancel_error, &row->cols[7]);
    p->read = row->cols[8].i != 0;
    p->created_at = row->cols[9].i;
    store_row_text(p->cancel_id, sizeof p->cancel_id, &row->cols[10]);
    p->cancel_requested_at = store_row_int(&row->cols[11], 0);
}

static int purchase_take(void *ud, const struct store_row *row)
{
    purchase_read_row(row, ud);
    return 0;
}

int purchase_store_get(struct store *st, const char *id, struct purchase_record *out)
{
    *out = (struct purchase_record){0};
    return store_exec(st, "SELECT " PURCHASE_COLUMNS " FROM purchases WHERE purchase_id = $1",
                      STORE_ARGS(STORE_TEXT(id)), purchase_take, out, NULL);
}

int purchase_store_insert(struct store *st, const struct purchase_record *p)
{
    return store_exec(st,
                      "INSERT INTO purchases (purchase_id, user_id, webtoon_id, point, status,"
                      " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                      STORE_ARGS(STORE_TEXT(p->purchase_id), STORE_TEXT(p->user_id),
                                 STORE_TEXT(p->webtoon_id), STORE_INT(p->point),
                                 STORE_TEXT(p->status), STORE_INT(p->created_at)),
                      NULL, NULL, NULL);
}

int purchase_store_transition(struct store *st, const char *id, const char *from, const char *to,
                              const int64_t *my_point, const char *reason, const char *cancel_error,
                              bool *changed)
{
    int64_t n = 0;
    int rc = store_exec(st,
                        "UPDATE purchases SET status = $3, my_point = COALESCE($4, my_point),"
                        " reason = COALESCE($5, reason), cancel_error = $6, updated_at = $7"
                        " WHERE purchase_id = $1 AND status = $2",
                        STORE_ARGS(STORE_TEXT(id), STORE_TEXT(from), STORE_TEXT(to),
                                   my_point ? STORE_INT(*my_point) : STORE_NULL,
                                   STORE_TEXT_OR_NULL(reason), STORE_TEXT_OR_NULL(cancel_error),
                                   STORE_INT(clock_wall_ms())),
                        NULL, NULL, &n);
    *changed = n == 1;
    return rc;
}

int purchase_store_start_cancel(struct store *st, const char *id, const char *cancel_id,
                                bool *changed)
{
    int64_t n = 0, now = clock_wall_ms();
    int rc = store_exec(st,
                        "UPDATE purchases SET status = 'cancelling', cancel_error = NULL,"
                        " cancel_id = $2, cancel_requested_at = $3, updated_at = $3"
                        " WHERE purchase_id = $1 AND status = 'approved'",
                        STORE_ARGS(STORE_TEXT(id), STORE_TEXT(cancel_id), STORE_INT(now)), NULL,
                        NULL, &n);
    *changed = n == 1;
    return rc;
}

int purchase_store_due(struct store *st, const char *status, int64_t before, char (*ids)[40],
                       size_t max, size_t *n)
{
    return store_query_texts(
        st,
        "SELECT purchase_id FROM purchases WHERE status = $1 AND"
        " COALESCE(cancel_requested_at, created_at) < $2"
        " ORDER BY created_at LIMIT $3",
        STORE_ARGS(STORE_TEXT(status), STORE_INT(before), STORE_INT((int64_t)max)), ids[0],
        sizeof ids[0], max, n);
}

struct purchase_counts {
    int64_t all, overdue;
};

static int purchase_take_counts(void *ud, const struct store_row *row)
{
    struct purchase_counts *c = ud;
    c->all = store_row_int(&row->cols[0], 0);
    c->overdue = store_row_int(&row->cols[1], 0);
    return 0;
}

int purchase_store_count(struct store *st, const char *status, int64_t before, int64_t *all,
                         int64_t *overdue)
{
    struct purchase_counts c = {0};
    int rc = store_exec(st,
                        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN"
                        " COALESCE(cancel_requested_at, created_at) < $2 THEN 1 ELSE 0 END), 0)"
                        " FROM purchases WHERE status = $1",
                        STORE_ARGS(STORE_TEXT(status), STORE_INT(before)), purchase_take_counts, &c,
                        NULL);
    *all = c.all;
    *overdue = c.overdue;
    return rc;
}

int purchase_store_mark_read(struct store *st, const char *id)
{
    return store_exec(st, "UPDATE purchases SET is_read = 1 WHERE purchase_id = $1",
                      STORE_ARGS(STORE_TEXT(id)), NULL, NULL, NULL);
}

static int purchase_take_catalog(void *ud, const struct store_row *row)
{
    struct purchase_catalog_entry *c = ud;
    c->found = true;
    c->point = row->cols[0].i;
    c->published = !strcmp(row->cols[1].s, "published");
    return 0;
}

int purchase_store_catalog_get(struct store *st, const char *webtoon,
                               struct purchase_catalog_entry *out)
{
    *out = (struct purchase_catalog_entry){0};
    return store_exec(st, "SELECT point, status FROM catalog WHERE webtoon_id = $1",
                      STORE_ARGS(STORE_TEXT(webtoon)), purchase_take_catalog, out, NULL);
}

int purchase_store_catalog_put(struct store *st, const char *webtoon, int64_t point,
                               const char *status, int64_t offset)
{
    /* One webtoon's events share a partition, so offsets order them. */
    return store_exec(st,
                      "INSERT INTO catalog (webtoon_id, point, status, updated_at, event_offset)"
                      " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (webtoon_id) DO UPDATE"
                      " SET point = excluded.point, status = excluded.status,"
                      " updated_at = excluded.updated_at, event_offset = excluded.event_offset"
                      " WHERE catalog.event_offset < excluded.event_offset",
                      STORE_ARGS(STORE_TEXT(webtoon), STORE_INT(point), STORE_TEXT(status),
                                 STORE_INT(clock_wall_ms()), STORE_INT(offset)),
                      NULL, NULL, NULL);
}

json_t *purchase_json(const struct purchase_record *p)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:b, s:I}", "purchaseId", p->purchase_id, "userId",
                  p->user_id, "webtoonId", p->webtoon_id, "point", (json_int_t)p->point, "status",
                  p->status, "read", p->read, "createdAt", (json_int_t)p->created_at);
    if (o && p->my_point >= 0)
        json_object_set_new(o, "myPoint", json_integer(p->my_point));
    if (o && *p->reason)
        json_object_set_new(o, "reason", json_string(p->reason));
    if (o && *p->cancel_error)
        json_object_set_new(o, "cancelError", json_string(p->cancel_error));
    return hal_with_self(o, "/purchases/%s", p->purchase_id);
}

json_t *purchase_item(const struct store_row *row)
{
    struct purchase_record p = {0};
    purchase_read_row(row, &p);
    return purchase_json(&p);
}
