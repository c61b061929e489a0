/*
 * Random secrets and their stored forms, over libsodium: opaque tokens
 * (session cookies, codes, refresh tokens, client secrets, jti) are random
 * bytes in base64url without padding; only their SHA-256 is ever stored;
 * comparisons of secrets take constant time.
 */
#ifndef WEBTOON_AUTH_SECRET_H
#define WEBTOON_AUTH_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_TOKEN_BYTES 32 /* entropy of every opaque token */
/* base64url of AUTH_TOKEN_BYTES, without padding, and its NUL */
#define AUTH_TOKEN_LEN 44
#define AUTH_HASH_LEN 65 /* hex SHA-256 and its NUL */

/* Initialises libsodium (idempotent, thread-safe). RC_OK or RC_INTERNAL. */
int auth_secret_init(void);

/* Writes a new random token of <nbytes> (1..64) random bytes, base64url
 * without padding, into <out> (<len> bytes, at least 4 * <nbytes> / 3 + 2).
 * Returns RC_OK, RC_INTERNAL when libsodium cannot start or RC_INVALID when
 * <out> is too small. */
int auth_secret_random(size_t nbytes, char *out /* OUT */, size_t len);

/* Writes the hex SHA-256 of <text> into <out> (AUTH_HASH_LEN bytes): the
 * only form in which a token is stored. */
void auth_secret_hash(const char *text, char out[AUTH_HASH_LEN]);

/* True when <a> and <b> are the same string; the time taken depends only
 * on their lengths. */
bool auth_secret_equal(const char *a, const char *b);

#endif
