/*
 * JSON logs on stdout, one object per line (for Loki and `jq`):
 *   {"time":"…","level":"info","service":"pointer","requestId":"…","traceId":"…",
 *    "spanId":"…","msg":"…",…fields}
 *
 * traceId (32 hex) and spanId (16 hex) are those of the thread's current
 * trace context (trace_set_current: the request or event being handled),
 * on every line written while there is one.
 *
 * Each line is written with a single write(2), so lines from several threads
 * (or processes sharing the terminal) never interleave. Lower layers do not
 * log; boundaries (HTTP replies, relay, consumer, supervisor) do.
 */
#ifndef WEBTOON_LOG_H
#define WEBTOON_LOG_H

#include <jansson.h>

#include "core/base/bug.h"
#include "core/config/config.h"

enum log_level {
    LOG_DEBUG = CONFIG_LEVEL_DEBUG,
    LOG_INFO = CONFIG_LEVEL_INFO,
    LOG_WARN = CONFIG_LEVEL_WARN,
    LOG_ERROR = CONFIG_LEVEL_ERROR,
};

/* Sets the process-wide service name and lowest level; <service> is copied. */
void log_init(const char *service, enum log_level min_level);
bool log_is_enabled(enum log_level level);

/*
 * Writes one line. <request_id> may be NULL. <fields> is a JSON object whose
 * members are added to the line, or NULL; it is stolen (freed here) on every
 * path.
 */
void log_write(enum log_level level, const char *request_id, json_t *fields, const char *fmt, ...)
    PRINTF_LIKE(4, 5);

#define log_debug(...) log_write(LOG_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, NULL, NULL, __VA_ARGS__)

#endif
