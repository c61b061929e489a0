/*
 * The token endpoint (RFC 6749 section 3.2) and what it shares with the
 * sign-in form: the sign-in budget, password checks, and minting a grant's
 * tokens.
 *
 * Clients: the web app is public (authorization_code with PKCE, and
 * refresh_token); the confidential client authenticates with its secret,
 * HTTP Basic or in the body, never both (refresh_token, password,
 * client_credentials). Every answer says Cache-Control: no-store.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/auth/mint.h"
#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "domain/users.h"
#include "core/log/log.h"
#include "svc/auth/auth.h"

int auth_oauth_error(struct http_req *req, int status, const char *error, const char *description)
{
    json_t *body = json_pack("{s:s, s:s}", "error", error, "error_description", description);
    if (!body)
        return RC_NOMEM;
    http_reply_header(req, "Cache-Control", "no-store");
    http_reply_header(req, "Pragma", "no-cache");
    return http_reply_json(req, status, body, NULL);
}

int auth_password_hash(const char *password, char *out, size_t len)
{
    if (len < crypto_pwhash_STRBYTES || auth_secret_init() != RC_OK)
        return RC_INTERNAL;
    /* Fails only when the memory limit cannot be had. */
    return crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0
               ? RC_OK
               : RC_NOMEM;
}

int auth_signin_allowed(struct http_req *req, struct store *st, const char *username, bool *allowed,
                        int64_t *retry_after_s)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    int64_t budget = config_int(ax->cfg, CONFIG_AUTH_SIGNIN_RATE);
    char subject[2][128], addr[64];
    http_req_peer(req, addr, sizeof addr);
    snprintf(subject[0], sizeof subject[0], "user:%s", username);
    snprintf(subject[1], sizeof subject[1], "addr:%s", addr);
    *allowed = true;
    *retry_after_s = 0;
    for (int i = 0; i < 2; i++) {
        int64_t count = 0, oldest = 0;
        int rc = auth_store_failures(st, subject[i], &count, &oldest);
        if (rc != RC_OK)
            return rc;
        if (count >= budget) {
            int64_t wait = (oldest + AUTH_SIGNIN_WINDOW_MS - clock_wall_ms()) / 1000 + 1;
            *allowed = false;
            if (wait > *retry_after_s)
                *retry_after_s = wait < 1 ? 1 : wait;
        }
    }
    return RC_OK;
}

int auth_signin_begin(struct http_req *req, struct store *st, const char *username,
                      const char *password, uint64_t *job, struct auth_account *acct)
{
    *job = 0;
    int rc = auth_store_account_get(st, username, acct);
    if (rc != RC_OK)
        return rc;
    *job = auth_work_submit(AUTH_WORK_VERIFY, password, acct->found ? acct->password_hash : NULL,
                            clock_mono_ms() + AUTH_WORK_WAIT_MS);
    if (!*job)
        return http_fail(req, RC_UNAVAILABLE, "too many sign-ins at once; try again in a moment");
    return RC_OK;
}

int auth_signin_failed(struct http_req *req, struct store *st, const char *username)
{
    char subject[128], addr[64];
    http_req_peer(req, addr, sizeof addr);
    snprintf(subject, sizeof subject, "user:%s", username);
    int rc = auth_store_failure_add(st, subject);
    snprintf(subject, sizeof subject, "addr:%s", addr);
    if (rc == RC_OK)
        rc = auth_store_failure_add(st, subject);
    log_write(LOG_WARN, http_req_id(req),
              json_pack("{s:s, s:s}", "username", username, "client", addr), "failed sign-in");
    return rc;
}

int auth_reply_tokens(struct http_req *req, json_t *body)
{
    http_reply_header(req, "Cache-Control", "no-store");
    http_reply_header(req, "Pragma", "no-cache");
    return http_reply_json(req, 200, body, NULL);
}

