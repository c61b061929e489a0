/*
 * Where the issuer is and where its public keys are: the issuer URL every
 * token must carry, and the JWKS document (RFC 7517) fetched from
 * AUTH_JWKS_URL (http:, https: or file:), from the built-in issuer's file
 * in the data directory, or from the issuer's OpenID discovery document.
 */
#ifndef WEBTOON_AUTH_JWKS_H
#define WEBTOON_AUTH_JWKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config/config.h"

/* True when the built-in issuer (`webtoon serve auth`) is the issuer:
 * WEBTOON_AUTH_ISSUER is empty. */
bool auth_issuer_is_builtin(const struct config *cfg);
/* The issuer URL tokens must carry in `iss`: WEBTOON_AUTH_ISSUER, or for the
 * built-in issuer WEBTOON_AUTH_BUILTIN_URL (http://127.0.0.1:<AUTH_PORT>
 * when that is empty). */
void auth_issuer_url(const struct config *cfg, char *url, size_t len);

/* Fetches the issuer's JWKS into <out> (a new reference, an object with a
 * "keys" array). RC_OK, or RC_UNAVAILABLE with a reason in <err>. Blocks
 * for at most a few seconds: call it off the event loops. */
int auth_jwks_fetch(const struct config *cfg, json_t **out /* OUT */, char *err, size_t errlen);

#endif
