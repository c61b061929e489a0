/*
 * JSON line logger; see log.h. Strings cut to fit a fixed buffer (the
 * message, the service name) are cut at a UTF-8 character boundary: jansson
 * refuses a string that ends inside a multi-byte sequence, and the field
 * would vanish from the line.
 */
#include "core/log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/trace/trace.h"

static char log_service[32] = "webtoon";
static enum log_level log_min = LOG_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

/*
 * Length of the longest prefix of the <len> bytes at <s> that does not end
 * inside a UTF-8 multi-byte sequence; <len> when the last sequence is
 * complete (or not UTF-8 at all: that is not a cut's doing).
 */
static size_t log_utf8_boundary(const char *s, size_t len)
{
    size_t lead = len, tail = 0; /* continuation bytes at the end */
    while (lead > 0 && tail < 3 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80) {
        lead--;
        tail++;
    }
    if (lead == 0)
        return len;
    unsigned char c = (unsigned char)s[lead - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; /* bytes of its sequence */
    return tail + 1 < need ? lead - 1 : len;
}

/* Formats into <out> (<size> bytes, NUL-terminated); a result that does not
 * fit is cut at the last whole UTF-8 character. */
PRINTF_LIKE(3, 0) static void log_vformat(char *out, size_t size, const char *fmt, va_list ap)
{
    int n = vsnprintf(out, size, fmt, ap);
    if (n < 0)
        out[0] = '\0';
    else if ((size_t)n >= size)
        out[log_utf8_boundary(out, size - 1)] = '\0';
}

PRINTF_LIKE(3, 4) static void log_format(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vformat(out, size, fmt, ap);
    va_end(ap);
}

void log_init(const char *service, enum log_level min_level)
{
    log_format(log_service, sizeof log_service, "%s", service);
    log_min = min_level;
}

bool log_is_enabled(enum log_level level) { return level >= log_min; }

/* Writes all of <len> bytes of <data> to stdout, retrying short writes. */
static void log_emit(const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, data, len);
        if (n <= 0)
            return; /* stdout gone: nothing sensible left to do */
        data += n;
        len -= (size_t)n;
    }
}

void log_write(enum log_level level, const char *request_id, json_t *fields, const char *fmt, ...)
{
    if (!log_is_enabled(level)) {
        json_decref(fields);
        return;
    }
    char msg[1024], when[32];
    va_list ap;
    va_start(ap, fmt);
    log_vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clock_format_rfc3339(clock_wall_ms(), when, sizeof when);

    json_t *line = json_object();
    if (line) {
        json_object_set_new(line, "time", json_string(when));
        json_object_set_new(line, "level", json_string(log_level_names[level]));
        json_object_set_new(line, "service", json_string(log_service));
        if (request_id)
            json_object_set_new(line, "requestId", json_string(request_id));
        const struct trace_ctx *trace = trace_current();
        if (trace) {
            json_object_set_new(line, "traceId", json_string(trace->trace_id));
            json_object_set_new(line, "spanId", json_string(trace->span_id));
        }
        json_object_set_new(line, "msg", json_string(msg));
        if (fields)
            json_object_update_missing(line, fields);
    }
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text) {
        size_t len = strlen(text);
        text[len] = '\n'; /* jansson's terminating NUL becomes the newline */
        log_emit(text, len + 1);
        mem_free(text); /* allocated by jansson through our hook */
    } else {
        /* Out of memory: still say something, without allocating. */
        char fallback[1200];
        int n = snprintf(fallback, sizeof fallback,
                         "{\"level\":\"%s\",\"service\":\"%s\",\"msg\":\"(unformatted) %.*s\"}\n",
                         log_level_names[level], log_service, 900, "log line lost: out of memory");
        log_emit(fallback, (size_t)n);
    }
    json_decref(line);
    json_decref(fields);
}
