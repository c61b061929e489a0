/* Claim sets and ES256 signatures of the built-in issuer; see mint.h. */
#include "core/auth/mint.h"

#include <cjose/cjose.h>
#include <string.h>

#include "core/auth/secret.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

/* The identity claims both token kinds carry. */
static int mint_common(const struct auth_claims *c, const char *typ, json_t **out)
{
    *out = NULL;
    char jti[AUTH_TOKEN_LEN];
    int rc = auth_secret_random(18, jti, sizeof jti);
    if (rc != RC_OK)
        return rc;
    json_t *roles = c->admin ? json_pack("[s, s]", AUTH_ROLE_READER, AUTH_ROLE_ADMIN)
                             : json_pack("[s]", AUTH_ROLE_READER);
    json_t *o = roles ? json_pack("{s:s, s:s, s:s, s:{s:o}, s:s, s:I, s:I, s:I, s:s, s:s}", "iss",
                                  c->issuer, "sub", c->subject, "preferred_username", c->username,
                                  "realm_access", "roles", roles, "azp", c->client_id, "iat",
                                  (json_int_t)c->iat, "nbf", (json_int_t)c->iat, "exp",
                                  (json_int_t)(c->iat + c->ttl_s), "jti", jti, "typ", typ)
                      : NULL;
    if (o && c->sid && json_object_set_new(o, "sid", json_string(c->sid)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (!o)
        return RC_NOMEM;
    *out = o;
    return RC_OK;
}

int auth_claims_access(const struct auth_claims *c, json_t **out)
{
    int rc = mint_common(c, "Bearer", out);
    if (rc == RC_OK &&
        (json_object_set_new(*out, "aud", json_string(c->audience)) != 0 ||
         json_object_set_new(*out, "scope", json_string(c->scope ? c->scope : "")) != 0)) {
        json_decref(*out);
        *out = NULL;
        rc = RC_NOMEM;
    }
    return rc;
}

int auth_claims_id(const struct auth_claims *c, json_t **out)
{
    int rc = mint_common(c, "ID", out);
    if (rc == RC_OK &&
        (json_object_set_new(*out, "aud", json_string(c->client_id)) != 0 ||
         (c->nonce && json_object_set_new(*out, "nonce", json_string(c->nonce)) != 0))) {
        json_decref(*out);
        *out = NULL;
        rc = RC_NOMEM;
    }
    return rc;
}

int auth_mint(const struct auth_signer *signer, const json_t *claims, char **out)
{
    *out = NULL;
    char *payload = json_dumps(claims, JSON_COMPACT);
    if (!payload)
        return RC_NOMEM;
    cjose_err cerr;
    int rc = RC_INTERNAL;
    cjose_jws_t *jws = NULL;
    cjose_header_t *hdr = cjose_header_new(&cerr);
    if (hdr && cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &cerr) &&
        cjose_header_set(hdr, "typ", "JWT", &cerr) &&
        cjose_header_set(hdr, CJOSE_HDR_KID, auth_signer_kid(signer), &cerr) &&
        (jws = cjose_jws_sign(auth_signer_jwk(signer), hdr, (const uint8_t *)payload,
                              strlen(payload), &cerr)) != NULL) {
        const char *compact = NULL;
        if (cjose_jws_export(jws, &compact, &cerr) && compact)
            rc = (*out = mem_strdup(compact)) ? RC_OK : RC_NOMEM;
    }
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    mem_free(payload);
    return rc;
}
