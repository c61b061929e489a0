/* SQL of the pointer service: accounts and their ledger. */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "domain/users.h"
#include "svc/pointer/pointer.h"

static const struct store_migration pointer_schema[] = {
    {1, "CREATE TABLE pointers ("
        " user_id TEXT PRIMARY KEY,"
        " point BIGINT NOT NULL CHECK (point >= 0),"
        " status TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        /* Every balance change, once per (reason, ref): the audit trail behind
      * balance = charged - refunded - bought + cancelled. */
        "CREATE TABLE ledger ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " user_id TEXT NOT NULL,"
        " delta BIGINT NOT NULL,"
        " reason TEXT NOT NULL,"
        " ref_id TEXT NOT NULL,"
        " balance_after BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " UNIQUE (reason, ref_id));"
        "CREATE INDEX ledger_user ON ledger (user_id, seq);"},
};
const struct service_schema pointer_schemas[] = {
    {"pointer", pointer_schema, ARRAY_LEN(pointer_schema)},
    {"effects", domain_effects_schema, DOMAIN_EFFECTS_SCHEMA_STEPS},
    {0},
};

static int pointer_take_account(void *ud, const struct store_row *row)
{
    struct pointer_account *a = ud;
    a->found = true;
    snprintf(a->user_id, sizeof a->user_id, "%s", row->cols[0].s);
    a->point = row->cols[1].i;
    a->withdrawn = !strcmp(row->cols[2].s, "withdrawn");
    return 0;
}

int pointer_store_get(struct store *st, const char *user, struct pointer_account *out)
{
    *out = (struct pointer_account){0};
    return store_exec(st, "SELECT user_id, point, status FROM pointers WHERE user_id = $1",
                      STORE_ARGS(STORE_TEXT(user)), pointer_take_account, out, NULL);
}

int pointer_store_create(struct store *st, const char *user, bool *created)
{
    int64_t n = 0;
    int rc = store_exec(st,
                        "INSERT INTO pointers (user_id, point, status, created_at, updated_at)"
                        " VALUES ($1, 0, 'joined', $2, $2) ON CONFLICT (user_id) DO NOTHING",
                        STORE_ARGS(STORE_TEXT(user), STORE_INT(clock_wall_ms())), NULL, NULL, &n);
    *created = n == 1;
    return rc;
}

int pointer_store_withdraw(struct store *st, const char *user)
{
    return store_exec(
        st, "UPDATE pointers SET status = 'withdrawn', updated_at = $2 WHERE user_id = $1",
        STORE_ARGS(STORE_TEXT(user), STORE_INT(clock_wall_ms())), NULL, NULL, NULL);
}

struct pointer_balance {
    bool found;
    int64_t value;
};

static int pointer_take_balance(void *ud, const struct store_row *row)
{
    struct pointer_balance *b = ud;
    b->found = true;
    b->value = row->cols[0].i;
    return 0;
}

int pointer_store_apply(struct store *st, const char *user, int64_t delta, const char *reason,
                        const char *ref, int64_t *balance)
{
    int64_t now = clock_wall_ms();
    struct pointer_balance b = {0};
    /* The CHECK (point >= 0) is the last line of defence under any bug. */
    int rc = store_exec(st,
                        "UPDATE pointers SET point = point + $2, updated_at = $3"
                        " WHERE user_id = $1 RETURNING point",
                        STORE_ARGS(STORE_TEXT(user), STORE_INT(delta), STORE_INT(now)),
                        pointer_take_balance, &b, NULL);
    if (rc == RC_OK && !b.found)
        rc = RC_UNKNOWN_USER;
    if (rc == RC_OK)
        rc = store_exec(st,
                        "INSERT INTO ledger (user_id, delta, reason, ref_id, balance_after,"
                        " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                        STORE_ARGS(STORE_TEXT(user), STORE_INT(delta), STORE_TEXT(reason),
                                   STORE_TEXT(ref), STORE_INT(b.value), STORE_INT(now)),
                        NULL, NULL, NULL);
    *balance = b.value;
    return rc;
}

struct pointer_violations {
    int64_t n;
    char *first;
    size_t len;
};

static int pointer_take_violation(void *ud, const struct store_row *row)
{
    struct pointer_violations *v = ud;
    if (v->n++ == 0)
        snprintf(v->first, v->len, "%s", row->cols[0].s);
    return 0;
}

int pointer_store_check_ledger(struct store *st, int64_t *violations, char *first, size_t len)
{
    struct pointer_violations v = {0, first, len};
    *first = '\0';
    /* One statement: one snapshot, so a change committed meanwhile (balance
     * and ledger line together) is seen whole or not at all. */
    int rc = store_exec(st,
                        "SELECT p.user_id FROM pointers p WHERE p.point < 0 OR p.point <>"
                        " COALESCE((SELECT SUM(l.delta) FROM ledger l"
                        " WHERE l.user_id = p.user_id), 0)",
                        NULL, 0, pointer_take_violation, &v, NULL);
    *violations = v.n;
    return rc;
}

json_t *pointer_json(const struct pointer_account *a)
{
    return hal_with_self(json_pack("{s:s, s:I, s:s}", "userId", a->user_id, "point",
                                   (json_int_t)a->point, "status",
                                   a->withdrawn ? "withdrawn" : "joined"),
                         "/pointers/%s", a->user_id);
}

json_t *pointer_item(const struct store_row *row)
{
    struct pointer_account a = {0};
    pointer_take_account(&a, row);
    return pointer_json(&a);
}
