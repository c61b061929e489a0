/*
 * HTTP routes of the issuer (the token endpoint is in auth_token.c):
 * discovery, JWKS, the authorization endpoint with its sign-in and sign-up
 * pages, userinfo and end-session; and the service itself.
 *
 * An authorization request is checked before anything is shown: an unknown
 * client or a redirect URI not configured gets an error page and never a
 * redirect (RFC 6749 4.1.2.1); any other fault goes back to the client as
 * error=... on its redirect URI. Behind the sign-in page the request waits
 * as a flow, stored by the hash of a random token that is both in the form
 * and in a SameSite cookie: a form posted from elsewhere, or replayed in
 * another browser, matches no flow.
 */
#include <cjose/cjose.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/auth/issuer.h"
#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "domain/users.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "svc/auth/auth.h"

#define AUTH_CLOCK_SKEW_S 30

struct auth_ctx *auth_ctx_of(struct http_req *req)
{
    return ((struct service_ctx *)http_req_ctx(req))->ext;
}

const struct auth_signer *auth_ctx_signer(struct auth_ctx *ax)
{
    if (ax->signer && !auth_signer_is_stale(ax->signer))
        return ax->signer;
    struct auth_signer *fresh = NULL;
    char err[256];
    if (auth_signer_load(ax->dir, &fresh, err, sizeof err) != RC_OK) {
        log_error("cannot load the signing key: %s", err);
        return ax->signer; /* the old one still verifies until it expires */
    }
    auth_signer_free(ax->signer);
    ax->signer = fresh;
    return ax->signer;
}

/* --- small helpers ---------------------------------------------------------- */

int auth_read_form(struct http_req *req, struct auth_form *f, const char **why)
{
    memset(f, 0, sizeof *f);
    const char *ct = http_req_header(req, "Content-Type");
    size_t n = ct ? strcspn(ct, ";") : 0;
    while (n && ct[n - 1] == ' ')
        n--;
    if (!ct || n != strlen("application/x-www-form-urlencoded") ||
        strncasecmp(ct, "application/x-www-form-urlencoded", n) != 0) {
        *why = "send the body as Content-Type: application/x-www-form-urlencoded";
        return RC_UNSUPPORTED_MEDIA;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    return auth_form_parse(body, len, f, why);
}

/* Sets cookie <name> to <value> for <max_age_s> (0 clears it). */
static void auth_set_cookie(struct http_req *req, const char *name, const char *value,
                            int64_t max_age_s)
{
    char cookie[256];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld", name,
             max_age_s ? value : "", (long long)max_age_s);
    http_reply_header(req, "Set-Cookie", cookie);
}

/* The value of cookie <name> of <req> into <out>; false when absent. */
static bool auth_cookie(struct http_req *req, const char *name, char out[AUTH_TOKEN_LEN])
{
    return auth_cookie_get(http_req_header(req, "Cookie"), name, out, AUTH_TOKEN_LEN);
}

/* Answers <req> with <status> (302, 303) to <uri> with the NULL-terminated
 * name/value pairs that follow (NULL values left out) added to its query. */
static int auth_redirect(struct http_req *req, int status, const char *uri, ...)
    __attribute__((sentinel));
static int auth_redirect(struct http_req *req, int status, const char *uri, ...)
{
    struct buf b;
    buf_init(&b, 8192);
    int rc = buf_append_str(&b, uri);
    char sep = strchr(uri, '?') ? '&' : '?';
    va_list ap;
    va_start(ap, uri);
    for (const char *name; rc == RC_OK && (name = va_arg(ap, const char *)) != NULL;) {
        const char *value = va_arg(ap, const char *);
        if (!value || !*value)
            continue;
        rc = buf_appendf(&b, "%c%s=", sep, name);
        if (rc == RC_OK)
            rc = auth_url_encode(&b, value);
        sep = '&';
    }
    va_end(ap);
    if (rc == RC_OK) {
        http_reply_header(req, "Location", b.data);
        http_reply_header(req, "Cache-Control", "no-store");
        rc = http_reply(req, status, NULL, "", 0);
    }
    buf_cleanup(&b);
    return rc == RC_TOO_LARGE ? http_fail(req, RC_INVALID, "the redirect would be too long") : rc;
}

