/*
 * One public signing key of a JWKS (RFC 7517), as the PEM text that OpenSSL
 * and HAProxy read ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo).
 * Only the two kinds of key the system accepts come through: RSA keys for
 * RS256 (at least 2048 bits) and P-256 keys for ES256. Everything else a key
 * set may hold (encryption keys, other curves, other algorithms, private
 * parts we never read) is refused with a reason, so that the caller can skip
 * it and say why.
 */
#ifndef WEBTOON_AUTH_JWK_PEM_H
#define WEBTOON_AUTH_JWK_PEM_H

#include <jansson.h>
#include <stddef.h>

/* The signature algorithms a key may be used with: the only two accepted. */
enum auth_jwk_alg {
    AUTH_JWK_RS256,
    AUTH_JWK_ES256,
};

/* Longest PEM auth_jwk_pem writes, NUL included: an 8192-bit RSA key. */
#define AUTH_JWK_PEM_MAX 2048

/* "RS256" or "ES256". */
const char *auth_jwk_alg_name(enum auth_jwk_alg alg);

/*
 * Converts <jwk> (one member of a JWKS "keys" array, borrowed) into PEM in
 * <pem> (<len> bytes, AUTH_JWK_PEM_MAX is always enough) and the algorithm
 * it signs with in <alg>: the key's "alg" when it has one (it must then be
 * RS256 for an RSA key, ES256 for an EC key), else RS256 for RSA and ES256
 * for P-256. A "use" other than "sig" is refused. The kid is not looked at.
 * Returns RC_OK; RC_INVALID with a reason in <err> for a key that is not a
 * usable RS256/ES256 public key (a point off the curve, a short modulus,
 * bad base64url); RC_NOMEM.
 */
int auth_jwk_pem(const json_t *jwk, enum auth_jwk_alg *alg /* OUT */, char *pem /* OUT */,
                 size_t len, char *err, size_t errlen);

#endif
