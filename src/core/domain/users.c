/* Replicated user view; see users.h. */
#include "core/domain/users.h"

#include <string.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/rc.h"
#include "core/domain/events.h"
#include "core/json/jx.h"

const struct store_migration domain_users_schema[DOMAIN_USERS_SCHEMA_STEPS] = {
    {1, "CREATE TABLE users ("
        " user_id TEXT PRIMARY KEY,"
        " status TEXT NOT NULL,"
        " updated_at BIGINT NOT NULL);"},
};

bool domain_id_is_valid(const char *id)
{
    if (!id)
        return true;
    size_t len = strlen(id);
    /* Dots only ("." or "..") would be a dot segment in the id's own URL,
     * which the HTTP layer refuses: such an id could never be read back. */
    return id_is_token(id, len, DOMAIN_ID_MAX) && strspn(id, ".") != len;
}

static int domain_users_set(struct store *st, const json_t *payload, const char *status)
{
    struct jx_reader r;
    jx_reader_init(&r, payload);
    const char *user = jx_str(&r, "userId", JX_REQUIRED, DOMAIN_ID_MAX);
    if (r.rc)
        return RC_BAD_EVENT;
    return store_exec(st,
                      "INSERT INTO users (user_id, status, updated_at) VALUES ($1, $2, $3)"
                      " ON CONFLICT (user_id) DO UPDATE SET status = excluded.status,"
                      " updated_at = excluded.updated_at",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(status), STORE_INT(clock_wall_ms())),
                      NULL, NULL, NULL);
}

int domain_users_on_joined(void *ctx, struct store *st, const struct bus_event *ev,
                           const json_t *payload)
{
    (void)ctx;
    (void)ev;
    return domain_users_set(st, payload, "joined");
}

int domain_users_on_withdrawn(void *ctx, struct store *st, const struct bus_event *ev,
                              const json_t *payload)
{
    (void)ctx;
    (void)ev;
    return domain_users_set(st, payload, "withdrawn");
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
    if (!*status) {
        http_reply_header(req, "Retry-After", "1");
        return http_fail(req, RC_UNKNOWN_USER, "no user '%s' (just joined? retry in a moment)",
                         user);
    }
    if (!strcmp(status, "withdrawn"))
        return http_fail(req, RC_USER_WITHDRAWN, "user '%s' has withdrawn", user);
    return RC_OK;
}
