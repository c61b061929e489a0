/*
 * Fuzzes the issuer's key set as the gateway reads it: the bytes parsed as
 * JSON, then each member of its "keys" array (or the document itself)
 * through auth_jwk_pem. A key is either refused with a reason, or converted
 * into one PEM public key that OpenSSL reads back, of the kind the
 * algorithm says (RSA for RS256, EC for ES256), within the buffer.
 */
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth/jwk_pem.h"
#include "core/base/rc.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void fuzz_key(const json_t *jwk)
{
    char pem[AUTH_JWK_PEM_MAX], err[200] = "";
    enum auth_jwk_alg alg;
    int rc = auth_jwk_pem(jwk, &alg, pem, sizeof pem, err, sizeof err);
    if (rc != RC_OK) {
        FUZZ_CHECK(rc == RC_INVALID && err[0] != '\0');
        return;
    }
    FUZZ_CHECK(strlen(pem) < sizeof pem);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    FUZZ_CHECK(bio);
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    FUZZ_CHECK(pkey);
    FUZZ_CHECK(EVP_PKEY_is_a(pkey, alg == AUTH_JWK_ES256 ? "EC" : "RSA"));
    if (alg == AUTH_JWK_RS256)
        FUZZ_CHECK(EVP_PKEY_get_bits(pkey) >= 2048);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    json_t *keys = json_object_get(doc, "keys");
    if (json_is_array(keys))
        for (size_t i = 0; i < json_array_size(keys); i++)
            fuzz_key(json_array_get(keys, i));
    else
        fuzz_key(doc);
    json_decref(doc);
    return 0;
}