/* True when <uri> is exactly one of the configured redirect URIs. */
static bool auth_redirect_allowed(const struct auth_ctx *ax, const char *uri)
{
    for (size_t i = 0; i < ax->nredirects; i++)
        if (!strcmp(ax->redirects[i], uri))
            return true;
    return false;
}

/* The web app calls the token and userinfo endpoints from its own origin
 * (the gateway's): those answers say it may read them (CORS), for exactly
 * the origins of the configured redirect URIs, as Keycloak's web origins
 * do. */
void auth_cors(struct http_req *req)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    const char *origin = http_req_header(req, "Origin");
    char allowed[AUTH_URI_MAX];
    http_reply_header(req, "Vary", "Origin");
    for (size_t i = 0; origin && i < ax->nredirects; i++) {
        if (auth_uri_origin(ax->redirects[i], allowed, sizeof allowed) &&
            !strcasecmp(origin, allowed)) {
            http_reply_header(req, "Access-Control-Allow-Origin", origin);
            return;
        }
    }
}

/* OPTIONS /token and /userinfo: the preflight of a cross-origin call. */
static int auth_handle_preflight_options(struct http_req *req)
{
    auth_cors(req);
    http_reply_header(req, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    http_reply_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    http_reply_header(req, "Access-Control-Max-Age", "600");
    http_reply_header(req, "Allow", "GET, POST, OPTIONS");
    return http_reply(req, 204, NULL, "", 0);
}

/* --- discovery and keys ------------------------------------------------------- */

static int auth_handle_discovery_get(struct http_req *req)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    char e[5][1200];
    const char *const paths[] = {"/authorize", "/token", "/jwks", "/userinfo", "/logout"};
    for (size_t i = 0; i < ARRAY_LEN(paths); i++)
        snprintf(e[i], sizeof e[i], "%s%s", ax->issuer, paths[i]);
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[s], s:[s,s,s,s], s:[s], s:[s], s:[s,s,s],"
        " s:[s,s,s], s:[s], s:[s,s,s,s,s,s,s,s,s,s,s,s], s:b, s:b}",
        "issuer", ax->issuer, "authorization_endpoint", e[0], "token_endpoint", e[1], "jwks_uri",
        e[2], "userinfo_endpoint", e[3], "end_session_endpoint", e[4], "response_types_supported",
        "code", "response_modes_supported", "query", "grant_types_supported", "authorization_code",
        "refresh_token", "password", "client_credentials", "code_challenge_methods_supported",
        "S256", "id_token_signing_alg_values_supported", "ES256",
        "token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post",
        "none", "scopes_supported", "openid", "profile", "offline_access",
        "subject_types_supported", "public", "claims_supported", "iss", "sub", "aud", "exp", "iat",
        "nbf", "azp", "nonce", "preferred_username", "realm_access", "scope", "sid",
        "authorization_response_iss_parameter_supported", 1, "claims_parameter_supported", 0);
    if (!doc)
        return RC_NOMEM;
    http_reply_header(req, "Cache-Control", "public, max-age=300");
    http_reply_header(req, "Access-Control-Allow-Origin", "*");
    return http_reply_json(req, 200, doc, NULL);
}

static int auth_handle_jwks_get(struct http_req *req)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    char *jwks = NULL;
    int rc = auth_keys_read_jwks(ax->dir, &jwks);
    if (rc != RC_OK)
        return http_fail(req, RC_UNAVAILABLE, "the issuer's keys cannot be read");
    /* Short: after a rotation, verifiers see the new key within a minute
     * (and re-fetch at once for a kid they do not know). */
    http_reply_header(req, "Cache-Control", "public, max-age=60");
    http_reply_header(req, "Access-Control-Allow-Origin", "*");
    rc = http_reply(req, 200, "application/jwk-set+json", jwks, strlen(jwks));
    mem_free(jwks);
    return rc;
}

