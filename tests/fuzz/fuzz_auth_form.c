/*
 * Fuzzes what the issuer reads from clients before anything else: form
 * bodies (application/x-www-form-urlencoded, the token endpoint and the
 * sign-in pages), Cookie headers and Basic credentials. Whatever the
 * input: no crash, no leak, and a parsed form holds only NUL-free values
 * under distinct names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/rc.h"
#include "svc/auth/auth.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_form f;
    const char *why = NULL;
    int rc = auth_form_parse((const char *)data, size, &f, &why);
    FUZZ_CHECK(rc == RC_OK || rc == RC_INVALID || rc == RC_NOMEM);
    FUZZ_CHECK(rc != RC_INVALID || why);
    if (rc == RC_OK) {
        FUZZ_CHECK(f.n <= AUTH_FORM_MAX_FIELDS);
        for (size_t i = 0; i < f.n; i++)
            for (size_t k = 0; k < i; k++)
                FUZZ_CHECK(strcmp(f.fields[i].name, f.fields[k].name) != 0);
    }
    auth_form_cleanup(&f);

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char id[64], secret[64], value[AUTH_TOKEN_LEN];
    if (auth_basic_parse(text, id, secret, sizeof id))
        FUZZ_CHECK(strlen(id) < sizeof id && strlen(secret) < sizeof secret);
    if (auth_cookie_get(text, AUTH_COOKIE_FLOW, value, sizeof value))
        FUZZ_CHECK(*value && strlen(value) < sizeof value);
    char origin[256];
    if (auth_uri_origin(text, origin, sizeof origin))
        FUZZ_CHECK(!strncmp(origin, text, strlen(origin)));
    free(text);
    return 0;
}