int auth_issue_tokens(struct http_req *req, struct store *st, const struct auth_issue *is,
                      json_t **out)
{
    *out = NULL;
    struct auth_ctx *ax = auth_ctx_of(req);
    const struct auth_signer *signer = auth_ctx_signer(ax);
    if (!signer)
        return http_fail(req, RC_UNAVAILABLE, "the signing key cannot be read");
    int64_t ttl = config_int(ax->cfg, CONFIG_AUTH_TOKEN_TTL_S);
    struct auth_claims c = {
        .issuer = ax->issuer,
        .audience = config_str(ax->cfg, CONFIG_AUTH_AUDIENCE),
        .subject = is->username,
        .username = is->username,
        .admin = is->admin,
        .client_id = is->client_id,
        .scope = is->scope,
        .nonce = is->nonce && *is->nonce ? is->nonce : NULL,
        .sid = is->sid && *is->sid ? is->sid : NULL,
        .iat = (int64_t)time(NULL),
        .ttl_s = ttl,
    };
    json_t *claims = NULL, *id_claims = NULL, *body = NULL;
    char *access = NULL, *id_token = NULL;
    char refresh[AUTH_TOKEN_LEN] = "", hash[AUTH_HASH_LEN];
    int rc = auth_claims_access(&c, &claims);
    if (rc == RC_OK)
        rc = auth_mint(signer, claims, &access);
    if (rc == RC_OK && auth_scope_has(is->scope, "openid") &&
        (rc = auth_claims_id(&c, &id_claims)) == RC_OK)
        rc = auth_mint(signer, id_claims, &id_token);
    if (rc == RC_OK && is->family) {
        struct auth_refresh r = {
            .expires_at = clock_wall_ms() + config_int(ax->cfg, CONFIG_AUTH_REFRESH_TTL_S) * 1000};
        snprintf(r.username, sizeof r.username, "%s", is->username);
        snprintf(r.client_id, sizeof r.client_id, "%s", is->client_id);
        snprintf(r.scope, sizeof r.scope, "%s", is->scope);
        snprintf(r.sid, sizeof r.sid, "%s", is->sid ? is->sid : "");
        if (*is->family)
            snprintf(r.family, sizeof r.family, "%s", is->family);
        else
            rc = auth_secret_random(16, r.family, sizeof r.family);
        if (rc == RC_OK)
            rc = auth_secret_random(AUTH_TOKEN_BYTES, refresh, sizeof refresh);
        auth_secret_hash(refresh, hash);
        if (rc == RC_OK)
            rc = auth_store_refresh_add(st, hash, &r);
    }
    if (rc == RC_OK &&
        !(body = json_pack("{s:s, s:s, s:I, s:s}", "access_token", access, "token_type", "Bearer",
                           "expires_in", (json_int_t)ttl, "scope", is->scope)))
        rc = RC_NOMEM;
    if (rc == RC_OK && *refresh &&
        (json_object_set_new(body, "refresh_token", json_string(refresh)) ||
         json_object_set_new(body, "refresh_expires_in",
                             json_integer(config_int(ax->cfg, CONFIG_AUTH_REFRESH_TTL_S)))))
        rc = RC_NOMEM;
    if (rc == RC_OK && id_token && json_object_set_new(body, "id_token", json_string(id_token)))
        rc = RC_NOMEM;
    if (rc == RC_OK) {
        *out = body;
        body = NULL;
    }
    json_decref(body);
    json_decref(claims);
    json_decref(id_claims);
    mem_free(access);
    mem_free(id_token);
    sodium_memzero(refresh, sizeof refresh);
    return rc;
}

/* --- client authentication ---------------------------------------------------------- */

enum auth_client { AUTH_CLIENT_NONE, AUTH_CLIENT_WEB, AUTH_CLIENT_CLI };

/*
 * Who is calling: the confidential client with its secret (Basic or in
 * the body), or the public web client by its id. Answers the request (and
 * returns AUTH_CLIENT_NONE with *<rc> the reply's code) when neither.
 */
