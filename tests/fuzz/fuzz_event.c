/*
 * Fuzzes event payloads as a consumer sees them: NUL-terminated text from
 * the event log, parsed by jx_parse the way the inbox does, then the
 * envelope and the fields a handler typically reads (ids checked as
 * tokens before use, as keys and ids from the wire must be).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void fuzz_read_event(const json_t *payload)
{
    struct jx_reader r;
    jx_reader_init(&r, payload);
    const char *type = jx_str(&r, "eventType", JX_REQUIRED, 64);
    const char *id = jx_str(&r, "eventId", JX_REQUIRED, 64);
    int64_t ts = jx_int(&r, "timestamp", JX_REQUIRED, 0, INT64_MAX);
    const char *user = jx_str(&r, "userId", JX_REQUIRED, 64);
    int64_t points = jx_int(&r, "points", JX_OPTIONAL, -1000000000, 1000000000);
    int64_t amount = jx_int(&r, "amount", JX_OPTIONAL, 0, 1000000000);
    const char *webtoon = jx_str(&r, "webtoonId", JX_OPTIONAL, 64);
    int64_t episode = jx_int(&r, "episodeNo", JX_OPTIONAL, 1, 100000);
    if (r.rc == RC_OK && !id_is_token(user, strlen(user), 64))
        jx_fail(&r, RC_BAD_EVENT, "userId is not a token");
    if (r.rc == RC_OK && webtoon && !id_is_token(webtoon, strlen(webtoon), 64))
        jx_fail(&r, RC_BAD_EVENT, "webtoonId is not a token");
    if (r.rc != RC_OK) {
        FUZZ_CHECK(r.detail[0] != '\0');
        return;
    }
    FUZZ_CHECK(type && id && user && strlen(type) <= 64 && strlen(id) <= 64);
    FUZZ_CHECK(ts >= 0 && amount >= 0 && points >= -1000000000 && episode >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool hooked;
    if (!hooked) {
        mem_install_json_hooks();
        hooked = true;
    }
    /* the log stores text: what it hands out ends at the first NUL */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    json_t *payload = NULL;
    char detail[160];
    int rc = jx_parse(text, strlen(text), true, &payload, detail, sizeof detail);
    if (rc == RC_OK)
        fuzz_read_event(payload);
    else
        FUZZ_CHECK(rc == RC_BAD_JSON && payload == NULL);
    json_decref(payload);
    free(text);
    return 0;
}