/* --- the authorization endpoint ---------------------------------------------------- */

enum auth_check { AUTH_CHECK_OK, AUTH_CHECK_PAGE, AUTH_CHECK_REDIRECT };

/*
 * Reads and checks the authorization request in <req>'s query into <g>.
 * AUTH_CHECK_PAGE: no redirect is safe (<desc> says why, for the page);
 * AUTH_CHECK_REDIRECT: send <error>/<desc> to the client's redirect URI.
 */
static enum auth_check auth_read_request(struct http_req *req, struct auth_ctx *ax,
                                         struct auth_grant *g, const char **error,
                                         const char **desc)
{
    *g = (struct auth_grant){0};
    const char *client = http_req_query(req, "client_id");
    const char *redirect = http_req_query(req, "redirect_uri");
    if (!client || !*client) {
        *desc = "The request names no client (client_id). Go back to the app and sign in from "
                "there.";
        return AUTH_CHECK_PAGE;
    }
    if (strcmp(client, config_str(ax->cfg, CONFIG_AUTH_WEB_CLIENT)) != 0) {
        *desc = "This client is not known here, or may not use this sign-in page.";
        return AUTH_CHECK_PAGE;
    }
    if (!redirect || !auth_redirect_allowed(ax, redirect)) {
        *desc = "The address to return to (redirect_uri) is missing or not registered for this "
                "client.";
        return AUTH_CHECK_PAGE;
    }
    snprintf(g->client_id, sizeof g->client_id, "%s", client);
    snprintf(g->redirect_uri, sizeof g->redirect_uri, "%s", redirect);
    const char *state = http_req_query(req, "state");
    if (state && *state && auth_is_printable(state, AUTH_PARAM_MAX))
        snprintf(g->state, sizeof g->state, "%s", state);
    *error = "invalid_request";
    const char *type = http_req_query(req, "response_type");
    const char *nonce = http_req_query(req, "nonce");
    const char *scope = http_req_query(req, "scope");
    const char *challenge = http_req_query(req, "code_challenge");
    const char *method = http_req_query(req, "code_challenge_method");
    if (state && *state && !*g->state) {
        *desc = "state must be 1 to 512 printable ASCII characters";
    } else if (!type || strcmp(type, "code") != 0) {
        *error = "unsupported_response_type";
        *desc = "response_type must be code";
    } else if (!challenge || !*challenge) {
        *desc = "PKCE is required: send code_challenge and code_challenge_method=S256";
    } else if (!method || strcmp(method, "S256") != 0) {
        *desc = "code_challenge_method must be S256";
    } else if (!auth_pkce_challenge_is_valid(challenge)) {
        *desc = "code_challenge must be the base64url SHA-256 of the verifier (43 characters)";
    } else if (nonce && *nonce && !auth_is_printable(nonce, AUTH_PARAM_MAX)) {
        *desc = "nonce must be 1 to 512 printable ASCII characters";
    } else if (scope && strlen(scope) > AUTH_PARAM_MAX) {
        *error = "invalid_scope";
        *desc = "scope is too long";
    } else {
        snprintf(g->code_challenge, sizeof g->code_challenge, "%s", challenge);
        snprintf(g->nonce, sizeof g->nonce, "%s", nonce ? nonce : "");
        auth_scope_grant(scope, g->scope, sizeof g->scope);
        return AUTH_CHECK_OK;
    }
    return AUTH_CHECK_REDIRECT;
}

