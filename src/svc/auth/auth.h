/*
 * The built-in OpenID Connect issuer, `webtoon serve auth`: the single-
 * machine stand-in for Keycloak, speaking the same subset (discovery, JWKS,
 * authorization code + PKCE for the web app, refresh tokens that rotate,
 * the password and client_credentials grants for the confidential client,
 * userinfo, end-session), so nothing else in the system knows which issuer
 * runs. It is in use exactly when WEBTOON_AUTH_ISSUER is empty.
 *
 * Invariants: secrets never rest in the clear (passwords as Argon2id
 * hashes; sessions, codes, flows and refresh tokens as SHA-256 of the
 * random token handed out); a code is used once, within 60 s, by the
 * client, redirect URI and PKCE verifier it was issued for; a refresh
 * token is used once, and a second use revokes its whole family; no
 * redirect ever goes to a URI outside WEBTOON_AUTH_REDIRECT_URIS.
 *
 * Files: auth.c (rules over strings: forms, scopes, PKCE, redirect URIs,
 * HTML escaping; pure), auth_store.c (SQL), auth_pages.c (the HTML pages),
 * auth_api.c (discovery, JWKS, authorize, sign-up, userinfo, logout, the
 * service), auth_token.c (the token endpoint), auth_cli.c (first start and
 * the operator commands).
 */
#ifndef WEBTOON_SVC_AUTH_H
#define WEBTOON_SVC_AUTH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/auth/keys.h"
#include "core/auth/secret.h"
#include "core/base/buf.h"
#include "domain/events.h"
#include "core/service/service.h"

extern const struct service_def auth_service;

/* `webtoon serve auth`: first-start work (keys, the confidential client's
 * secret, the first admin), then the service. Exit status 2 when the
 * configuration names an external issuer. */
int auth_serve(const struct config *cfg);
/* `webtoon auth add-user <name> [--admin]`, password the first line of
 * <in>. Returns an exit status. */
int auth_cli_add_user(const struct config *cfg, const char *name, bool admin, FILE *in);
/* `webtoon auth rotate-key`. Returns an exit status. */
int auth_cli_rotate_key(const struct config *cfg);

#define AUTH_PASSWORD_MIN 8     /* characters */
#define AUTH_PASSWORD_MAX 1024  /* bytes */
#define AUTH_PARAM_MAX 512      /* state, nonce, scope: bytes */
#define AUTH_URI_MAX 1024       /* a redirect URI */
#define AUTH_REDIRECTS_MAX 16   /* configured redirect URIs */
#define AUTH_CODE_TTL_MS 60000  /* an authorization code's life */
#define AUTH_FLOW_TTL_MS 900000 /* a sign-in page's life: 15 minutes */
#define AUTH_SIGNIN_WINDOW_MS 60000
#define AUTH_SERVICE_ACCOUNT "service-account-" /* + the client id */
#define AUTH_COOKIE_SESSION "webtoon_auth_session"
#define AUTH_COOKIE_FLOW "webtoon_auth_flow"

/* What one HTTP thread of the issuer keeps (service_ctx.ext). */
struct auth_ctx {
    const struct config *cfg;
    char dir[PATH_MAX];                               /* <DATA_DIR>/auth */
    char issuer[1100];                                /* iss, and the base of every endpoint */
    char cli_secret[128];                             /* the confidential client's secret */
    char redirects[AUTH_REDIRECTS_MAX][AUTH_URI_MAX]; /* accepted redirect URIs */
    size_t nredirects;
    struct auth_signer *signer; /* loaded again after a rotation */
};

/* The issuer context of <req>'s thread; borrowed. */
struct auth_ctx *auth_ctx_of(struct http_req *req);
/* The current signer of <ctx>, reloaded when the key was rotated; NULL
 * when the key cannot be read (the caller answers 503). */
const struct auth_signer *auth_ctx_signer(struct auth_ctx *ctx);

/* --- rules (auth.c) ---------------------------------------------------------- */

#define AUTH_FORM_MAX_FIELDS 32

/* A parsed application/x-www-form-urlencoded body or query string. */
struct auth_form {
    size_t n;
    struct {
        char *name;  /* decoded, NUL-terminated; owned */
        char *value; /* decoded, NUL-terminated; owned */
    } fields[AUTH_FORM_MAX_FIELDS];
};

