/*
 * Verifying bearer tokens: JWS compact tokens signed by the issuer with one
 * of the keys of its JWKS (RS256 or ES256 only, the key chosen by `kid` and
 * of the algorithm's own type), carrying the configured `iss`, an `aud`
 * that names the API, an `exp` in the future and no `nbf` in the future
 * (AUTH_CLOCK_SKEW_S either way).
 *
 * One verifier per process holds the key set; a thread of its own fetches
 * it at start, every AUTH_JWKS_REFRESH_MS, and soon after a token names a
 * key it does not know (the issuer rotated its keys). Each HTTP thread
 * keeps the last AUTH_CACHE_ENTRIES tokens it verified (least recently
 * used pushed out), so a client's next request costs a lookup, not a
 * signature check, for as many clients as that; a cached token is checked
 * again once the key set changes.
 */
#ifndef WEBTOON_AUTH_VERIFY_H
#define WEBTOON_AUTH_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"

#define AUTH_CLOCK_SKEW_S 30
#define AUTH_USER_MAX 255
#define AUTH_CACHE_ENTRIES 2048 /* verified tokens each HTTP thread keeps */

/* Who a verified token speaks for. */
struct auth_identity {
    char user[AUTH_USER_MAX + 1]; /* preferred_username, else sub */
    char sub[AUTH_USER_MAX + 1];  /* the issuer's id of the subject */
    char azp[AUTH_USER_MAX + 1];  /* the client it was issued to; "" when absent */
    bool reader;                  /* realm role "reader" */
    bool admin;                   /* realm role "admin" */
    int64_t exp;                  /* seconds since the epoch */
};

enum auth_verdict {
    AUTH_VALID,
    AUTH_REFUSED,     /* not a token we accept: 401 */
    AUTH_UNKNOWN_KEY, /* names a key not in the set we have: a refresh may help */
    AUTH_NO_KEYS,     /* the issuer's keys could not be read yet: 503 */
};

struct auth_verifier;
struct auth_cache;

/* Starts the key-fetching thread. RC_OK, or an error with a reason. */
int auth_verifier_start(const struct config *cfg, struct auth_verifier **out /* OUT */, char *err,
                        size_t errlen);
/* Stops the thread and frees <v>; NULL does nothing. */
void auth_verifier_stop(struct auth_verifier *v);
/* True once a key set was read: until then every token gets AUTH_NO_KEYS. */
bool auth_verifier_has_keys(struct auth_verifier *v);

/* A per-thread cache of verified tokens (NULL on allocation failure: then
 * every token is checked in full). */
struct auth_cache *auth_cache_new(void);
void auth_cache_free(struct auth_cache *c);

/* Checks <token> (<len> bytes, without "Bearer "). On AUTH_VALID fills
 * <id>; otherwise writes the reason a client may see into <why>. <cache>
 * may be NULL. Thread-safe; never blocks on the network. */
enum auth_verdict auth_verify(struct auth_verifier *v, struct auth_cache *cache, const char *token,
                              size_t len, struct auth_identity *id /* OUT */, char *why,
                              size_t whylen);

/* Asks the key thread for a fresh key set now (rate-limited), and returns
 * the generation to wait on: auth_keys_generation moves past it once the
 * attempt is over, whether it found new keys or not. */
uint64_t auth_keys_refresh(struct auth_verifier *v);
uint64_t auth_keys_generation(struct auth_verifier *v);

#endif