/* Stores a new code for <g>, <username> in session <sid>, into <code>. */
static int auth_make_code(struct store *st, struct auth_grant *g, const char *username,
                          const char *sid, char code[AUTH_TOKEN_LEN])
{
    char hash[AUTH_HASH_LEN];
    int rc = auth_secret_random(AUTH_TOKEN_BYTES, code, AUTH_TOKEN_LEN);
    if (rc != RC_OK)
        return rc;
    auth_secret_hash(code, hash);
    snprintf(g->username, sizeof g->username, "%s", username);
    snprintf(g->sid, sizeof g->sid, "%s", sid);
    g->family[0] = '\0';
    g->expires_at = clock_wall_ms() + AUTH_CODE_TTL_MS;
    return auth_store_code_add(st, hash, g);
}

/* Sends the browser back to the client of <g> with <code>. */
static int auth_send_code(struct http_req *req, const struct auth_grant *g, const char *code,
                          int status)
{
    return auth_redirect(req, status, g->redirect_uri, "code", code, "state", g->state, "iss",
                         auth_ctx_of(req)->issuer, (const char *)NULL);
}

/* Starts a flow for <g>: a token in a cookie and in the page's form. */
static int auth_start_flow(struct http_req *req, struct store *st, const struct auth_grant *g,
                           enum auth_page page)
{
    char token[AUTH_TOKEN_LEN], hash[AUTH_HASH_LEN];
    int rc = auth_secret_random(AUTH_TOKEN_BYTES, token, sizeof token);
    if (rc != RC_OK)
        return rc;
    auth_secret_hash(token, hash);
    struct auth_grant flow = *g;
    flow.expires_at = clock_wall_ms() + AUTH_FLOW_TTL_MS;
    if ((rc = auth_store_flow_add(st, hash, &flow)) != RC_OK)
        return rc;
    auth_set_cookie(req, AUTH_COOKIE_FLOW, token, AUTH_FLOW_TTL_MS / 1000);
    return auth_page_form(req, 200, page, token, g, NULL, NULL);
}

/* GET /authorize and GET /signup. */
static int auth_begin(struct http_req *req, enum auth_page page)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    struct store *st = service_store(req);
    struct auth_grant g;
    const char *error = NULL, *desc = NULL;
    switch (auth_read_request(req, ax, &g, &error, &desc)) {
    case AUTH_CHECK_PAGE:
        return auth_page_message(req, 400, "This sign-in link is not valid", desc);
    case AUTH_CHECK_REDIRECT:
        return auth_redirect(req, 302, g.redirect_uri, "error", error, "error_description", desc,
                             "state", g.state, "iss", ax->issuer, (const char *)NULL);
    case AUTH_CHECK_OK:
        break;
    }
    char cookie[AUTH_TOKEN_LEN], hash[AUTH_HASH_LEN], user[DOMAIN_ID_MAX + 1], sid[AUTH_TOKEN_LEN];
    const char *prompt = http_req_query(req, "prompt");
    bool force = prompt && auth_scope_has(prompt, "login");
    if (page == AUTH_PAGE_SIGNIN && !force && auth_cookie(req, AUTH_COOKIE_SESSION, cookie)) {
        auth_secret_hash(cookie, hash);
        int rc = auth_store_session_get(st, hash, user, sid);
        if (rc != RC_OK)
            return rc;
        char code[AUTH_TOKEN_LEN];
        if (*user && (rc = auth_make_code(st, &g, user, sid, code)) != RC_OK)
            return rc;
        if (*user)
            return auth_send_code(req, &g, code, 302);
    }
    /* prompt=none: the app asks whether a session exists, showing nothing
     * (OpenID Connect Core 3.1.2.6). */
    if (prompt && auth_scope_has(prompt, "none"))
        return auth_redirect(req, 302, g.redirect_uri, "error", "login_required",
                             "error_description", "no sign-in session", "state", g.state, "iss",
                             ax->issuer, (const char *)NULL);
    return auth_start_flow(req, st, &g, page);
}