static enum auth_client auth_client_of(struct http_req *req, const struct auth_form *f, int *rc)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    const char *header = http_req_header(req, "Authorization");
    char id[256] = "", secret[256] = "";
    bool basic = header && !strncasecmp(header, "Basic ", 6);
    const char *body_id = auth_form_get(f, "client_id");
    const char *body_secret = auth_form_get(f, "client_secret");
    enum auth_client who = AUTH_CLIENT_NONE;
    *rc = RC_OK;
    if (basic && body_secret) {
        *rc = auth_oauth_error(req, 400, "invalid_request",
                               "authenticate the client one way only: Basic or client_secret");
        return who;
    }
    if (basic && !auth_basic_parse(header, id, secret, sizeof id)) {
        http_reply_header(req, "WWW-Authenticate", "Basic realm=\"webtoon\"");
        *rc = auth_oauth_error(req, 401, "invalid_client", "the Basic credentials do not parse");
        return who;
    }
    if (!basic) {
        snprintf(id, sizeof id, "%s", body_id ? body_id : "");
        snprintf(secret, sizeof secret, "%s", body_secret ? body_secret : "");
    } else if (body_id && strcmp(body_id, id) != 0) {
        *rc = auth_oauth_error(req, 400, "invalid_request",
                               "client_id differs from the authenticated client");
        return who;
    }
    const char *cli = config_str(ax->cfg, CONFIG_AUTH_CLI_CLIENT);
    const char *web = config_str(ax->cfg, CONFIG_AUTH_WEB_CLIENT);
    if (!strcmp(id, cli) && *secret && auth_secret_equal(secret, ax->cli_secret))
        who = AUTH_CLIENT_CLI;
    else if (!strcmp(id, web) && !*secret)
        who = AUTH_CLIENT_WEB;
    sodium_memzero(secret, sizeof secret);
    if (who == AUTH_CLIENT_NONE) {
        if (basic)
            http_reply_header(req, "WWW-Authenticate", "Basic realm=\"webtoon\"");
        *rc = auth_oauth_error(req, 401, "invalid_client",
                               !*id ? "the request names no client (client_id)"
                                    : "unknown client, or wrong client credentials");
    }
    return who;
}

/* Issues <is>'s tokens in the open transaction of <st>, commits and
 * answers with them; rolls back when any of it fails. */
static int auth_issue_committed(struct http_req *req, struct store *st, const struct auth_issue *is)
{
    json_t *body = NULL;
    int rc = auth_issue_tokens(req, st, is, &body);
    if (rc == RC_OK && (rc = store_commit(st)) == RC_OK)
        return auth_reply_tokens(req, body);
    json_decref(body);
    store_rollback(st);
    return rc;
}
/* --- grants --------------------------------------------------------------------------- */

static int auth_grant_code(struct http_req *req, struct store *st, const struct auth_form *f,
                           enum auth_client who)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    if (who != AUTH_CLIENT_WEB)
        return auth_oauth_error(req, 400, "unauthorized_client",
                                "this client may not use the authorization_code grant");
    const char *code = auth_form_get(f, "code");
    const char *redirect = auth_form_get(f, "redirect_uri");
    const char *verifier = auth_form_get(f, "code_verifier");
    if (!code || !redirect || !verifier)
        return auth_oauth_error(req, 400, "invalid_request",
                                "send code, redirect_uri and code_verifier");
    char hash[AUTH_HASH_LEN];
    auth_secret_hash(code, hash);
    struct auth_grant g;
    int rc = store_begin(st);
    if (rc != RC_OK)
        return rc;
    if ((rc = auth_store_code_take(st, hash, &g)) != RC_OK)
        goto fail;
    const char *problem = NULL;
    if (!g.found || g.expires_at < clock_wall_ms())
        problem = "the code is unknown or has expired";
    else if (g.used)
        problem = "the code was already used";
    else if (strcmp(g.client_id, config_str(ax->cfg, CONFIG_AUTH_WEB_CLIENT)) != 0)
        problem = "the code was issued to another client";
    else if (strcmp(g.redirect_uri, redirect) != 0)
        problem = "redirect_uri differs from the authorization request's";
    else if (!auth_pkce_matches(verifier, g.code_challenge))
        problem = "code_verifier does not match the code_challenge";
    struct auth_account acct = {0};
    if (!problem && (rc = auth_store_account_get(st, g.username, &acct)) != RC_OK)
        goto fail;
    if (!problem && !acct.found)
        problem = "the account no longer exists";
    if (problem) {
        /* A code used twice may have been stolen: what it gave is revoked
         * (RFC 6749 4.1.2). */
        if (g.found && g.used && (rc = auth_store_family_revoke(st, g.family)) != RC_OK)
            goto fail;
        if ((rc = store_commit(st)) != RC_OK)
            goto fail;
        return auth_oauth_error(req, 400, "invalid_grant", problem);
    }
    char family[AUTH_TOKEN_LEN];
    if ((rc = auth_secret_random(16, family, sizeof family)) != RC_OK ||
        (rc = store_exec(st, "UPDATE codes SET family = $2 WHERE code_hash = $1",
                         STORE_ARGS(STORE_TEXT(hash), STORE_TEXT(family)), NULL, NULL, NULL)) !=
            RC_OK)
        goto fail;
    struct auth_issue is = {.username = acct.username,
                            .admin = acct.admin,
                            .client_id = g.client_id,
                            .scope = g.scope,
                            .nonce = g.nonce,
                            .sid = g.sid,
                            .family = family};
    return auth_issue_committed(req, st, &is);