/*
 * Parses <len> bytes of <text> ("a=1&b=x+y%21") into <f> (caller's
 * storage; free with auth_form_cleanup, also after a failure). Refuses
 * (RC_INVALID, reason in <why>) malformed escapes, NUL, invalid UTF-8, a
 * name given twice (RFC 6749 3.1) and more than AUTH_FORM_MAX_FIELDS
 * fields; RC_NOMEM.
 */
int auth_form_parse(const char *text, size_t len, struct auth_form *f /* OUT */,
                    const char **why /* OUT */);
void auth_form_cleanup(struct auth_form *f);
/* Reads the body of <req>, which must be application/x-www-form-urlencoded
 * (RC_UNSUPPORTED_MEDIA otherwise), into <f> as auth_form_parse does. */
int auth_read_form(struct http_req *req, struct auth_form *f /* OUT */, const char **why /* OUT */);
/* The value of <name> in <f>, or NULL; borrowed from <f>. An empty value
 * counts as absent (RFC 6749 3.1). */
const char *auth_form_get(const struct auth_form *f, const char *name);

/* True when <s> is 1..<max> bytes of visible ASCII and spaces (state,
 * nonce: they travel in URLs and JSON). */
bool auth_is_printable(const char *s, size_t max);

/* True when <verifier> (RFC 7636: 43..128 of [A-Za-z0-9-._~]) hashes to
 * <challenge> under S256; constant time in the comparison. */
bool auth_pkce_matches(const char *verifier, const char *challenge);
/* True when <challenge> has the S256 challenge's form (43 base64url). */
bool auth_pkce_challenge_is_valid(const char *challenge);

/*
 * The scope to grant for <requested> (space-separated; NULL or "" means
 * "profile"): the supported scopes (openid, profile, offline_access) it
 * names, in that order, each once; others are left out (RFC 6749 3.3).
 * Writes into <out> (<len> bytes, 64 is enough).
 */
void auth_scope_grant(const char *requested, char *out /* OUT */, size_t len);
/* True when space-separated <scope> names <one>. */
bool auth_scope_has(const char *scope, const char *one);
/* True when every scope in <wanted> is in <granted>. */
bool auth_scope_within(const char *wanted, const char *granted);

/* Splits <list> (comma-separated URIs, blanks around them ignored) into
 * <out>; the default when <list> is empty: the gateway's callback on
 * 127.0.0.1 and on localhost. Returns how many. */
size_t auth_redirects_parse(const char *list, int gateway_port,
                            char out[AUTH_REDIRECTS_MAX][AUTH_URI_MAX]);
/* The origin ("http://host:port") of absolute http(s) URI <uri> into <out>;
 * false when <uri> is not one. */
bool auth_uri_origin(const char *uri, char *out /* OUT */, size_t len);

/* Validates a password: AUTH_PASSWORD_MIN characters (code points) to
 * AUTH_PASSWORD_MAX bytes; NULL when fine, else the reason (static). */
const char *auth_password_problem(const char *password);

/* Appends <s> to <b> with & < > " ' escaped for HTML text and attributes. */
int auth_html_escape(struct buf *b, const char *s);
/* Appends <s> to <b> percent-encoded for a query string (unreserved
 * characters as they are). */
int auth_url_encode(struct buf *b, const char *s);

/* The value of cookie <name> in Cookie header <header> (may be NULL) into
 * <out>; false when absent or longer than <len> - 1. */
bool auth_cookie_get(const char *header, const char *name, char *out /* OUT */, size_t len);

/*
 * Parses an "Authorization: Basic" <header> value into <id> and <secret>
 * (each form-urlencoded inside, RFC 6749 2.3.1; <len> bytes each). False
 * when it is not Basic or does not parse.
 */
bool auth_basic_parse(const char *header, char *id /* OUT */, char *secret /* OUT */, size_t len);

/* --- storage (auth_store.c) --------------------------------------------------- */

extern const struct service_schema auth_schemas[];

struct auth_account {
    bool found;
    char username[DOMAIN_ID_MAX + 1];
    char password_hash[160]; /* $argon2id$... */
    bool admin;
};