static int auth_handle_authorize_get(struct http_req *req)
{
    return auth_begin(req, AUTH_PAGE_SIGNIN);
}

static int auth_handle_signup_get(struct http_req *req)
{
    return auth_begin(req, AUTH_PAGE_SIGNUP);
}

/* Signs <username> in: a new issuer session (cookie), the flow ended, a
 * code for it, back to the client. */
static int auth_finish(struct http_req *req, struct store *st, const char *flow_hash,
                       struct auth_grant *g, const char *username)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    char session[AUTH_TOKEN_LEN], hash[AUTH_HASH_LEN], sid[AUTH_TOKEN_LEN];
    int64_t ttl_s = config_int(ax->cfg, CONFIG_AUTH_REFRESH_TTL_S);
    int rc = auth_secret_random(AUTH_TOKEN_BYTES, session, sizeof session);
    if (rc == RC_OK)
        rc = auth_secret_random(16, sid, sizeof sid);
    if (rc != RC_OK)
        return rc;
    auth_secret_hash(session, hash);
    char code[AUTH_TOKEN_LEN];
    if ((rc = store_begin(st)) != RC_OK)
        return rc;
    if ((rc = auth_store_session_add(st, hash, username, sid, clock_wall_ms() + ttl_s * 1000)) !=
            RC_OK ||
        (rc = auth_store_flow_delete(st, flow_hash)) != RC_OK ||
        (rc = auth_make_code(st, g, username, sid, code)) != RC_OK ||
        (rc = store_commit(st)) != RC_OK) {
        store_rollback(st);
        return rc;
    }
    auth_set_cookie(req, AUTH_COOKIE_SESSION, session, ttl_s);
    auth_set_cookie(req, AUTH_COOKIE_FLOW, "", 0);
    return auth_send_code(req, g, code, 303);
}

/* The flow a posted form belongs to: its token must be the one in the
 * flow cookie, and still stored. */
static int auth_flow_of(struct http_req *req, const struct auth_form *f, char hash[AUTH_HASH_LEN],
                        struct auth_grant *g)
{
    *g = (struct auth_grant){0};
    char cookie[AUTH_TOKEN_LEN];
    const char *token = auth_form_get(f, "flow");
    if (!token || !auth_cookie(req, AUTH_COOKIE_FLOW, cookie) || !auth_secret_equal(token, cookie))
        return RC_OK;
    auth_secret_hash(token, hash);
    return auth_store_flow_get(service_store(req), hash, g);
}

static int auth_flow_gone(struct http_req *req)
{
    return auth_page_message(req, 400, "This page has expired",
                             "This sign-in page has expired, was already used, or was opened in "
                             "another browser. Go back to the app and sign in again.");
}

/* A posted sign-in or sign-up form waiting for its password work. */
struct auth_pending_form {
    uint64_t job;
    enum auth_page page;
    char flow[AUTH_TOKEN_LEN];
    char flow_hash[AUTH_HASH_LEN];
    struct auth_grant g;
    char username[DOMAIN_ID_MAX + 1];
    bool known; /* sign-in: the account exists */
};

static int auth_submit_done(struct http_req *req, void *ud, bool expired)
{
    struct auth_pending_form *p = ud;
    struct store *st = service_store(req);
    bool ok = false;
    char hash[160] = "";
    enum auth_work_state state = auth_work_collect(p->job, expired, &ok, hash, sizeof hash);
    if (state == AUTH_WORK_PENDING)
        return HTTP_PARKED;
    if (state == AUTH_WORK_GONE)
        return auth_page_form(req, 503, p->page, p->flow, &p->g, p->username,
                              "The server is busy. Try again in a moment.");
    int rc = RC_OK;
    if (p->page == AUTH_PAGE_SIGNUP) {
        bool created = false;
        if (!ok)
            return RC_NOMEM; /* Argon2 could not have its memory */
        if ((rc = auth_store_account_insert(st, p->username, hash, false, &created)) != RC_OK)
            return rc;
        if (!created)
            return auth_page_form(req, 409, p->page, p->flow, &p->g, p->username,
                                  "That username is taken; choose another, or sign in.");
        log_write(LOG_INFO, http_req_id(req), json_pack("{s:s}", "username", p->username),
                  "account created");
        return auth_finish(req, st, p->flow_hash, &p->g, p->username);
    }
    if (ok && p->known)
        return auth_finish(req, st, p->flow_hash, &p->g, p->username);
    if ((rc = auth_signin_failed(req, st, p->username)) != RC_OK)
        return rc;
    return auth_page_form(req, 400, p->page, p->flow, &p->g, p->username,
                          "Wrong username or password.");
}