fail:
    store_rollback(st);
    return rc;
}

static int auth_grant_refresh(struct http_req *req, struct store *st, const struct auth_form *f,
                              enum auth_client who)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    const char *token = auth_form_get(f, "refresh_token");
    const char *scope = auth_form_get(f, "scope");
    if (!token)
        return auth_oauth_error(req, 400, "invalid_request", "send refresh_token");
    const char *client = config_str(ax->cfg, who == AUTH_CLIENT_CLI ? CONFIG_AUTH_CLI_CLIENT
                                                                    : CONFIG_AUTH_WEB_CLIENT);
    char hash[AUTH_HASH_LEN];
    auth_secret_hash(token, hash);
    struct auth_refresh r;
    struct auth_account acct = {0};
    const char *problem = NULL, *error = "invalid_grant";
    bool taken = false;
    int rc = store_begin(st);
    if (rc != RC_OK)
        return rc;
    if ((rc = auth_store_refresh_get(st, hash, &r)) != RC_OK)
        goto fail;
    if (!r.found || r.expires_at < clock_wall_ms())
        problem = "the refresh token is unknown or has expired";
    else if (strcmp(r.client_id, client) != 0)
        problem = "the refresh token was issued to another client";
    else if (scope && !auth_scope_within(scope, r.scope)) {
        error = "invalid_scope";
        problem = "scope asks for more than was granted";
    }
    if (!problem && !r.revoked && (rc = auth_store_refresh_revoke(st, hash, &taken)) != RC_OK)
        goto fail;
    if (!problem && (r.revoked || !taken)) {
        /* Used before: the token, or its last successor, is in two hands.
         * The whole family goes (RFC 9700 4.14.2). */
        if ((rc = auth_store_family_revoke(st, r.family)) != RC_OK)
            goto fail;
        log_write(LOG_WARN, http_req_id(req), json_pack("{s:s}", "username", r.username),
                  "a used refresh token came back; its family is revoked");
        problem = "the refresh token was already used";
    }
    if (!problem && (rc = auth_store_account_get(st, r.username, &acct)) != RC_OK)
        goto fail;
    if (!problem && !acct.found)
        problem = "the account no longer exists";
    if (problem) {
        if ((rc = store_commit(st)) != RC_OK)
            goto fail;
        return auth_oauth_error(req, 400, error, problem);
    }
    char granted[64];
    if (scope)
        auth_scope_grant(scope, granted, sizeof granted);
    struct auth_issue is = {.username = acct.username,
                            .admin = acct.admin,
                            .client_id = client,
                            .scope = scope ? granted : r.scope,
                            .sid = r.sid,
                            .family = r.family};
    return auth_issue_committed(req, st, &is);
fail:
    store_rollback(st);
    return rc;
}

/* A password grant waiting for its password check. */
struct auth_pending_grant {
    uint64_t job;
    char username[DOMAIN_ID_MAX + 1];
    bool known; /* the account exists */
    bool admin;
    char scope[64];
    char client[201];
};

static int auth_grant_password_done(struct http_req *req, void *ud, bool expired)
{
    struct auth_pending_grant *p = ud;
    struct store *st = service_store(req);
    bool ok = false;
    enum auth_work_state state = auth_work_collect(p->job, expired, &ok, NULL, 0);
    if (state == AUTH_WORK_PENDING)
        return HTTP_PARKED;
    if (state == AUTH_WORK_GONE)
        return auth_oauth_error(req, 503, "temporarily_unavailable",
                                "the password check took too long; try again");
    if (!ok || !p->known) {
        int rc = auth_signin_failed(req, st, p->username);
        return rc != RC_OK
                   ? rc
                   : auth_oauth_error(req, 400, "invalid_grant", "wrong username or password");
    }
    struct auth_issue is = {.username = p->username,
                            .admin = p->admin,
                            .client_id = p->client,
                            .scope = p->scope,
                            .family = ""};
    json_t *body = NULL;
    int rc = auth_issue_tokens(req, st, &is, &body);
    return rc == RC_OK ? auth_reply_tokens(req, body) : rc;
}