/* An authorization request in progress (behind a sign-in or sign-up page)
 * or a code issued for one. */
struct auth_grant {
    bool found;
    char client_id[201];
    char redirect_uri[AUTH_URI_MAX];
    char state[AUTH_PARAM_MAX + 1];
    char nonce[AUTH_PARAM_MAX + 1];
    char scope[64];
    char code_challenge[129];
    char username[DOMAIN_ID_MAX + 1]; /* codes only */
    char sid[AUTH_TOKEN_LEN];         /* codes only: the issuer session */
    char family[AUTH_TOKEN_LEN];      /* codes only: refresh tokens it led to */
    int64_t expires_at;               /* wall ms */
    bool used;                        /* codes only */
};

struct auth_refresh {
    bool found;
    char family[AUTH_TOKEN_LEN];
    char username[DOMAIN_ID_MAX + 1];
    char client_id[201];
    char scope[64];
    char sid[AUTH_TOKEN_LEN];
    int64_t expires_at;
    bool revoked;
};

int auth_store_account_get(struct store *st, const char *username,
                           struct auth_account *out /* OUT */);
/* Inserts an account; <created> false when the username is taken. */
int auth_store_account_insert(struct store *st, const char *username, const char *hash, bool admin,
                              bool *created /* OUT */);
/* Inserts or replaces (password, role) account <username>; <created> says
 * which. */
int auth_store_account_upsert(struct store *st, const char *username, const char *hash, bool admin,
                              bool *created /* OUT */);
int auth_store_has_admin(struct store *st, bool *out /* OUT */);

int auth_store_session_add(struct store *st, const char *hash, const char *username,
                           const char *sid, int64_t expires_at);
/* The live session of <hash>: <username> and <sid> ("" when none). */
int auth_store_session_get(struct store *st, const char *hash, char *username /* OUT */,
                           char *sid /* OUT */);
/* Deletes session <hash> and revokes the refresh tokens issued in it;
 * <sid> receives its id ("" when there was none). */
int auth_store_session_end(struct store *st, const char *hash, char *sid /* OUT */);

int auth_store_flow_add(struct store *st, const char *hash, const struct auth_grant *g);
int auth_store_flow_get(struct store *st, const char *hash, struct auth_grant *out /* OUT */);
int auth_store_flow_delete(struct store *st, const char *hash);

int auth_store_code_add(struct store *st, const char *hash, const struct auth_grant *g);
/* Takes code <hash> for use: <out> describes it; <out>->used says it was
 * used before (it is marked used now either way). */
int auth_store_code_take(struct store *st, const char *hash, struct auth_grant *out /* OUT */);

int auth_store_refresh_add(struct store *st, const char *hash, const struct auth_refresh *r);
int auth_store_refresh_get(struct store *st, const char *hash, struct auth_refresh *out /* OUT */);
/* Marks refresh token <hash> used; <taken> false when it already was (a
 * concurrent use won). */
int auth_store_refresh_revoke(struct store *st, const char *hash, bool *taken /* OUT */);
int auth_store_family_revoke(struct store *st, const char *family);

/* Records a failed sign-in for <subject> ("user:alice", "addr:127.0.0.1"). */
int auth_store_failure_add(struct store *st, const char *subject);
/* Failures of <subject> in the last minute, and when the oldest of them
 * leaves the window (wall ms; 0 when none). */
int auth_store_failures(struct store *st, const char *subject, int64_t *count /* OUT */,
                        int64_t *oldest /* OUT */);
/* Deletes what has expired (codes, flows, sessions, refresh tokens,
 * failures out of the window). */
int auth_store_purge(struct store *st);

/* --- HTML (auth_pages.c) ------------------------------------------------------ */

enum auth_page { AUTH_PAGE_SIGNIN, AUTH_PAGE_SIGNUP };

/* Answers <req> with the sign-in or sign-up page of flow <flow_token> for
 * <g>, with <error> (NULL: none) and <username> (NULL: "") filled in;
 * <status> 200, 400, 409 or 429. */
int auth_page_form(struct http_req *req, int status, enum auth_page page, const char *flow_token,
                   const struct auth_grant *g, const char *username, const char *error);