/* POST /authorize and POST /signup: checks what needs no password work,
 * then hands the password to the worker and waits, parked. */
static int auth_submit(struct http_req *req, enum auth_page page)
{
    struct store *st = service_store(req);
    struct auth_form f;
    const char *why = NULL;
    int rc = auth_read_form(req, &f, &why);
    if (rc != RC_OK) {
        auth_form_cleanup(&f);
        if (rc == RC_NOMEM)
            return rc;
        return auth_page_message(req, rc == RC_UNSUPPORTED_MEDIA ? 415 : 400,
                                 "This form could not be read", why);
    }
    struct auth_pending_form *p = http_req_alloc(req, sizeof *p);
    if (!p) {
        auth_form_cleanup(&f);
        return RC_NOMEM;
    }
    p->page = page;
    if ((rc = auth_flow_of(req, &f, p->flow_hash, &p->g)) != RC_OK || !p->g.found) {
        auth_form_cleanup(&f);
        return rc != RC_OK ? rc : auth_flow_gone(req);
    }
    snprintf(p->flow, sizeof p->flow, "%s", auth_form_get(&f, "flow"));
    const char *user = auth_form_get(&f, "username");
    const char *password = auth_form_get(&f, "password");
    const char *shown = user && domain_id_is_valid(user) ? user : NULL;
    const char *problem = NULL;
    bool busy = false;
    if (!user || !domain_id_is_valid(user)) {
        rc = auth_page_form(req, 400, page, p->flow, &p->g, NULL,
                            user ? "A username has 1 to 64 letters, digits and . _ : - only."
                                 : "Enter your username.");
        goto out;
    }
    snprintf(p->username, sizeof p->username, "%s", user);
    if (!password) {
        rc = auth_page_form(req, 400, page, p->flow, &p->g, shown, "Enter your password.");
    } else if (page == AUTH_PAGE_SIGNUP) {
        struct auth_account taken;
        if ((problem = auth_password_problem(password)) != NULL) {
            char msg[128];
            snprintf(msg, sizeof msg, "%c%s.", problem[0] - 'a' + 'A', problem + 1);
            rc = auth_page_form(req, 400, page, p->flow, &p->g, shown, msg);
        } else if ((rc = auth_store_account_get(st, user, &taken)) != RC_OK) {
            goto out;
        } else if (taken.found) {
            rc = auth_page_form(req, 409, page, p->flow, &p->g, shown,
                                "That username is taken; choose another, or sign in.");
        } else if (!(p->job = auth_work_submit(AUTH_WORK_HASH, password, NULL,
                                               clock_mono_ms() + AUTH_WORK_WAIT_MS))) {
            busy = true;
        } else {
            rc = http_req_park(req, AUTH_WORK_WAIT_MS, auth_submit_done, p);
        }
    } else {
        bool allowed = false;
        int64_t retry = 0;
        struct auth_account acct;
        if ((rc = auth_signin_allowed(req, st, user, &allowed, &retry)) != RC_OK)
            goto out;
        if (!allowed) {
            rc = auth_page_form(req, 429, page, p->flow, &p->g, shown,
                                "Too many failed sign-ins. Wait a minute, then try again.");
        } else if ((rc = auth_signin_begin(req, st, user, password, &p->job, &acct)) == RC_OK) {
            p->known = acct.found;
            rc = http_req_park(req, AUTH_WORK_WAIT_MS, auth_submit_done, p);
        } else if (rc == RC_UNAVAILABLE) {
            busy = true;
        }
    }
    if (busy)
        rc = auth_page_form(req, 503, page, p->flow, &p->g, shown,
                            "The server is busy. Try again in a moment.");
out:
    auth_form_cleanup(&f);
    return rc;
}