static int auth_grant_password(struct http_req *req, struct store *st, const struct auth_form *f,
                               enum auth_client who)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    if (who != AUTH_CLIENT_CLI)
        return auth_oauth_error(req, 400, "unauthorized_client",
                                "only the confidential client may use the password grant");
    const char *user = auth_form_get(f, "username");
    const char *password = auth_form_get(f, "password");
    if (!user || !password)
        return auth_oauth_error(req, 400, "invalid_request", "send username and password");
    if (!domain_id_is_valid(user))
        return auth_oauth_error(req, 400, "invalid_grant", "wrong username or password");
    bool allowed = false;
    int64_t retry = 0;
    int rc = auth_signin_allowed(req, st, user, &allowed, &retry);
    if (rc != RC_OK)
        return rc;
    if (!allowed) {
        char after[24];
        snprintf(after, sizeof after, "%lld", (long long)retry);
        http_reply_header(req, "Retry-After", after);
        return auth_oauth_error(req, 429, "slow_down",
                                "too many failed sign-ins; wait before trying again");
    }
    struct auth_pending_grant *p = http_req_alloc(req, sizeof *p);
    struct auth_account acct;
    if (!p)
        return RC_NOMEM;
    if ((rc = auth_signin_begin(req, st, user, password, &p->job, &acct)) != RC_OK)
        return rc == RC_UNAVAILABLE ? auth_oauth_error(req, 503, "temporarily_unavailable",
                                                       "too many sign-ins at once; try again")
                                    : rc;
    snprintf(p->username, sizeof p->username, "%s", user);
    p->known = acct.found;
    p->admin = acct.admin;
    auth_scope_grant(auth_form_get(f, "scope"), p->scope, sizeof p->scope);
    snprintf(p->client, sizeof p->client, "%s", config_str(ax->cfg, CONFIG_AUTH_CLI_CLIENT));
    return http_req_park(req, AUTH_WORK_WAIT_MS, auth_grant_password_done, p);
}

static int auth_grant_client(struct http_req *req, struct store *st, const struct auth_form *f,
                             enum auth_client who)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    if (who != AUTH_CLIENT_CLI)
        return auth_oauth_error(req, 400, "unauthorized_client",
                                "only the confidential client may use client_credentials");
    const char *client = config_str(ax->cfg, CONFIG_AUTH_CLI_CLIENT);
    char subject[256], scope[64];
    snprintf(subject, sizeof subject, AUTH_SERVICE_ACCOUNT "%s", client);
    auth_scope_grant(auth_form_get(f, "scope"), scope, sizeof scope);
    struct auth_issue is = {
        .username = subject, .admin = true, .client_id = client, .scope = scope};
    json_t *body = NULL;
    int rc = auth_issue_tokens(req, st, &is, &body);
    return rc == RC_OK ? auth_reply_tokens(req, body) : rc;
}

int auth_handle_token_post(struct http_req *req)
{
    struct store *st = service_store(req);
    auth_cors(req);
    struct auth_form f;
    const char *why = NULL;
    int rc = RC_OK;
    int parsed = auth_read_form(req, &f, &why);
    if (parsed != RC_OK) {
        rc = parsed == RC_NOMEM ? RC_NOMEM : auth_oauth_error(req, 400, "invalid_request", why);
        goto out;
    }
    enum auth_client who = auth_client_of(req, &f, &rc);
    if (who == AUTH_CLIENT_NONE)
        goto out;
    const char *grant = auth_form_get(&f, "grant_type");
    if (!grant)
        rc = auth_oauth_error(req, 400, "invalid_request", "send grant_type");
    else if (!strcmp(grant, "authorization_code"))
        rc = auth_grant_code(req, st, &f, who);
    else if (!strcmp(grant, "refresh_token"))
        rc = auth_grant_refresh(req, st, &f, who);
    else if (!strcmp(grant, "password"))
        rc = auth_grant_password(req, st, &f, who);
    else if (!strcmp(grant, "client_credentials"))
        rc = auth_grant_client(req, st, &f, who);
    else
        rc = auth_oauth_error(req, 400, "unsupported_grant_type",
                              "grant_type must be authorization_code, refresh_token, password or "
                              "client_credentials");
out:
    auth_form_cleanup(&f);
    return rc;
}
