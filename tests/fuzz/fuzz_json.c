/*
 * Fuzzes JSON request bodies: jx_parse on raw bytes as the HTTP layer gets
 * them, then the reads a handler makes (typed, bounded fields through a
 * jx_reader; jx_only's list of the fields a request may have), then a dump and re-parse that must give the same value.
 * jansson allocates through our hook, as in the server.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Reads every member of <obj> both as a string and as an integer, with
 * fresh readers, and checks what comes back against the raw value. */
static void fuzz_read_all(const json_t *obj)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        struct jx_reader r;
        jx_reader_init(&r, obj);
        const char *s = jx_str(&r, key, JX_REQUIRED, 64);
        if (s) {
            FUZZ_CHECK(r.rc == RC_OK && json_is_string(value));
            size_t len = strlen(s);
            FUZZ_CHECK(len >= 1 && len <= 64 && len == json_string_length(value));
        } else {
            FUZZ_CHECK(r.rc == RC_INVALID && r.detail[0] != '\0');
        }
        jx_reader_init(&r, obj);
        int64_t n = jx_int(&r, key, JX_OPTIONAL, -1000000, 1000000);
        if (r.rc == RC_OK && jx_has(&r, key))
            FUZZ_CHECK(n >= -1000000 && n <= 1000000 &&
                       (json_is_integer(value)
                            ? n == json_integer_value(value)
                            : json_is_real(value) && (double)n == json_real_value(value)));
        jx_reader_init(&r, obj);
        (void)jx_text(&r, key, JX_OPTIONAL, 8);
        FUZZ_CHECK((r.rc == RC_OK) == (r.detail[0] == '\0'));
        jx_reader_init(&r, obj);
        jx_only(&r, "a", "userId", key, (const char *)NULL);
        FUZZ_CHECK(r.rc == RC_OK || r.rc == RC_INVALID);
    }
    /* jx_only with no name refuses any non-empty object, with a reason */
    struct jx_reader r;
    jx_reader_init(&r, obj);
    jx_only(&r, (const char *)NULL);
    FUZZ_CHECK((r.rc == RC_OK) == (json_object_size(obj) == 0));
}

/* The fields a typical handler reads, sharing one sticky reader. */
static void fuzz_read_typical(const json_t *obj)
{
    struct jx_reader r;
    jx_reader_init(&r, obj);
    (void)jx_str(&r, "userId", JX_REQUIRED, 64);
    (void)jx_str(&r, "name", JX_OPTIONAL, 200);
    (void)jx_int(&r, "amount", JX_REQUIRED, 1, 1000000000);
    (void)jx_int(&r, "episodeNo", JX_OPTIONAL, 1, 100000);
    if (jx_has(&r, "price") && !jx_has(&r, "currency"))
        jx_fail(&r, RC_UNPROCESSABLE, "'price' needs '%s'", "currency");
    FUZZ_CHECK((r.rc == RC_OK) == (r.detail[0] == '\0'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool hooked;
    if (!hooked) {
        mem_install_json_hooks();
        hooked = true;
    }
    json_t *v = (json_t *)1;
    char detail[256];
    int rc = jx_parse((const char *)data, size, true, &v, detail, sizeof detail);
    if (rc != RC_OK) {
        FUZZ_CHECK(rc == RC_BAD_JSON && v == NULL && detail[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(json_is_object(v));
    fuzz_read_all(v);
    fuzz_read_typical(v);

    char *text = jx_dump(v);
    FUZZ_CHECK(text != NULL);
    json_t *again = NULL;
    rc = jx_parse(text, strlen(text), true, &again, detail, sizeof detail);
    FUZZ_CHECK(rc == RC_OK && json_equal(v, again));
    json_decref(again);
    mem_free(text);
    json_decref(v);
    return 0;
}