static int auth_handle_authorize_post(struct http_req *req)
{
    return auth_submit(req, AUTH_PAGE_SIGNIN);
}

static int auth_handle_signup_post(struct http_req *req)
{
    return auth_submit(req, AUTH_PAGE_SIGNUP);
}

/* --- userinfo ---------------------------------------------------------------------- */

static int auth_handle_userinfo_get(struct http_req *req)
{
    auth_cors(req);
    const char *header = http_req_header(req, "Authorization");
    char why[256] = "send the access token as Authorization: Bearer <token>";
    struct auth_identity id;
    /* The same check as every service's (core/auth/verify.c), with this
     * issuer's own keys. */
    if (header && !strncasecmp(header, "Bearer ", 7) &&
        service_verify_token(req, header + 7 + strspn(header + 7, " "), &id, why, sizeof why) ==
            AUTH_VALID) {
        json_t *roles = json_array();
        if (roles && id.reader)
            json_array_append_new(roles, json_string("reader"));
        if (roles && id.admin)
            json_array_append_new(roles, json_string("admin"));
        json_t *body = roles ? json_pack("{s:s, s:s, s:{s:o}}", "sub", id.sub, "preferred_username",
                                         id.user, "realm_access", "roles", roles)
                             : NULL;
        if (body && *id.azp)
            json_object_set_new(body, "azp", json_string(id.azp));
        if (!body)
            return RC_NOMEM;
        http_reply_header(req, "Cache-Control", "no-store");
        return http_reply_json(req, 200, body, NULL);
    }
    for (char *c = why; *c; c++) /* a quoted-string of plain text */
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            *c = '?';
    char challenge[400];
    snprintf(challenge, sizeof challenge,
             "Bearer realm=\"webtoon\", error=\"invalid_token\", error_description=\"%s\"", why);
    http_reply_header(req, "WWW-Authenticate", header ? challenge : "Bearer realm=\"webtoon\"");
    return auth_oauth_error(req, 401, "invalid_token", why);
}

/* --- end session -------------------------------------------------------------------- */

static int auth_handle_logout_get(struct http_req *req)
{
    struct auth_ctx *ax = auth_ctx_of(req);
    char cookie[AUTH_TOKEN_LEN], hash[AUTH_HASH_LEN], sid[AUTH_TOKEN_LEN];
    if (auth_cookie(req, AUTH_COOKIE_SESSION, cookie)) {
        auth_secret_hash(cookie, hash);
        int rc = auth_store_session_end(service_store(req), hash, sid);
        if (rc != RC_OK)
            return rc;
        if (*sid)
            log_write(LOG_INFO, http_req_id(req), NULL, "signed out");
    }
    auth_set_cookie(req, AUTH_COOKIE_SESSION, "", 0);
    const char *back = http_req_query(req, "post_logout_redirect_uri");
    const char *state = http_req_query(req, "state");
    char origin[AUTH_URI_MAX], allowed[AUTH_URI_MAX];
    if (back && auth_uri_origin(back, origin, sizeof origin)) {
        for (size_t i = 0; i < ax->nredirects; i++) {
            if (auth_uri_origin(ax->redirects[i], allowed, sizeof allowed) &&
                !strcasecmp(origin, allowed))
                return auth_redirect(req, 302, back, "state",
                                     state && auth_is_printable(state, AUTH_PARAM_MAX) ? state
                                                                                       : NULL,
                                     (const char *)NULL);
        }
    }
    return auth_page_message(req, 200, "You are signed out",
                             "You have signed out of webtoon. You can close this page.");
}

