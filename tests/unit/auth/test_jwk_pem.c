/* JWK to PEM: the PEM of a converted key is the PEM of the key that made
 * the JWK, and every key the system must not accept is refused with a
 * reason. Keys are generated here with OpenSSL. */
#include "support/test_support.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/auth/jwk_pem.h"
#include "core/base/rc.h"

/* <n> bytes of <in> as unpadded base64url into <out>. */
static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = abc[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = abc[v & 63];
    }
    out[o] = '\0';
}

static void pem_of(EVP_PKEY *pkey, char *out, size_t len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0 && (size_t)n < len);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(bio);
}

/* A new EC P-256 JWK of a fresh key, and that key's PEM in <pem>. */
static json_t *ec_jwk(char *pem, size_t len)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    assert_non_null(pkey);
    unsigned char point[65];
    size_t n = 0;
    assert_int_equal(
        EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &n), 1);
    assert_int_equal(n, 65);
    char x[64], y[64];
    b64url(point + 1, 32, x);
    b64url(point + 33, 32, y);
    pem_of(pkey, pem, len);
    EVP_PKEY_free(pkey);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y,
                     "kid", "ec-1");
}

static json_t *rsa_jwk(unsigned bits, char *pem, size_t len)
{
    EVP_PKEY *pkey = EVP_RSA_gen(bits);
    assert_non_null(pkey);
    BIGNUM *n = NULL, *e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    unsigned char nb[1024], eb[8];
    int nlen = BN_bn2bin(n, nb), elen = BN_bn2bin(e, eb);
    char n64[1400], e64[16];
    b64url(nb, (size_t)nlen, n64);
    b64url(eb, (size_t)elen, e64);
    pem_of(pkey, pem, len);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(pkey);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", n64, "e", e64, "use", "sig",
                     "alg", "RS256");
}

static void test_ec_key_round_trips(void **state)
{
    (void)state;
    char want[AUTH_JWK_PEM_MAX], got[AUTH_JWK_PEM_MAX], err[200];
    json_t *jwk = ec_jwk(want, sizeof want);
    enum auth_jwk_alg alg = AUTH_JWK_RS256;
    assert_int_equal(auth_jwk_pem(jwk, &alg, got, sizeof got, err, sizeof err), RC_OK);
    assert_int_equal(alg, AUTH_JWK_ES256);
    assert_string_equal(got, want);
    assert_non_null(strstr(got, "-----BEGIN PUBLIC KEY-----"));
    /* with its algorithm named */
    json_object_set_new(jwk, "alg", json_string("ES256"));
    assert_int_equal(auth_jwk_pem(jwk, &alg, got, sizeof got, err, sizeof err), RC_OK);
    json_decref(jwk);
}

static void test_rsa_key_round_trips(void **state)
{
    (void)state;
    char want[AUTH_JWK_PEM_MAX], got[AUTH_JWK_PEM_MAX], err[200];
    json_t *jwk = rsa_jwk(2048, want, sizeof want);
    enum auth_jwk_alg alg = AUTH_JWK_ES256;
    assert_int_equal(auth_jwk_pem(jwk, &alg, got, sizeof got, err, sizeof err), RC_OK);
    assert_int_equal(alg, AUTH_JWK_RS256);
    assert_string_equal(got, want);
    assert_string_equal(auth_jwk_alg_name(alg), "RS256");
    json_decref(jwk);
}

