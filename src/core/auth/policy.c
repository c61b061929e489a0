/* Who may do what; see policy.h and docs/SECURITY.md. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/auth/policy.h"
#include "core/base/bug.h"
#include "core/base/id.h"
#include "core/base/rc.h"

#define AUTH_KEYS_WAIT_MS 3000 /* for a refresh after an unknown key */

const struct auth_route_rule *auth_rule_for(const struct auth_route_rule *rules, const char *method,
                                            const char *pattern)
{
    for (const struct auth_route_rule *r = rules; r && r->method; r++)
        if (!strcmp(r->method, method) && !strcmp(r->pattern, pattern))
            return r;
    return NULL;
}

const struct auth_identity *auth_caller(struct http_req *req) { return http_req_principal(req); }

static bool auth_is(const struct auth_identity *id, const char *user)
{
    return id && user && !strcmp(id->user, user);
}

int auth_actor(struct http_req *req, const char *named, const char **user)
{
    const struct auth_identity *id = auth_caller(req);
    BUG_ON(!id); /* the route's rule let no anonymous caller in */
    if (named && strcmp(named, id->user) != 0)
        return http_fail(req, RC_FORBIDDEN, "signed in as '%.64s', you may not act as '%.64s'",
                         id->user, named);
    if (!id_is_name(id->user, ID_NAME_MAX))
        return http_fail(req, RC_FORBIDDEN,
                         "the user name '%.64s' cannot be an account id (letters, digits and . _ : "
                         "- only, at most 64)",
                         id->user);
    *user = id->user;
    return RC_OK;
}

int auth_may_act_on(struct http_req *req, const char *owner)
{
    if (auth_is(auth_caller(req), owner))
        return RC_OK;
    return http_fail(req, RC_FORBIDDEN, "this belongs to another user");
}

int auth_may_read(struct http_req *req, const char *owner)
{
    const struct auth_identity *id = auth_caller(req);
    if (auth_is(id, owner) || (id && id->admin))
        return RC_OK;
    return http_fail(req, RC_FORBIDDEN, "this belongs to another user");
}

int auth_list_scope(struct http_req *req, const char *filter, const char **user)
{
    const struct auth_identity *id = auth_caller(req);
    BUG_ON(!id);
    if (id->admin) {
        *user = filter;
        return RC_OK;
    }
    if (filter && strcmp(filter, id->user) != 0)
        return http_fail(req, RC_FORBIDDEN, "you may list only your own items, not '%.64s''s",
                         filter);
    *user = id->user;
    return RC_OK;
}

/* The route's rule, for a caller whose token (if any) is verified. */
static int auth_apply_rule(struct http_req *req, const struct auth_route_rule *rule)
{
    const struct auth_identity *id = auth_caller(req);
    if (rule->rule == AUTH_PUBLIC)
        return RC_OK;
    if (!id)
        return http_fail(req, RC_UNAUTHENTICATED, "sign in: this needs a bearer token");
    if (rule->rule == AUTH_ADMIN)
        return id->admin ? RC_OK : http_fail(req, RC_FORBIDDEN, "this needs the admin role");
    if (!id->reader && !id->admin)
        return http_fail(req, RC_FORBIDDEN, "this needs the reader role");
    const char *param = rule->param ? http_req_param(req, rule->param) : NULL;
    if (rule->rule == AUTH_ACT_PARAM && !auth_is(id, param))
        return http_fail(req, RC_FORBIDDEN, "signed in as '%.64s', you may not act for '%.64s'",
                         id->user, param);
    if (rule->rule == AUTH_READ_PARAM && !auth_is(id, param) && !id->admin)
        return http_fail(req, RC_FORBIDDEN, "signed in as '%.64s', you may not read '%.64s''s",
                         id->user, param);
    return RC_OK;
}

/* A refused token: 401, saying why (RFC 6750 section 3). */
static int auth_refuse(struct http_req *req, const char *why)
{
    http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"webtoon\", error=\"invalid_token\"");
    return http_fail(req, RC_UNAUTHENTICATED, "%s", why);
}

struct auth_wait {
    struct auth_verifier *v;
    struct auth_cache *cache;
    const struct auth_route_rule *rule;
    uint64_t generation; /* wait until the key thread has tried past this */
};

static enum auth_verdict auth_check_token(struct http_req *req, struct auth_verifier *v,
                                          struct auth_cache *cache, char *why, size_t whylen)
{
    const char *header = http_req_header(req, "Authorization");
    if (!header)
        return AUTH_VALID; /* anonymous: the rule decides */
    if (strncasecmp(header, "Bearer ", 7) != 0) {
        snprintf(why, whylen, "the Authorization header must be 'Bearer <token>'");
        return AUTH_REFUSED;
    }
    const char *token = header + 7;
    while (*token == ' ')
        token++;
    struct auth_identity *id = http_req_alloc(req, sizeof *id);
    if (!id) {
        snprintf(why, whylen, "out of memory");
        return AUTH_NO_KEYS;
    }
    enum auth_verdict verdict = auth_verify(v, cache, token, strlen(token), id, why, whylen);
    if (verdict == AUTH_VALID)
        http_req_set_principal(req, id);
    return verdict;
}

/* Decides a request once its token is checked; runs the handler if allowed. */
static int auth_go_on(struct http_req *req, const struct auth_route_rule *rule,
                      enum auth_verdict verdict, const char *why)
{
    if (verdict == AUTH_REFUSED || verdict == AUTH_UNKNOWN_KEY)
        return auth_refuse(req, why);
    if (verdict == AUTH_NO_KEYS)
        return http_fail(req, RC_UNAVAILABLE, "%s; retry in a moment", why);
    return auth_apply_rule(req, rule);
}

static int auth_after_refresh(struct http_req *req, void *ud, bool expired)
{
    struct auth_wait *w = ud;
    if (!expired && auth_keys_generation(w->v) <= w->generation)
        return HTTP_PARKED;
    char why[256];
    enum auth_verdict verdict = auth_check_token(req, w->v, w->cache, why, sizeof why);
    int rc = auth_go_on(req, w->rule, verdict, why);
    return rc == RC_OK ? http_req_route(req)->handler(req) : rc;
}

int auth_authorize(struct http_req *req, const struct auth_route_rule *rules,
                   struct auth_verifier *v, struct auth_cache *cache)
{
    const struct http_route *route = http_req_route(req);
    const struct auth_route_rule *rule = auth_rule_for(rules, route->method, route->pattern);
    if (!rule)
        return http_fail(req, RC_INTERNAL, "no access rule for %s %s", route->method,
                         route->pattern);
    char why[256];
    enum auth_verdict verdict = auth_check_token(req, v, cache, why, sizeof why);
    if (verdict == AUTH_UNKNOWN_KEY || verdict == AUTH_NO_KEYS) {
        /* The issuer may have rotated its keys since we read them, or
         * made its first ones since we last looked. */
        struct auth_wait *w = http_req_alloc(req, sizeof *w);
        if (!w)
            return RC_NOMEM;
        *w = (struct auth_wait){
            .v = v, .cache = cache, .rule = rule, .generation = auth_keys_refresh(v)};
        return http_req_park(req, AUTH_KEYS_WAIT_MS, auth_after_refresh, w);
    }
    return auth_go_on(req, rule, verdict, why);
}
