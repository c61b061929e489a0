/*
 * Minting tokens: claims in, a compact JWS out, signed ES256 with the
 * built-in issuer's current key (header {alg, typ JWT, kid}), and the claim
 * sets of the tokens it issues, shaped like Keycloak's so that nothing
 * downstream can tell the two issuers apart (docs/SECURITY.md lists the
 * claims the system reads).
 */
#ifndef WEBTOON_AUTH_MINT_H
#define WEBTOON_AUTH_MINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/auth/keys.h"

#define AUTH_ROLE_READER "reader"
#define AUTH_ROLE_ADMIN "admin"

/* What an access or ID token says; every string is borrowed. */
struct auth_claims {
    const char *issuer;    /* iss */
    const char *audience;  /* aud of an access token (WEBTOON_AUTH_AUDIENCE) */
    const char *subject;   /* sub: the account's stable id */
    const char *username;  /* preferred_username: the userId it acts as */
    bool admin;            /* realm_access.roles: reader, plus admin */
    const char *client_id; /* azp (and the ID token's aud) */
    const char *scope;     /* space-separated; NULL: "" */
    const char *nonce;     /* ID token only; NULL: none */
    const char *sid;       /* the issuer session it came from; NULL: none */
    int64_t iat;           /* issued at, seconds since the epoch (also nbf) */
    int64_t ttl_s;         /* exp = iat + ttl_s */
};

/*
 * The claims of an access token for <c>: iss, aud (a string), sub,
 * preferred_username, realm_access.roles, azp, scope, iat, nbf (= iat),
 * exp, typ "Bearer", and a random jti. Returns RC_OK with a new object in
 * <out> (json_decref it), RC_NOMEM or RC_INTERNAL.
 */
int auth_claims_access(const struct auth_claims *c, json_t **out /* OUT */);

/* The claims of an OpenID Connect ID token for <c>: the same identity
 * claims, aud = azp = the client, typ "ID", nonce when given. As above. */
int auth_claims_id(const struct auth_claims *c, json_t **out /* OUT */);

/*
 * Signs <claims> (borrowed) with <signer>. Returns RC_OK with the compact
 * serialisation, a new string, in <out> (free with mem_free), or
 * RC_NOMEM / RC_INTERNAL.
 */
int auth_mint(const struct auth_signer *signer, const json_t *claims, char **out /* OUT */);

#endif
