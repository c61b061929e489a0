/* SQL of the issuer: accounts, sessions, flows, codes, refresh tokens and
 * failed sign-ins. Every token column holds a SHA-256, never the token. */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "svc/auth/auth.h"

static const struct store_migration auth_schema[] = {
    {1, "CREATE TABLE accounts ("
        " username TEXT PRIMARY KEY,"
        " password_hash TEXT NOT NULL,"
        " admin INTEGER NOT NULL DEFAULT 0,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "CREATE TABLE sessions ("
        " session_hash TEXT PRIMARY KEY,"
        " username TEXT NOT NULL,"
        " sid TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " expires_at BIGINT NOT NULL);"
        "CREATE TABLE flows ("
        " flow_hash TEXT PRIMARY KEY,"
        " client_id TEXT NOT NULL,"
        " redirect_uri TEXT NOT NULL,"
        " state TEXT NOT NULL,"
        " nonce TEXT NOT NULL,"
        " scope TEXT NOT NULL,"
        " code_challenge TEXT NOT NULL,"
        " expires_at BIGINT NOT NULL);"
        "CREATE TABLE codes ("
        " code_hash TEXT PRIMARY KEY,"
        " client_id TEXT NOT NULL,"
        " redirect_uri TEXT NOT NULL,"
        " nonce TEXT NOT NULL,"
        " scope TEXT NOT NULL,"
        " code_challenge TEXT NOT NULL,"
        " username TEXT NOT NULL,"
        " sid TEXT NOT NULL,"
        " family TEXT NOT NULL,"
        " expires_at BIGINT NOT NULL,"
        " used_at BIGINT);"
        "CREATE TABLE refresh_tokens ("
        " token_hash TEXT PRIMARY KEY,"
        " family TEXT NOT NULL,"
        " username TEXT NOT NULL,"
        " client_id TEXT NOT NULL,"
        " scope TEXT NOT NULL,"
        " sid TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " expires_at BIGINT NOT NULL,"
        " revoked_at BIGINT);"
        "CREATE INDEX refresh_tokens_family ON refresh_tokens (family);"
        "CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid);"
        "CREATE TABLE signin_failures ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " subject TEXT NOT NULL,"
        " at BIGINT NOT NULL);"
        "CREATE INDEX signin_failures_subject ON signin_failures (subject, at);"},
};

const struct service_schema auth_schemas[] = {
    {"auth", auth_schema, ARRAY_LEN(auth_schema)},
    {0},
};

static int auth_take_account(void *ud, const struct store_row *row)
{
    struct auth_account *a = ud;
    a->found = true;
    snprintf(a->username, sizeof a->username, "%s", row->cols[0].s);
    snprintf(a->password_hash, sizeof a->password_hash, "%s", row->cols[1].s);
    a->admin = row->cols[2].i != 0;
    return 0;
}

int auth_store_account_get(struct store *st, const char *username, struct auth_account *out)
{
    *out = (struct auth_account){0};
    return store_exec(st, "SELECT username, password_hash, admin FROM accounts WHERE username = $1",
                      STORE_ARGS(STORE_TEXT(username)), auth_take_account, out, NULL);
}

int auth_store_account_insert(struct store *st, const char *username, const char *hash, bool admin,
                              bool *created)
{
    int64_t n = 0;
    int rc = store_exec(st,
                        "INSERT INTO accounts (username, password_hash, admin, created_at,"
                        " updated_at) VALUES ($1, $2, $3, $4, $4)"
                        " ON CONFLICT (username) DO NOTHING",
                        STORE_ARGS(STORE_TEXT(username), STORE_TEXT(hash), STORE_INT(admin),
                                   STORE_INT(clock_wall_ms())),
                        NULL, NULL, &n);
    *created = n == 1;
    return rc;
}

int auth_store_account_upsert(struct store *st, const char *username, const char *hash, bool admin,
                              bool *created)
{
    int rc = auth_store_account_insert(st, username, hash, admin, created);
    if (rc != RC_OK || *created)
        return rc;
    return store_exec(st,
                      "UPDATE accounts SET password_hash = $2, admin = $3, updated_at = $4"
                      " WHERE username = $1",
                      STORE_ARGS(STORE_TEXT(username), STORE_TEXT(hash), STORE_INT(admin),
                                 STORE_INT(clock_wall_ms())),
                      NULL, NULL, NULL);
}