/* --- the service ----------------------------------------------------------------------- */

/* Reads the confidential client's secret (made by auth_serve). */
static int auth_read_secret(const struct config *cfg, char *out, size_t len)
{
    char path[PATH_MAX];
    if (auth_issuer_cli_secret_path(cfg, path, sizeof path) != RC_OK)
        return RC_CONFIG;
    FILE *f = fopen(path, "re");
    if (!f)
        return RC_IO;
    bool ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return ok && *out ? RC_OK : RC_IO;
}

static int auth_ext_open(struct service_ctx *ctx)
{
    struct auth_ctx *ax = mem_calloc(1, sizeof *ax);
    if (!ax)
        return RC_NOMEM;
    ax->cfg = ctx->cfg;
    char err[256] = "";
    int rc = auth_issuer_dir(ctx->cfg, ax->dir, sizeof ax->dir);
    auth_issuer_url(ctx->cfg, ax->issuer, sizeof ax->issuer);
    if (rc == RC_OK &&
        (rc = auth_read_secret(ctx->cfg, ax->cli_secret, sizeof ax->cli_secret)) != RC_OK)
        snprintf(err, sizeof err, "cannot read the client secret file");
    if (rc == RC_OK)
        rc = auth_signer_load(ax->dir, &ax->signer, err, sizeof err);
    if (rc != RC_OK) {
        log_error("the issuer cannot start: %s", *err ? err : rc_title(rc));
        auth_signer_free(ax->signer);
        mem_free(ax);
        return rc;
    }
    ax->nredirects =
        auth_redirects_parse(config_str(ctx->cfg, CONFIG_AUTH_REDIRECT_URIS),
                             (int)config_int(ctx->cfg, CONFIG_GATEWAY_PORT), ax->redirects);
    ctx->ext = ax;
    return RC_OK;
}

static void auth_ext_close(struct service_ctx *ctx)
{
    struct auth_ctx *ax = ctx->ext;
    if (!ax)
        return;
    sodium_memzero(ax->cli_secret, sizeof ax->cli_secret);
    auth_signer_free(ax->signer);
    mem_free(ax);
    ctx->ext = NULL;
}

static void auth_sweep(struct service_ctx *ctx, struct store *st)
{
    (void)ctx;
    if (auth_store_purge(st) != RC_OK)
        log_warn("cannot purge expired sessions and codes: %s", store_error(st));
}

static const struct http_route auth_routes[] = {
    {"GET", "/.well-known/openid-configuration", auth_handle_discovery_get},
    {"GET", "/jwks", auth_handle_jwks_get},
    {"GET", "/authorize", auth_handle_authorize_get},
    {"POST", "/authorize", auth_handle_authorize_post},
    {"GET", "/signup", auth_handle_signup_get},
    {"POST", "/signup", auth_handle_signup_post},
    {"POST", "/token", auth_handle_token_post},
    {"OPTIONS", "/token", auth_handle_preflight_options},
    {"GET", "/userinfo", auth_handle_userinfo_get},
    {"POST", "/userinfo", auth_handle_userinfo_get},
    {"OPTIONS", "/userinfo", auth_handle_preflight_options},
    {"GET", "/logout", auth_handle_logout_get},
    {0},
};

const struct service_def auth_service = {
    .name = "auth",
    .port_setting = CONFIG_AUTH_PORT,
    .schemas = auth_schemas,
    .routes = auth_routes,
    .no_events = true,
    .open_access = true, /* it authenticates its callers itself */
    .ext_open = auth_ext_open,
    .ext_close = auth_ext_close,
    .ext_is_ready = NULL,
    .ext_name = "issuer",
    .sweep = auth_sweep,
};