/* Answers <req> with a page saying <title> and <message> (no form). */
int auth_page_message(struct http_req *req, int status, const char *title, const char *message);

/* --- the token endpoint (auth_token.c) ---------------------------------------- */

/* Lets the web app's origin (an origin of the redirect URIs) read this
 * answer: Access-Control-Allow-Origin when <req>'s Origin is one. */
void auth_cors(struct http_req *req);

int auth_handle_token_post(struct http_req *req);

/* What a grant issues: tokens for <username> (admin or not) and
 * <client_id> with <scope>; a refresh token in <family> when <family> is
 * not NULL ("" makes a new family); an ID token when <scope> has openid
 * (with <nonce>, may be NULL). */
struct auth_issue {
    const char *username;
    bool admin;
    const char *client_id;
    const char *scope;
    const char *nonce;
    const char *sid;    /* the issuer session, or NULL */
    const char *family; /* NULL: no refresh token */
};
/* Mints the tokens of <is> (storing its refresh token in <st>, inside the
 * caller's transaction if any) and makes the token response (RFC 6749
 * 5.1), new, in <out>: the caller commits, then sends it with
 * auth_reply_tokens, so no client ever holds a token the store lost. */
int auth_issue_tokens(struct http_req *req, struct store *st, const struct auth_issue *is,
                      json_t **out /* OUT */);
/* Sends token response <body> (stolen), never cached. */
int auth_reply_tokens(struct http_req *req, json_t *body);

/* Answers <req> with an RFC 6749 error: <status> (400, 401, 429),
 * <error> ("invalid_grant"), <description>. */
int auth_oauth_error(struct http_req *req, int status, const char *error, const char *description);

/* Checks the sign-in budget of <username> and of <req>'s client address:
 * true when a sign-in may be tried; else *<retry_after_s> says when. */
int auth_signin_allowed(struct http_req *req, struct store *st, const char *username,
                        bool *allowed /* OUT */, int64_t *retry_after_s /* OUT */);
/* Starts checking <password> for <username> off the loop: looks the
 * account up (into <acct>; an unknown one is checked against a dummy hash,
 * costing the same) and queues the verification, whose id goes to <job>.
 * RC_UNAVAILABLE (reason recorded) when the queue is full. */
int auth_signin_begin(struct http_req *req, struct store *st, const char *username,
                      const char *password, uint64_t *job /* OUT */,
                      struct auth_account *acct /* OUT */);
/* Records a failed sign-in of <username> from <req>'s client address. */
int auth_signin_failed(struct http_req *req, struct store *st, const char *username);

/* How long a request waits for its password work before a 503. */
#define AUTH_WORK_WAIT_MS 15000

/* --- password work off the event loop (auth_work.c) --------------------------- */

enum auth_work_kind {
    AUTH_WORK_VERIFY, /* does the password match the hash (NULL or "": an unknown account)? */
    AUTH_WORK_HASH,   /* hash the password */
};
enum auth_work_state { AUTH_WORK_PENDING, AUTH_WORK_DONE, AUTH_WORK_GONE };

/* Starts and stops the worker thread (auth_serve does, around the
 * service). Stop frees every job. */
int auth_work_start(void);
void auth_work_stop(void);
/* Queues a job with a copy of <password> (and <hash> to verify against);
 * <deadline_ms> (monotonic) is when its requester stops waiting. Returns
 * the job's id, or 0 when the queue is full or memory short (answer 503). */
uint64_t auth_work_submit(enum auth_work_kind kind, const char *password, const char *hash,
                          int64_t deadline_ms);
/* Where job <id> is. Once DONE its result is in <ok> (and for HASH the
 * hash in <hash>, <len> bytes) and the job is gone. With <abandon>, a job
 * not done yet is given up (GONE). Thread-safe. */
enum auth_work_state auth_work_collect(uint64_t id, bool abandon, bool *ok /* OUT */,
                                       char *hash /* OUT */, size_t len);

/* Hashes <password> with Argon2id (libsodium, INTERACTIVE limits) into
 * <out> (<len> bytes, 128 is enough). RC_OK or RC_NOMEM. */
int auth_password_hash(const char *password, char *out /* OUT */, size_t len);

#endif
