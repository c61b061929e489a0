/*
 * Fuzzes what the log shipper makes of a child's output (core/logship):
 * any bytes as a line get labels within their bounds, and the Loki push
 * body built from them (whole, and split where a long line would be) is
 * one valid JSON document whose line is the input itself whenever the
 * input is UTF-8.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/logship/logship.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static bool fuzz_known_level(const char *level)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", "unknown"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (!strcmp(level, levels[i]))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool hooked;
    if (!hooked) {
        mem_install_json_hooks();
        hooked = true;
    }
    const char *text = (const char *)data;
    struct logship_labels lb;
    logship_labels_of(text, size, "fuzz", &lb);
    size_t slen = strnlen(lb.service, sizeof lb.service);
    FUZZ_CHECK(slen >= 1 && slen < sizeof lb.service && fuzz_known_level(lb.level));

    size_t half = logship_cut(text, size, size / 2);
    FUZZ_CHECK(half <= size && (size < 2 || half > 0));
    struct logship_entry entries[] = {
        {.text = text, .len = size, .ts_ns = 1, .source = "fuzz"},
        {.text = text, .len = half, .ts_ns = 2, .source = "fuzz"},
        {.text = text + half, .len = size - half, .ts_ns = 3, .source = "other"},
    };
    char *body = NULL;
    if (logship_body(entries, 3, "webtoon", &body) != RC_OK)
        return 0; /* out of memory only */
    json_t *root = json_loads(body, JSON_ALLOW_NUL, NULL);
    FUZZ_CHECK(root != NULL);
    size_t lines = 0;
    json_t *stream;
    size_t i;
    json_array_foreach(json_object_get(root, "streams"), i, stream)
    {
        lines += json_array_size(json_object_get(stream, "values"));
        FUZZ_CHECK(json_is_string(json_object_get(json_object_get(stream, "stream"), "level")));
    }
    FUZZ_CHECK(lines == 3);
    json_t *whole = json_stringn(text, size); /* NULL: not UTF-8 */
    if (whole) {
        json_t *first = json_array_get(
            json_object_get(json_array_get(json_object_get(root, "streams"), 0), "values"), 0);
        FUZZ_CHECK(json_equal(json_array_get(first, 1), whole));
    }
    json_decref(whole);
    json_decref(root);
    mem_free(body);
    return 0;
}
