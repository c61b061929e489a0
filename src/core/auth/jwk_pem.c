/* JWK to PEM for RS256 and ES256 public keys; see jwk_pem.h. OpenSSL 3's
 * EVP_PKEY_fromdata builds the key (and checks that an EC point lies on the
 * curve), PEM_write_bio_PUBKEY writes it. */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/auth/jwk_pem.h"
#include "core/base/rc.h"

#define JWK_RSA_MIN_BITS 2048  /* RFC 7518 section 3.3 */
#define JWK_RSA_MAX_BYTES 1024 /* 8192 bits */
#define JWK_RSA_EXP_MAX_BYTES 8
#define JWK_P256_COORD 32 /* RFC 7518 section 6.2.1.2: the full length, always */

const char *auth_jwk_alg_name(enum auth_jwk_alg alg)
{
    return alg == AUTH_JWK_ES256 ? "ES256" : "RS256";
}

static int jwk_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes the unpadded base64url string <in> into <out> (<cap> bytes),
 * its length in <n>. False for any other character, padding, a length no
 * encoder produces, stray bits in the last character, or too long. */
static bool jwk_b64url_decode(const char *in, unsigned char *out, size_t cap, size_t *n)
{
    size_t len = strlen(in), o = 0;
    if (len % 4 == 1)
        return false;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = jwk_b64url_value((unsigned char)in[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return false;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* the unused low bits of the last character must be zero */
        return false;
    *n = o;
    return true;
}

/* Member <name> of <jwk> as a base64url string decoded into <out>. */
static bool jwk_bytes(const json_t *jwk, const char *name, unsigned char *out, size_t cap,
                      size_t *n)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    return s && jwk_b64url_decode(s, out, cap, n) && *n > 0;
}

/* Builds the public key of type <type> ("RSA", "EC") from <params>. */
static EVP_PKEY *jwk_from_params(const char *type, const OSSL_PARAM *params)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static int jwk_rsa(const json_t *jwk, EVP_PKEY **out, char *err, size_t errlen)
{
    unsigned char n[JWK_RSA_MAX_BYTES], e[JWK_RSA_EXP_MAX_BYTES];
    size_t nlen, elen;
    if (!jwk_bytes(jwk, "n", n, sizeof n, &nlen) || !jwk_bytes(jwk, "e", e, sizeof e, &elen)) {
        snprintf(err, errlen, "an RSA key needs n and e in base64url (at most 8192 bits)");
        return RC_INVALID;
    }
    int rc = RC_NOMEM;
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL), *bn_e = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    if (!bn_n || !bn_e || !bld)
        goto out;
    if (BN_num_bits(bn_n) < JWK_RSA_MIN_BITS || !BN_is_odd(bn_e) || BN_is_one(bn_e)) {
        snprintf(err, errlen,
                 "an RS256 key needs a modulus of at least %d bits and an odd "
                 "exponent above 1 (this one: %d bits)",
                 JWK_RSA_MIN_BITS, BN_num_bits(bn_n));
        rc = RC_INVALID;
        goto out;
    }
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)))
        goto out;
    *out = jwk_from_params("RSA", params);
    rc = *out ? RC_OK : RC_INVALID;
    if (rc != RC_OK)
        snprintf(err, errlen, "OpenSSL refused the RSA key");
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_e);
    BN_free(bn_n);
    return rc;
}

static int jwk_p256(const json_t *jwk, EVP_PKEY **out, char *err, size_t errlen)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    if (!crv || strcmp(crv, "P-256") != 0) {
        snprintf(err, errlen, "an EC key must be on P-256 (crv), not %s", crv ? crv : "(none)");
        return RC_INVALID;
    }
    /* The uncompressed point: 0x04 || x || y (SEC 1, section 2.3.3). */
    unsigned char point[1 + 2 * JWK_P256_COORD] = {0x04};
    size_t xlen, ylen;
    if (!jwk_bytes(jwk, "x", point + 1, JWK_P256_COORD, &xlen) ||
        !jwk_bytes(jwk, "y", point + 1 + JWK_P256_COORD, JWK_P256_COORD, &ylen) ||
        xlen != JWK_P256_COORD || ylen != JWK_P256_COORD) {
        snprintf(err, errlen, "a P-256 key needs x and y of 32 bytes each in base64url");
        return RC_INVALID;
    }
    int rc = RC_NOMEM;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)))
        goto out;
    *out = jwk_from_params("EC", params);
    rc = *out ? RC_OK : RC_INVALID;
    if (rc != RC_OK)
        snprintf(err, errlen, "the EC point is not on P-256");
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

int auth_jwk_pem(const json_t *jwk, enum auth_jwk_alg *alg, char *pem, size_t len, char *err,
                 size_t errlen)
{
    if (!json_is_object(jwk)) {
        snprintf(err, errlen, "a key must be a JSON object");
        return RC_INVALID;
    }
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const json_t *alg_json = json_object_get(jwk, "alg");
    const char *named = json_string_value(alg_json);
    bool rsa = kty && !strcmp(kty, "RSA"), ec = kty && !strcmp(kty, "EC");
    if (!rsa && !ec) {
        snprintf(err, errlen, "key type (kty) %s is neither RSA nor EC", kty ? kty : "(none)");
        return RC_INVALID;
    }
    if (json_object_get(jwk, "use") && (!use || strcmp(use, "sig") != 0)) {
        snprintf(err, errlen, "not a signing key (use is %s)", use ? use : "not a string");
        return RC_INVALID;
    }
    *alg = ec ? AUTH_JWK_ES256 : AUTH_JWK_RS256;
    if (alg_json && (!named || strcmp(named, auth_jwk_alg_name(*alg)) != 0)) {
        snprintf(err, errlen, "algorithm (alg) %s is not %s", named ? named : "(not a string)",
                 auth_jwk_alg_name(*alg));
        return RC_INVALID;
    }
    EVP_PKEY *pkey = NULL;
    int rc = rsa ? jwk_rsa(jwk, &pkey, err, errlen) : jwk_p256(jwk, &pkey, err, errlen);
    if (rc != RC_OK)
        return rc;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;
    rc = RC_NOMEM;
    if (bio && PEM_write_bio_PUBKEY(bio, pkey) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0) {
        if ((size_t)n < len) {
            memcpy(pem, data, (size_t)n);
            pem[n] = '\0';
            rc = RC_OK;
        } else {
            snprintf(err, errlen, "the key's PEM is longer than %zu bytes", len);
            rc = RC_INVALID;
        }
    }
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return rc;
}