int auth_store_has_admin(struct store *st, bool *out)
{
    int64_t n = 0;
    bool found = false;
    int rc =
        store_query_int(st, "SELECT COUNT(*) FROM accounts WHERE admin = 1", NULL, 0, &n, &found);
    *out = n > 0;
    return rc;
}

int auth_store_session_add(struct store *st, const char *hash, const char *username,
                           const char *sid, int64_t expires_at)
{
    return store_exec(st,
                      "INSERT INTO sessions (session_hash, username, sid, created_at, expires_at)"
                      " VALUES ($1, $2, $3, $4, $5)",
                      STORE_ARGS(STORE_TEXT(hash), STORE_TEXT(username), STORE_TEXT(sid),
                                 STORE_INT(clock_wall_ms()), STORE_INT(expires_at)),
                      NULL, NULL, NULL);
}

struct auth_session_row {
    char *username;
    char *sid;
};

static int auth_take_session(void *ud, const struct store_row *row)
{
    struct auth_session_row *s = ud;
    if (s->username)
        snprintf(s->username, DOMAIN_ID_MAX + 1, "%s", row->cols[0].s);
    snprintf(s->sid, AUTH_TOKEN_LEN, "%s", row->cols[1].s);
    return 0;
}

int auth_store_session_get(struct store *st, const char *hash, char *username, char *sid)
{
    username[0] = sid[0] = '\0';
    struct auth_session_row s = {username, sid};
    return store_exec(st,
                      "SELECT s.username, s.sid FROM sessions s JOIN accounts a"
                      " ON a.username = s.username WHERE s.session_hash = $1 AND s.expires_at > $2",
                      STORE_ARGS(STORE_TEXT(hash), STORE_INT(clock_wall_ms())), auth_take_session,
                      &s, NULL);
}

int auth_store_session_end(struct store *st, const char *hash, char *sid)
{
    sid[0] = '\0';
    struct auth_session_row s = {NULL, sid};
    int rc = store_exec(st, "SELECT username, sid FROM sessions WHERE session_hash = $1",
                        STORE_ARGS(STORE_TEXT(hash)), auth_take_session, &s, NULL);
    if (rc == RC_OK)
        rc = store_exec(st, "DELETE FROM sessions WHERE session_hash = $1",
                        STORE_ARGS(STORE_TEXT(hash)), NULL, NULL, NULL);
    if (rc == RC_OK && *sid)
        rc = store_exec(st,
                        "UPDATE refresh_tokens SET revoked_at = $2 WHERE sid = $1"
                        " AND revoked_at IS NULL",
                        STORE_ARGS(STORE_TEXT(sid), STORE_INT(clock_wall_ms())), NULL, NULL, NULL);
    return rc;
}

int auth_store_flow_add(struct store *st, const char *hash, const struct auth_grant *g)
{
    return store_exec(st,
                      "INSERT INTO flows (flow_hash, client_id, redirect_uri, state, nonce, scope,"
                      " code_challenge, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      STORE_ARGS(STORE_TEXT(hash), STORE_TEXT(g->client_id),
                                 STORE_TEXT(g->redirect_uri), STORE_TEXT(g->state),
                                 STORE_TEXT(g->nonce), STORE_TEXT(g->scope),
                                 STORE_TEXT(g->code_challenge), STORE_INT(g->expires_at)),
                      NULL, NULL, NULL);
}

static int auth_take_flow(void *ud, const struct store_row *row)
{
    struct auth_grant *g = ud;
    g->found = true;
    snprintf(g->client_id, sizeof g->client_id, "%s", row->cols[0].s);
    snprintf(g->redirect_uri, sizeof g->redirect_uri, "%s", row->cols[1].s);
    snprintf(g->state, sizeof g->state, "%s", row->cols[2].s);
    snprintf(g->nonce, sizeof g->nonce, "%s", row->cols[3].s);
    snprintf(g->scope, sizeof g->scope, "%s", row->cols[4].s);
    snprintf(g->code_challenge, sizeof g->code_challenge, "%s", row->cols[5].s);
    g->expires_at = row->cols[6].i;
    return 0;
}

