/*
 * The built-in issuer's signing keys, kept in one directory (mode 0700):
 *
 *   signing-key.pem  the current P-256 private key, PKCS#8 PEM, mode 0600
 *   jwks.json        {"keys": [...]}: the public keys tokens may be signed
 *                    with (kty, crv, x, y, kid, alg ES256, use sig), the
 *                    current one first, then the one it replaced
 *
 * A key's kid is its RFC 7638 JWK thumbprint (SHA-256, base64url), so the
 * same key always has the same name. Every change happens under an
 * exclusive flock on <dir>/keys.lock and each file is replaced atomically
 * (written beside it, then renamed), so two processes starting at once
 * agree on one key and a reader never sees half a file. jwks.json is
 * always written before the private key it describes, so no token is ever
 * signed with a key the JWKS does not list yet.
 *
 * The key material is handled by OpenSSL (generation, PEM) and cjose
 * (JWK form, signatures); nothing here encodes keys by hand.
 */
#ifndef WEBTOON_AUTH_KEYS_H
#define WEBTOON_AUTH_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_KID_MAX 64    /* a kid: 43 base64url characters, and room */
#define AUTH_KEYS_KEEP 2   /* public keys jwks.json keeps: current and previous */
#define AUTH_JWKS_MAX 8192 /* bytes jwks.json may have */

/* The current signing key, loaded from a key directory. */
struct auth_signer;

/*
 * Makes sure <dir> (created with its parents when missing, mode 0700)
 * holds a signing key and a jwks.json listing it, generating the key on
 * first use. Safe against concurrent callers (other processes included):
 * the second finds the first one's key and keeps it. Returns RC_OK, or
 * RC_IO / RC_INTERNAL with a reason in <err> (<errlen> bytes).
 */
int auth_keys_ensure(const char *dir, char *err, size_t errlen);

/*
 * Replaces the signing key of <dir> with a new one. jwks.json then lists
 * the new key first and the one it replaced after it (older ones are
 * dropped: AUTH_KEYS_KEEP), so tokens signed before the rotation keep
 * verifying until they expire. Writes the new kid into <kid>
 * (AUTH_KID_MAX + 1 bytes; may be NULL). Returns as auth_keys_ensure.
 */
int auth_keys_rotate(const char *dir, char *kid /* OUT */, char *err, size_t errlen);

/*
 * Loads the current signing key of <dir> (auth_keys_ensure it first).
 * Returns RC_OK with a new signer in <out> (free with auth_signer_free),
 * or RC_IO / RC_INTERNAL with a reason in <err>.
 */
int auth_signer_load(const char *dir, struct auth_signer **out /* OUT */, char *err, size_t errlen);
/* Frees <s>; NULL does nothing. */
void auth_signer_free(struct auth_signer *s);
/* The kid of <s>; borrowed, valid as long as <s>. */
const char *auth_signer_kid(const struct auth_signer *s);
/* The cjose key of <s> (a const cjose_jwk_t *, for signing); borrowed. */
const void *auth_signer_jwk(const struct auth_signer *s);
/* True when the key file <s> was loaded from has been replaced since
 * (a rotation): load it again. */
bool auth_signer_is_stale(const struct auth_signer *s);

/*
 * Reads <dir>/jwks.json. Returns RC_OK with a new NUL-terminated copy in
 * <out> (free with mem_free), RC_NOT_FOUND when there is none, RC_IO.
 */
int auth_keys_read_jwks(const char *dir, char **out /* OUT */);

#endif
