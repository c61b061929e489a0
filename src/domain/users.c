/* Replicated user view; see users.h. */
#include "domain/users.h"

#include <string.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/rc.h"
#include "domain/events.h"
#include "core/inbox/inbox.h"
#include "core/json/jx.h"
#include "core/service/service.h"

const struct store_migration domain_users_schema[DOMAIN_USERS_SCHEMA_STEPS] = {
    {1, "CREATE TABLE users ("
        " user_id TEXT PRIMARY KEY,"
        " status TEXT NOT NULL,"
        " updated_at BIGINT NOT NULL);"},
    {2, "ALTER TABLE users ADD COLUMN event_offset BIGINT NOT NULL DEFAULT -1;"},
};

const struct store_migration domain_effects_schema[DOMAIN_EFFECTS_SCHEMA_STEPS] = {
    {1, "CREATE TABLE effects ("
        " kind TEXT NOT NULL,"
        " ref_id TEXT NOT NULL,"
        " outcome TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " PRIMARY KEY (kind, ref_id));"},
};

int domain_effect_decide(struct store *st, const char *kind, const char *ref, const char *outcome)
{
    int64_t n = 0;
    int rc = store_exec(st,
                        "INSERT INTO effects (kind, ref_id, outcome, created_at)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (kind, ref_id) DO NOTHING",
                        STORE_ARGS(STORE_TEXT(kind), STORE_TEXT(ref), STORE_TEXT(outcome),
                                   STORE_INT(clock_wall_ms())),
                        NULL, NULL, &n);
    return rc == RC_OK && n == 0 ? RC_ALREADY_APPLIED : rc;
}

struct domain_text {
    char *out;
    size_t len;
};

static int domain_take_text(void *ud, const struct store_row *row)
{
    struct domain_text *t = ud;
    snprintf(t->out, t->len, "%s", row->cols[0].s);
    return 0;
}

int domain_effect_get(struct store *st, const char *kind, const char *ref, char *outcome,
                      size_t len)
{
    struct domain_text t = {outcome, len};
    *outcome = '\0';
    return store_exec(st, "SELECT outcome FROM effects WHERE kind = $1 AND ref_id = $2",
                      STORE_ARGS(STORE_TEXT(kind), STORE_TEXT(ref)), domain_take_text, &t, NULL);
}

bool domain_id_is_valid(const char *id) { return !id || id_is_name(id, DOMAIN_ID_MAX); }

static int domain_users_set(struct store *st, const struct bus_event *ev, const json_t *payload,
                            const char *status)
{
    struct jx_reader r;
    jx_reader_init(&r, payload);
    const char *user = jx_str(&r, "userId", JX_REQUIRED, DOMAIN_ID_MAX);
    if (r.rc)
        return inbox_reject(RC_BAD_EVENT, "%s", r.detail);
    /* A user's events share a partition, so offsets order them. */
    return store_exec(st,
                      "INSERT INTO users (user_id, status, updated_at, event_offset)"
                      " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET"
                      " status = excluded.status, updated_at = excluded.updated_at,"
                      " event_offset = excluded.event_offset"
                      " WHERE users.event_offset < excluded.event_offset",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(status), STORE_INT(clock_wall_ms()),
                                 STORE_INT(ev->offset)),
                      NULL, NULL, NULL);
}

int domain_users_on_joined(void *ctx, struct store *st, const struct bus_event *ev,
                           const json_t *payload)
{
    (void)ctx;
    return domain_users_set(st, ev, payload, "joined");
}

int domain_users_on_withdrawn(void *ctx, struct store *st, const struct bus_event *ev,
                              const json_t *payload)
{
    (void)ctx;
    return domain_users_set(st, ev, payload, "withdrawn");
}

static int domain_users_take_status(void *ud, const struct store_row *row)
{
    snprintf(ud, 16, "%s", row->cols[0].s);
    return 0;
}

int domain_users_require_active(struct http_req *req, struct store *st, const char *user)
{
    char status[16] = "";
    int rc = store_exec(st, "SELECT status FROM users WHERE user_id = $1",
                        STORE_ARGS(STORE_TEXT(user)), domain_users_take_status, status, NULL);
    if (rc != RC_OK)
        return rc;
    if (!*status)
        return service_unseen(req, RC_UNKNOWN_USER, "no user '%s'", user);
    if (!strcmp(status, "withdrawn"))
        return http_fail(req, RC_USER_WITHDRAWN, "user '%s' has withdrawn", user);
    return RC_OK;
}