int auth_store_flow_get(struct store *st, const char *hash, struct auth_grant *out)
{
    *out = (struct auth_grant){0};
    return store_exec(st,
                      "SELECT client_id, redirect_uri, state, nonce, scope, code_challenge,"
                      " expires_at FROM flows WHERE flow_hash = $1 AND expires_at > $2",
                      STORE_ARGS(STORE_TEXT(hash), STORE_INT(clock_wall_ms())), auth_take_flow, out,
                      NULL);
}

int auth_store_flow_delete(struct store *st, const char *hash)
{
    return store_exec(st, "DELETE FROM flows WHERE flow_hash = $1", STORE_ARGS(STORE_TEXT(hash)),
                      NULL, NULL, NULL);
}

int auth_store_code_add(struct store *st, const char *hash, const struct auth_grant *g)
{
    return store_exec(st,
                      "INSERT INTO codes (code_hash, client_id, redirect_uri, nonce, scope,"
                      " code_challenge, username, sid, family, expires_at)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                      STORE_ARGS(STORE_TEXT(hash), STORE_TEXT(g->client_id),
                                 STORE_TEXT(g->redirect_uri), STORE_TEXT(g->nonce),
                                 STORE_TEXT(g->scope), STORE_TEXT(g->code_challenge),
                                 STORE_TEXT(g->username), STORE_TEXT(g->sid), STORE_TEXT(g->family),
                                 STORE_INT(g->expires_at)),
                      NULL, NULL, NULL);
}

static int auth_take_code(void *ud, const struct store_row *row)
{
    struct auth_grant *g = ud;
    g->found = true;
    snprintf(g->client_id, sizeof g->client_id, "%s", row->cols[0].s);
    snprintf(g->redirect_uri, sizeof g->redirect_uri, "%s", row->cols[1].s);
    snprintf(g->nonce, sizeof g->nonce, "%s", row->cols[2].s);
    snprintf(g->scope, sizeof g->scope, "%s", row->cols[3].s);
    snprintf(g->code_challenge, sizeof g->code_challenge, "%s", row->cols[4].s);
    snprintf(g->username, sizeof g->username, "%s", row->cols[5].s);
    snprintf(g->sid, sizeof g->sid, "%s", row->cols[6].s);
    snprintf(g->family, sizeof g->family, "%s", row->cols[7].s);
    g->expires_at = row->cols[8].i;
    g->used = row->cols[9].type != STORE_T_NULL;
    return 0;
}

int auth_store_code_take(struct store *st, const char *hash, struct auth_grant *out)
{
    *out = (struct auth_grant){0};
    int rc = store_exec(st,
                        "SELECT client_id, redirect_uri, nonce, scope, code_challenge, username,"
                        " sid, family, expires_at, used_at FROM codes WHERE code_hash = $1",
                        STORE_ARGS(STORE_TEXT(hash)), auth_take_code, out, NULL);
    if (rc == RC_OK && out->found && !out->used) {
        int64_t n = 0;
        rc =
            store_exec(st, "UPDATE codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
                       STORE_ARGS(STORE_TEXT(hash), STORE_INT(clock_wall_ms())), NULL, NULL, &n);
        out->used = n != 1; /* a concurrent exchange took it first */
    }
    return rc;
}

int auth_store_refresh_add(struct store *st, const char *hash, const struct auth_refresh *r)
{
    return store_exec(st,
                      "INSERT INTO refresh_tokens (token_hash, family, username, client_id, scope,"
                      " sid, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      STORE_ARGS(STORE_TEXT(hash), STORE_TEXT(r->family), STORE_TEXT(r->username),
                                 STORE_TEXT(r->client_id), STORE_TEXT(r->scope), STORE_TEXT(r->sid),
                                 STORE_INT(clock_wall_ms()), STORE_INT(r->expires_at)),
                      NULL, NULL, NULL);
}

