/* SQL of the payment service. */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "core/store/store.h"
#include "domain/users.h"
#include "svc/payment/payment.h"

static const struct store_migration payment_schema[] = {
    {1, "CREATE TABLE payments ("
        " payment_id TEXT PRIMARY KEY,"
        " user_id TEXT NOT NULL,"
        " price BIGINT NOT NULL CHECK (price >= 0),"
        " point BIGINT NOT NULL CHECK (point > 0),"
        " status TEXT NOT NULL,"
        " reason TEXT,"
        " refund_error TEXT,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "CREATE INDEX payments_user ON payments (user_id, created_at);"},
    /* Charges in two steps (pending first) and refund attempts with ids. */
    {2, "ALTER TABLE payments ADD COLUMN refund_id TEXT;"
        "ALTER TABLE payments ADD COLUMN refund_requested_at BIGINT;"
        "ALTER TABLE payments ADD COLUMN idem_key TEXT;"
        "CREATE INDEX payments_status ON payments (status, created_at);"},
};

const struct service_schema payment_schemas[] = {
    {"payment", payment_schema, ARRAY_LEN(payment_schema)},
    {"users", domain_users_schema, DOMAIN_USERS_SCHEMA_STEPS},
    {"effects", domain_effects_schema, DOMAIN_EFFECTS_SCHEMA_STEPS},
    {0},
};

static void payment_read_row(const struct store_row *row, struct payment_record *p)
{
    p->found = true;
    store_row_text(p->payment_id, sizeof p->payment_id, &row->cols[0]);
    store_row_text(p->user_id, sizeof p->user_id, &row->cols[1]);
    p->price = row->cols[2].i;
    p->point = row->cols[3].i;
    store_row_text(p->status, sizeof p->status, &row->cols[4]);
    store_row_text(p->reason, sizeof p->reason, &row->cols[5]);
    store_row_text(p->refund_error, sizeof p->refund_error, &row->cols[6]);
    p->created_at = row->cols[7].i;
    store_row_text(p->refund_id, sizeof p->refund_id, &row->cols[8]);
    p->refund_requested_at = store_row_int(&row->cols[9], 0);
    store_row_text(p->idem_key, sizeof p->idem_key, &row->cols[10]);
}

static int payment_take(void *ud, const struct store_row *row)
{
    payment_read_row(row, ud);
    return 0;
}

int payment_store_get(struct store *st, const char *id, struct payment_record *out)
{
    *out = (struct payment_record){0};
    return store_exec(st, "SELECT " PAYMENT_COLUMNS " FROM payments WHERE payment_id = $1",
                      STORE_ARGS(STORE_TEXT(id)), payment_take, out, NULL);
}

int payment_store_insert(struct store *st, const struct payment_record *p)
{
    return store_exec(st,
                      "INSERT INTO payments (payment_id, user_id, price, point, status, reason,"
                      " created_at, updated_at, idem_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $7,"
                      " $8)",
                      STORE_ARGS(STORE_TEXT(p->payment_id), STORE_TEXT(p->user_id),
                                 STORE_INT(p->price), STORE_INT(p->point), STORE_TEXT(p->status),
                                 STORE_TEXT_OR_NULL(*p->reason ? p->reason : NULL),
                                 STORE_INT(p->created_at),
                                 STORE_TEXT_OR_NULL(*p->idem_key ? p->idem_key : NULL)),
                      NULL, NULL, NULL);
}

int payment_store_transition(struct store *st, const char *id, const char *from, const char *to,
                             const char *reason, const char *refund_error, bool *changed)
{
    int64_t n = 0;
    int rc = store_exec(st,
                        "UPDATE payments SET status = $3, refund_error = $4, updated_at = $5,"
                        " reason = COALESCE($6, reason) WHERE payment_id = $1 AND status = $2",
                        STORE_ARGS(STORE_TEXT(id), STORE_TEXT(from), STORE_TEXT(to),
                                   STORE_TEXT_OR_NULL(refund_error), STORE_INT(clock_wall_ms()),
                                   STORE_TEXT_OR_NULL(reason)),
                        NULL, NULL, &n);
    *changed = n == 1;
    return rc;
}

int payment_store_start_refund(struct store *st, const char *id, const char *refund_id,
                               bool *changed)
{
    int64_t n = 0, now = clock_wall_ms();
    int rc = store_exec(st,
                        "UPDATE payments SET status = 'refunding', refund_error = NULL,"
                        " refund_id = $2, refund_requested_at = $3, updated_at = $3"
                        " WHERE payment_id = $1 AND status = 'approved'",
                        STORE_ARGS(STORE_TEXT(id), STORE_TEXT(refund_id), STORE_INT(now)), NULL,
                        NULL, &n);
    *changed = n == 1;
    return rc;
}

int payment_store_due(struct store *st, const char *status, int64_t before, char (*ids)[40],
                      size_t max, size_t *n)
{
    return store_query_texts(
        st,
        "SELECT payment_id FROM payments WHERE status = $1 AND"
        " COALESCE(refund_requested_at, created_at) < $2"
        " ORDER BY created_at LIMIT $3",
        STORE_ARGS(STORE_TEXT(status), STORE_INT(before), STORE_INT((int64_t)max)), ids[0],
        sizeof ids[0], max, n);
}

struct payment_counts {
    int64_t all, overdue;
};

static int payment_take_counts(void *ud, const struct store_row *row)
{
    struct payment_counts *c = ud;
    c->all = store_row_int(&row->cols[0], 0);
    c->overdue = store_row_int(&row->cols[1], 0);
    return 0;
}

int payment_store_count(struct store *st, const char *status, int64_t before, int64_t *all,
                        int64_t *overdue)
{
    struct payment_counts c = {0};
    int rc = store_exec(st,
                        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN"
                        " COALESCE(refund_requested_at, created_at) < $2 THEN 1 ELSE 0 END), 0)"
                        " FROM payments WHERE status = $1",
                        STORE_ARGS(STORE_TEXT(status), STORE_INT(before)), payment_take_counts, &c,
                        NULL);
    *all = c.all;
    *overdue = c.overdue;
    return rc;
}

json_t *payment_json(const struct payment_record *p)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:I}", "paymentId", p->payment_id, "userId",
                          p->user_id, "price", (json_int_t)p->price, "point", (json_int_t)p->point,
                          "status", p->status, "createdAt", (json_int_t)p->created_at);
    if (o && *p->reason)
        json_object_set_new(o, "reason", json_string(p->reason));
    if (o && *p->refund_error)
        json_object_set_new(o, "refundError", json_string(p->refund_error));
    if (o && *p->refund_id)
        json_object_set_new(o, "refundId", json_string(p->refund_id));
    return hal_with_self(o, "/payments/%s", p->payment_id);
}

json_t *payment_item(const struct store_row *row)
{
    struct payment_record p = {0};
    payment_read_row(row, &p);
    return payment_json(&p);
}
