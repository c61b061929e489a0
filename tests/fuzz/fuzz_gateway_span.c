/*
 * Fuzzes the gateway's span maker with what may arrive on its UDP port
 * (anything a local process sends, not only HAProxy's log lines): it must
 * never crash, and a span it makes is well-formed: valid ids, end not
 * before start, a name.
 */
#include <stdint.h>
#include <stdlib.h>

#include "app/gateway_spans.h"
#include "core/base/rc.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > GATEWAY_SPAN_LINE_MAX)
        return 0; /* a datagram is never longer */
    struct trace_span span;
    int rc = gateway_span_from_line((const char *)data, size, &span);
    FUZZ_CHECK(rc == RC_OK || rc == RC_NOT_FOUND || rc == RC_INVALID);
    if (rc == RC_OK) {
        FUZZ_CHECK(trace_ctx_is_valid(&span.ctx));
        FUZZ_CHECK(span.end_ns >= span.start_ns);
        FUZZ_CHECK(span.name[0] != '\0');
        FUZZ_CHECK(span.kind == TRACE_SERVER);
    }
    return 0;
}