static int auth_take_refresh(void *ud, const struct store_row *row)
{
    struct auth_refresh *r = ud;
    r->found = true;
    snprintf(r->family, sizeof r->family, "%s", row->cols[0].s);
    snprintf(r->username, sizeof r->username, "%s", row->cols[1].s);
    snprintf(r->client_id, sizeof r->client_id, "%s", row->cols[2].s);
    snprintf(r->scope, sizeof r->scope, "%s", row->cols[3].s);
    snprintf(r->sid, sizeof r->sid, "%s", row->cols[4].s);
    r->expires_at = row->cols[5].i;
    r->revoked = row->cols[6].type != STORE_T_NULL;
    return 0;
}

int auth_store_refresh_get(struct store *st, const char *hash, struct auth_refresh *out)
{
    *out = (struct auth_refresh){0};
    return store_exec(st,
                      "SELECT family, username, client_id, scope, sid, expires_at, revoked_at"
                      " FROM refresh_tokens WHERE token_hash = $1",
                      STORE_ARGS(STORE_TEXT(hash)), auth_take_refresh, out, NULL);
}

int auth_store_refresh_revoke(struct store *st, const char *hash, bool *taken)
{
    int64_t n = 0;
    int rc = store_exec(st,
                        "UPDATE refresh_tokens SET revoked_at = $2 WHERE token_hash = $1"
                        " AND revoked_at IS NULL",
                        STORE_ARGS(STORE_TEXT(hash), STORE_INT(clock_wall_ms())), NULL, NULL, &n);
    *taken = n == 1;
    return rc;
}

int auth_store_family_revoke(struct store *st, const char *family)
{
    return store_exec(st,
                      "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1"
                      " AND revoked_at IS NULL",
                      STORE_ARGS(STORE_TEXT(family), STORE_INT(clock_wall_ms())), NULL, NULL, NULL);
}

int auth_store_failure_add(struct store *st, const char *subject)
{
    return store_exec(st, "INSERT INTO signin_failures (subject, at) VALUES ($1, $2)",
                      STORE_ARGS(STORE_TEXT(subject), STORE_INT(clock_wall_ms())), NULL, NULL,
                      NULL);
}

struct auth_failures {
    int64_t count, oldest;
};

static int auth_take_failures(void *ud, const struct store_row *row)
{
    struct auth_failures *f = ud;
    f->count = row->cols[0].i;
    f->oldest = row->cols[1].type == STORE_T_INT ? row->cols[1].i : 0;
    return 0;
}

int auth_store_failures(struct store *st, const char *subject, int64_t *count, int64_t *oldest)
{
    struct auth_failures f = {0, 0};
    int rc = store_exec(
        st,
        "SELECT COUNT(*), MIN(at) FROM signin_failures WHERE subject = $1"
        " AND at > $2",
        STORE_ARGS(STORE_TEXT(subject), STORE_INT(clock_wall_ms() - AUTH_SIGNIN_WINDOW_MS)),
        auth_take_failures, &f, NULL);
    *count = f.count;
    *oldest = f.oldest;
    return rc;
}

int auth_store_purge(struct store *st)
{
    int64_t now = clock_wall_ms();
    static const char *const sql[] = {
        "DELETE FROM codes WHERE expires_at < $1",
        "DELETE FROM flows WHERE expires_at < $1",
        "DELETE FROM sessions WHERE expires_at < $1",
        "DELETE FROM refresh_tokens WHERE expires_at < $1",
    };
    int rc = RC_OK;
    for (size_t i = 0; rc == RC_OK && i < ARRAY_LEN(sql); i++)
        rc = store_exec(st, sql[i], STORE_ARGS(STORE_INT(now)), NULL, NULL, NULL);
    if (rc == RC_OK)
        rc = store_exec(st, "DELETE FROM signin_failures WHERE at < $1",
                        STORE_ARGS(STORE_INT(now - AUTH_SIGNIN_WINDOW_MS)), NULL, NULL, NULL);
    return rc;
}
