/*
 * Who may do what: the kinds of access rule a route can have, the check
 * that applies a route's rule from a table of them (each service hands its
 * table over in service_def.access_rules), and the checks handlers call for
 * what only they know (whose resource this is).
 *
 * auth_authorize runs before every service route's handler: it verifies
 * the bearer token, if any, records the caller on the request, and applies
 * the route's rule. Rules that name a path parameter are decided there;
 * the others leave a check to the handler:
 *   AUTH_ACT        auth_actor: the command's userId is the caller's own
 *   AUTH_ACT_OWNED  auth_may_act_on: the resource belongs to the caller
 *   AUTH_READ_OWNED auth_may_read: the caller's own, or an admin
 *   AUTH_LIST       auth_list_scope: whose items a list shows
 * Every route of every service has a rule: service_run refuses to start
 * otherwise (auth_rule_for).
 */
#ifndef WEBTOON_AUTH_POLICY_H
#define WEBTOON_AUTH_POLICY_H

#include "core/auth/verify.h"
#include "core/http/http.h"

enum auth_rule {
    AUTH_PUBLIC,     /* anyone, signed in or not */
    AUTH_ADMIN,      /* the admin role */
    AUTH_ACT,        /* a reader acting as themselves (auth_actor) */
    AUTH_ACT_PARAM,  /* the path parameter names the caller */
    AUTH_ACT_OWNED,  /* a resource of the caller (auth_may_act_on) */
    AUTH_READ_PARAM, /* the path parameter names the caller, or an admin reads */
    AUTH_READ_OWNED, /* the caller's own resource, or an admin reads (auth_may_read) */
    AUTH_LIST,       /* the caller's own items, or everything for an admin */
};

struct auth_route_rule {
    const char *method;
    const char *pattern;
    enum auth_rule rule;
    const char *param; /* for AUTH_ACT_PARAM and AUTH_READ_PARAM */
};

/* The rule of route <method> <pattern> in <rules> (ended by an all-zero
 * entry; NULL is an empty table), or NULL when it has none. Borrowed from
 * <rules>. */
const struct auth_route_rule *auth_rule_for(const struct auth_route_rule *rules, const char *method,
                                            const char *pattern);

/* The authorize hook of a service's HTTP server (see http_server_options),
 * applying the rule <rules> has for the request's route: RC_OK,
 * RC_UNAUTHENTICATED, RC_FORBIDDEN, RC_UNAVAILABLE (no keys yet), RC_INTERNAL
 * (no rule), or HTTP_PARKED while the issuer's keys are refreshed. */
int auth_authorize(struct http_req *req, const struct auth_route_rule *rules,
                   struct auth_verifier *v, struct auth_cache *cache);

/* The signed-in caller, or NULL. */
const struct auth_identity *auth_caller(struct http_req *req);

/* The user a command acts for: the caller. <named> is the userId the
 * request names, read with jx_id (NULL when it names none); naming someone else is
 * RC_FORBIDDEN, as is a caller whose user name cannot be an account id
 * (id_is_name, at most ID_NAME_MAX). */
int auth_actor(struct http_req *req, const char *named, const char **user /* OUT */);
/* RC_OK when <owner> is the caller, else RC_FORBIDDEN. */
int auth_may_act_on(struct http_req *req, const char *owner);
/* RC_OK when <owner> is the caller or the caller is an admin. */
int auth_may_read(struct http_req *req, const char *owner);
/* Whose items a list shows: the <filter> userId (NULL: none) for an admin
 * (NULL: everyone's); the caller's own for a reader, who may not filter on
 * someone else (RC_FORBIDDEN). */
int auth_list_scope(struct http_req *req, const char *filter, const char **user /* OUT */);

#endif
