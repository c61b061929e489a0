/*
 * Fuzzes the If-None-Match matcher with whatever a client may send. Besides
 * the sanitizers, a match is checked against the contract of
 * http__etag_list_matches: the value is "*" (blanks aside) or holds the tag
 * itself; and a value that matches still matches once blanks surround it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http/http_internal.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const char fuzz_tag[] = "\"0123456789abcdef\"";

/* True when <text>/<size> is "*" once blanks around it are left out. */
static bool fuzz_is_star(const char *text, size_t size)
{
    size_t b = 0, e = size;
    while (b < e && (text[b] == ' ' || text[b] == '\t'))
        b++;
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t'))
        e--;
    return e - b == 1 && text[b] == '*';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact copy, so a read past the value's end is caught */
    char *text = malloc(size + 2);
    if (!text)
        return 0;
    memcpy(text + 1, data, size);
    bool matched = http__etag_list_matches(text + 1, size, fuzz_tag);
    if (matched) {
        FUZZ_CHECK(fuzz_is_star(text + 1, size) ||
                   memmem(text + 1, size, fuzz_tag, sizeof fuzz_tag - 1) != NULL);
        text[0] = ' ';
        text[size + 1] = '\t';
        FUZZ_CHECK(http__etag_list_matches(text, size + 2, fuzz_tag));
    }
    free(text);
    return 0;
}
