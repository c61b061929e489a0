/* JSON line logger; see log.h. */
#include "core/log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/mem.h"

static char log_service[32] = "webtoon";
static enum log_level log_min = LOG_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, enum log_level min_level)
{
    snprintf(log_service, sizeof log_service, "%s", service);
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
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clock_format_rfc3339(clock_wall_ms(), when, sizeof when);

    json_t *line = json_object();
    if (line) {
        json_object_set_new(line, "time", json_string(when));
        json_object_set_new(line, "level", json_string(log_level_names[level]));
        json_object_set_new(line, "service", json_string(log_service));
        if (request_id)
            json_object_set_new(line, "requestId", json_string(request_id));
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
