/*
 * The gateway's spans. HAProxy cannot export OpenTelemetry spans, but it
 * logs every request with its trace ids and timings (deploy/haproxy); when
 * spans are exported, its configuration sends a copy of each log line as a
 * UDP datagram to 127.0.0.1:<port> of this module's socket, and each line
 * becomes one SERVER span of service "gateway", the parent of the span of
 * the service the request went to.
 *
 * Bounded: a datagram is one line of at most GATEWAY_SPAN_LINE_MAX bytes;
 * a burst the socket cannot hold is dropped by the kernel, and the
 * exporter's queue drops and counts the rest (trace.h). Probes (/healthz,
 * /readyz, /metrics) make no span.
 */
#ifndef WEBTOON_APP_GATEWAY_SPANS_H
#define WEBTOON_APP_GATEWAY_SPANS_H

#include <stddef.h>

#include "core/trace/trace.h"

#define GATEWAY_SPAN_LINE_MAX 8192 /* HAProxy's `len` for that log target */

struct gateway_spans;

/* Binds a UDP socket on 127.0.0.1 at a port the kernel picks, returned in
 * <port>. Returns RC_OK with a new handle in <out> (free with
 * gateway_spans_close), RC_NOMEM or RC_IO. */
int gateway_spans_open(struct gateway_spans **out /* OUT */, int *port /* OUT */);
/* The socket, for poll(2) (POLLIN). */
int gateway_spans_fd(const struct gateway_spans *s);
/* Turns the datagrams waiting on the socket into spans (at most a few
 * hundred per call, so the caller's loop keeps turning). Never blocks. */
void gateway_spans_drain(struct gateway_spans *s);
/* Closes the socket and frees <s>; NULL does nothing. */
void gateway_spans_close(struct gateway_spans *s);

/*
 * Fills <out> from one gateway log line (<len> bytes of JSON, untrusted:
 * anything local may send to the port). Returns RC_OK, RC_NOT_FOUND for a
 * line that makes no span (a probe, or a request HAProxy could not parse
 * and gave no ids), or RC_INVALID for a line that is not a request line.
 */
int gateway_span_from_line(const char *line, size_t len, struct trace_span *out /* OUT */);

#endif
