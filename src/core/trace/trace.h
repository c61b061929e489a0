/*
 * Distributed tracing: W3C Trace Context (the `traceparent` header) and
 * spans exported to an OpenTelemetry collector with OTLP/HTTP (otlp.c).
 *
 * One piece of work across services (a saga, say) is one trace. A context
 * (trace id, span id, sampled flag) arrives with a request or an event,
 * becomes the thread's current context while that work runs
 * (trace_set_current), and every log line written meanwhile carries its
 * ids; events added meanwhile get child spans of it (outbox), so the next
 * service continues the same trace.
 *
 * Contexts are always made and propagated; spans are recorded only while
 * this process runs an exporter (WEBTOON_OTLP_ENDPOINT) and the context is
 * sampled. Without an exporter a span costs its ids and a clock read, and
 * nothing is queued. A span lives in the caller's storage with bounded room
 * for attributes: no call here allocates.
 *
 * Thread-safety: the current context is per thread; a span belongs to one
 * thread at a time; submitting and the exporter are safe from any thread.
 */
#ifndef WEBTOON_TRACE_H
#define WEBTOON_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"

#define TRACE_ID_HEX 32     /* a trace id: 16 bytes as lowercase hex */
#define TRACE_SPAN_HEX 16   /* a span id: 8 bytes as lowercase hex */
#define TRACE_PARENT_LEN 55 /* "00-<trace id>-<span id>-<flags>", without the NUL */

/* A position in a trace: the trace and the span that work belongs to. */
struct trace_ctx {
    char trace_id[TRACE_ID_HEX + 1]; /* lowercase hex, never all zeros */
    char span_id[TRACE_SPAN_HEX + 1];
    bool sampled; /* the caller wants it recorded (trace-flags bit 0) */
};

/* --- traceparent ---------------------------------------------------------------- */

/*
 * Parses the traceparent value <s> (<len> bytes, untrusted; blanks around
 * it are ignored) into <out>: "00-<32 hex>-<16 hex>-<2 hex>", lowercase,
 * neither id all zeros. A later version (01..fe) is read as the spec says:
 * its first 55 characters in this format, then nothing or '-' and more.
 * Version ff is invalid. Returns RC_OK, or RC_INVALID with <out> cleared.
 */
int trace_parse(const char *s, size_t len, struct trace_ctx *out /* OUT */);
/* Writes <ctx> as a version-00 traceparent into <out> (TRACE_PARENT_LEN + 1
 * bytes). <ctx> must be valid. */
void trace_format(const struct trace_ctx *ctx, char *out /* OUT */);
/* True when <ctx> is not NULL and holds two well-formed, non-zero ids. */
bool trace_ctx_is_valid(const struct trace_ctx *ctx);

/*
 * A context for new work below <parent>: the same trace and sampled flag
 * with a new span id; without a valid <parent> (NULL, or invalid), a new
 * trace, sampled. Ids are random (a per-thread generator seeded from
 * getrandom(2); see trace.c). When <parent_span> is not NULL it receives
 * the parent's span id, "" for a new trace (TRACE_SPAN_HEX + 1 bytes).
 */
void trace_ctx_child(const struct trace_ctx *parent, struct trace_ctx *out /* OUT */,
                     char *parent_span /* OUT, may be NULL */);

/* --- the thread's current context ------------------------------------------------ */

/* Makes a copy of <ctx> the calling thread's current context (NULL: none),
 * for as long as a request or an event is being handled on the thread. */
void trace_set_current(const struct trace_ctx *ctx);
/* The calling thread's current context, or NULL; borrowed until the next
 * trace_set_current on this thread. */
const struct trace_ctx *trace_current(void);

/* --- spans ------------------------------------------------------------------------ */

/* OTLP's SpanKind numbers. */
enum trace_kind {
    TRACE_INTERNAL = 1,
    TRACE_SERVER = 2,
    TRACE_CLIENT = 3,
    TRACE_PRODUCER = 4,
    TRACE_CONSUMER = 5,
};

#define TRACE_NAME_MAX 96     /* bytes of a span name kept, NUL included */
#define TRACE_ATTRS_MAX 10    /* attributes per span; more are counted as dropped */
#define TRACE_ATTR_KEY_MAX 32 /* bytes of a key kept, NUL included */
#define TRACE_ATTR_STR_MAX 96 /* bytes of a string value kept, NUL included */
#define TRACE_STATUS_MAX 96   /* bytes of an error message kept, NUL included */

struct trace_attr {
    char key[TRACE_ATTR_KEY_MAX];
    bool is_int;
    int64_t i;                  /* when is_int */
    char s[TRACE_ATTR_STR_MAX]; /* otherwise; valid UTF-8 */
};

/* One span. Fill it with trace_span_begin or trace_span_make; strings are
 * cut to their room (at a character boundary) and bytes that are not UTF-8
 * become '?'. */