static void test_largest_rsa_key_fits(void **state)
{
    (void)state;
    /* An 8192-bit modulus (generating a real key takes half a minute; the
     * conversion does not care whether the modulus has two prime factors). */
    unsigned char n[1024];
    memset(n, 0xc5, sizeof n);
    char n64[1400], got[AUTH_JWK_PEM_MAX], err[200];
    b64url(n, sizeof n, n64);
    json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n64, "e", "AQAB");
    enum auth_jwk_alg alg;
    assert_int_equal(auth_jwk_pem(jwk, &alg, got, sizeof got, err, sizeof err), RC_OK);
    assert_non_null(strstr(got, "-----END PUBLIC KEY-----"));
    /* one byte more is refused, and a buffer too small is an error, not a
     * truncation */
    unsigned char more[1025];
    memset(more, 0xc5, sizeof more);
    b64url(more, sizeof more, n64);
    json_object_set_new(jwk, "n", json_string(n64));
    assert_int_equal(auth_jwk_pem(jwk, &alg, got, sizeof got, err, sizeof err), RC_INVALID);
    b64url(n, sizeof n, n64);
    json_object_set_new(jwk, "n", json_string(n64));
    assert_int_equal(auth_jwk_pem(jwk, &alg, got, 100, err, sizeof err), RC_INVALID);
    json_decref(jwk);
}

/* Sets <member> of a copy of <jwk> to <value> (NULL: removes it) and expects
 * a refusal whose reason contains <why>. */
static void refused(const json_t *jwk, const char *member, json_t *value, const char *why)
{
    json_t *copy = json_deep_copy(jwk);
    if (value)
        json_object_set_new(copy, member, value);
    else
        json_object_del(copy, member);
    char pem[AUTH_JWK_PEM_MAX], err[200] = "";
    enum auth_jwk_alg alg;
    assert_int_equal(auth_jwk_pem(copy, &alg, pem, sizeof pem, err, sizeof err), RC_INVALID);
    if (!strstr(err, why))
        fail_msg("%s: reason \"%s\" does not say \"%s\"", member, err, why);
    json_decref(copy);
}

static void test_unusable_keys_are_refused_with_a_reason(void **state)
{
    (void)state;
    char pem[AUTH_JWK_PEM_MAX];
    json_t *ec = ec_jwk(pem, sizeof pem), *rsa = rsa_jwk(2048, pem, sizeof pem);
    refused(ec, "kty", json_string("oct"), "kty");
    refused(ec, "kty", NULL, "kty");
    refused(ec, "use", json_string("enc"), "use");
    refused(ec, "alg", json_string("ES384"), "ES384");
    refused(ec, "alg", json_string("none"), "none");
    refused(ec, "alg", json_string("HS256"), "HS256");
    refused(rsa, "alg", json_string("RSA-OAEP"), "RSA-OAEP");
    refused(rsa, "alg", json_string("PS256"), "PS256");
    refused(rsa, "alg", json_string("ES256"), "ES256"); /* an RSA key for ES256 */
    refused(ec, "alg", json_string("RS256"), "RS256");
    refused(ec, "crv", json_string("P-384"), "P-256");
    refused(ec, "x", json_string("AAAA"), "32 bytes");
    refused(ec, "y", NULL, "32 bytes");
    refused(ec, "x", json_string("not base64url!"), "base64url");
    refused(ec, "x", json_integer(7), "base64url");
    /* a point off the curve: x and y of a real key, y changed */
    const char *y = json_string_value(json_object_get(ec, "y"));
    char off[64];
    snprintf(off, sizeof off, "%s", y);
    off[5] = off[5] == 'A' ? 'B' : 'A';
    refused(ec, "y", json_string(off), "not on P-256");
    refused(rsa, "n", json_string("AQAB"), "2048 bits");
    refused(rsa, "e", json_string("AQAA"), "odd"); /* even */
    refused(rsa, "e", json_string("AQ"), "odd");   /* 1 */
    refused(rsa, "n", json_string("A=="), "base64url");
    json_decref(ec);
    json_decref(rsa);
    char err[100];
    enum auth_jwk_alg alg;
    json_t *array = json_array();
    assert_int_equal(auth_jwk_pem(array, &alg, pem, sizeof pem, err, sizeof err), RC_INVALID);
    json_decref(array);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ec_key_round_trips),
        cmocka_unit_test(test_rsa_key_round_trips),
        cmocka_unit_test(test_largest_rsa_key_fits),
        cmocka_unit_test(test_unusable_keys_are_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
