/*
 * Fuzzes the W3C traceparent parser with whatever a client or a Kafka
 * header may send. Besides the sanitizers, the answer is checked against
 * trace.h's contract, so a wrong one crashes too: an accepted value gives
 * two lowercase hex ids that are not all zeros, formats as a version-00
 * value of exactly 55 characters that parses back to the same context, and
 * its first 55 characters (blanks aside) are that value but for the
 * version and flags; a refused one leaves the context cleared. Children of
 * the result keep its trace and sampled flag.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/rc.h"
#include "core/trace/trace.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static bool fuzz_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact copy, so a read past the value's end is caught */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    struct trace_ctx c;
    int rc = trace_parse(text, size, &c);
    if (rc != RC_OK) {
        FUZZ_CHECK(rc == RC_INVALID);
        FUZZ_CHECK(c.trace_id[0] == '\0' && c.span_id[0] == '\0' && !c.sampled);
        FUZZ_CHECK(!trace_ctx_is_valid(&c));
        free(text);
        return 0;
    }
    FUZZ_CHECK(trace_ctx_is_valid(&c));
    FUZZ_CHECK(fuzz_lower_hex(c.trace_id, TRACE_ID_HEX));
    FUZZ_CHECK(fuzz_lower_hex(c.span_id, TRACE_SPAN_HEX));
    char out[TRACE_PARENT_LEN + 1];
    memset(out, 'x', sizeof out);
    trace_format(&c, out);
    FUZZ_CHECK(strlen(out) == TRACE_PARENT_LEN && !memcmp(out, "00-", 3));
    const char *v = text;
    size_t left = size;
    while (left > 0 && (*v == ' ' || *v == '\t'))
        v++, left--;
    FUZZ_CHECK(left >= TRACE_PARENT_LEN && !memcmp(v + 2, out + 2, TRACE_PARENT_LEN - 4));
    struct trace_ctx back;
    FUZZ_CHECK(trace_parse(out, strlen(out), &back) == RC_OK);
    FUZZ_CHECK(!memcmp(&back, &c, sizeof c));
    struct trace_ctx child;
    char parent_span[TRACE_SPAN_HEX + 1];
    trace_ctx_child(&c, &child, parent_span);
    FUZZ_CHECK(!strcmp(child.trace_id, c.trace_id) && child.sampled == c.sampled);
    FUZZ_CHECK(!strcmp(parent_span, c.span_id) && trace_ctx_is_valid(&child));
    free(text);
    return 0;
}