struct trace_span {
    struct trace_ctx ctx;                    /* this span's trace, its own id, sampled */
    char parent_span_id[TRACE_SPAN_HEX + 1]; /* "" for the root of a trace */
    char name[TRACE_NAME_MAX];
    enum trace_kind kind;
    int64_t start_ns, end_ns; /* Unix time, nanoseconds; end 0 until ended */
    bool recording;           /* an exporter runs and ctx is sampled: attributes are kept */
    bool error;               /* status ERROR (else UNSET) */
    char status_message[TRACE_STATUS_MAX];
    bool has_link;
    struct trace_ctx link; /* when has_link: the span this one follows from */
    struct trace_attr attrs[TRACE_ATTRS_MAX];
    size_t nattrs;
    uint32_t dropped_attrs; /* attributes that found no room */
};

/*
 * Starts a span of <kind> called <name> (NULL: "", see trace_span_set_name)
 * below <parent> (NULL or invalid: the root of a new trace), now. Its
 * context is sp->ctx; the caller makes it current if work runs under it.
 */
void trace_span_begin(struct trace_span *sp, const char *name, enum trace_kind kind,
                      const struct trace_ctx *parent);
/*
 * Fills <sp> for a span that already happened, from explicit ids (hex
 * strings, as in a traceparent): <trace_id> (32), <span_id> (16), and
 * <parent_span_id> (16, or NULL/"" for a root), <sampled>, and its Unix
 * start and end in nanoseconds. Then add attributes and hand it to
 * trace_span_submit. Returns RC_INVALID (and <sp> records nothing) when an
 * id is malformed or end is before start. E.g. the gateway's span from an
 * access log line: its trace and span ids, the client's span id or NULL,
 * the client's sampled flag, start_ms * 1000000 and (start_ms +
 * duration_ms) * 1000000.
 */
int trace_span_make(struct trace_span *sp, const char *name, enum trace_kind kind,
                    const char *trace_id, const char *span_id, const char *parent_span_id,
                    bool sampled, int64_t start_unix_ns, int64_t end_unix_ns);
void trace_span_set_name(struct trace_span *sp, const char *name);
/* Adds attribute <key> (copied) with a string (copied) or integer value;
 * nothing when the span is not recording. */
void trace_span_attr_str(struct trace_span *sp, const char *key, const char *value);
void trace_span_attr_int(struct trace_span *sp, const char *key, int64_t value);
/* Links <sp> to <linked> (a valid context, e.g. the producer of an event). */
void trace_span_link(struct trace_span *sp, const struct trace_ctx *linked);
/* Sets the span's status to ERROR with <message> (NULL: none). */
void trace_span_set_error(struct trace_span *sp, const char *message);
/* Ends <sp> now (unless an end is set) and submits it. */
void trace_span_end(struct trace_span *sp);
/*
 * Queues a copy of the finished span <sp> for export. Never blocks on the
 * network: when the queue is full the span is dropped and counted. Does
 * nothing when <sp> is not recording (no exporter, or not sampled).
 */
void trace_span_submit(const struct trace_span *sp);

/* <method> when it is a standard HTTP method, else "_OTHER": span names and
 * attributes never hold what a client made up (OpenTelemetry's HTTP
 * conventions). Borrowed, static. */
const char *trace_http_method(const char *method);

/* Unix time now in nanoseconds (the clock spans are measured with). */
int64_t trace_now_ns(void);

/* --- the exporter (otlp.c) ------------------------------------------------------ */

#define TRACE_QUEUE_DEFAULT 2048 /* spans waiting for export at most */
#define TRACE_BATCH_DEFAULT 512  /* spans per request at most */
#define TRACE_FLUSH_DEFAULT_MS 1000
#define TRACE_TIMEOUT_DEFAULT_MS 2000
#define TRACE_STOP_DEFAULT_MS 2000 /* what a process grants the final flush */

struct trace_export_options {
    const char *endpoint;      /* OTLP/HTTP base URL (http:// or https://); spans are
                                * POSTed to <endpoint>/v1/traces */
    const char *service_name;  /* the resource's service.name */
    size_t queue_max;          /* 0: TRACE_QUEUE_DEFAULT */
    size_t batch_max;          /* 0: TRACE_BATCH_DEFAULT */
    int64_t flush_interval_ms; /* a partial batch waits at most this long; 0: default */
    int64_t timeout_ms;        /* one POST at most; 0: TRACE_TIMEOUT_DEFAULT_MS */
};

/*
 * Starts this process's exporter: a thread that sends queued spans in
 * batches. One per process: RC_CONFLICT when one runs. RC_CONFIG (reason in
 * <err>) for an endpoint that is not an http(s) URL. A collector that is
 * down is not an error: its spans are dropped and counted
 * (webtoon_trace_spans_dropped_total).
 */
int trace_export_start(const struct trace_export_options *opts, char *err, size_t errlen);
/* trace_export_start with WEBTOON_OTLP_ENDPOINT of <cfg> and <service_name>;
 * RC_OK and nothing started when the setting is empty. */
int trace_export_start_config(const struct config *cfg, const char *service_name, char *err,
                              size_t errlen);
/* True while an exporter runs (spans are recorded). */
bool trace_export_is_running(void);
/* Sends what is queued for at most <flush_ms>, drops (and counts) the
 * rest, stops the thread. Nothing when none runs. Spans submitted from now
 * on are not exported (safe from other threads): call it once the threads
 * that make spans are done. */
void trace_export_stop(int64_t flush_ms);

#endif
