/* Random tokens, their hashes, constant-time comparison; see secret.h. */
#include "core/auth/secret.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/base/rc.h"

int auth_secret_init(void) { return sodium_init() < 0 ? RC_INTERNAL : RC_OK; }

int auth_secret_random(size_t nbytes, char *out, size_t len)
{
    unsigned char raw[64];
    if (nbytes < 1 || nbytes > sizeof raw ||
        len < sodium_base64_ENCODED_LEN(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return RC_INVALID;
    if (auth_secret_init() != RC_OK)
        return RC_INTERNAL;
    randombytes_buf(raw, nbytes);
    sodium_bin2base64(out, len, raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    return RC_OK;
}

void auth_secret_hash(const char *text, char out[AUTH_HASH_LEN])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!EVP_Digest(text, strlen(text), digest, &dlen, EVP_sha256(), NULL) || dlen != 32) {
        /* Never a valid hash, so nothing stored matches it. */
        snprintf(out, AUTH_HASH_LEN, "unhashable");
        return;
    }
    for (unsigned i = 0; i < dlen; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

bool auth_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && sodium_memcmp(a, b, la) == 0;
}
