/*
 * Log shipping, for `webtoon up`: reads log lines from pipes (each child's
 * stdout, and up's own), writes every line unchanged to one output (up's
 * real stdout), and pushes them in batches to a Loki push endpoint
 * (`/loki/api/v1/push`, the JSON body), Loki's own or VictoriaLogs'.
 *
 * What it guarantees:
 *   - Nothing that writes a line ever waits for the receiver. One reader
 *     thread frames lines, writes them out and queues them; one pusher
 *     thread posts batches. A writer can only be held up by the output
 *     itself, exactly as when it wrote there directly.
 *   - Every line goes out with one write, whole: lines never interleave and
 *     are never cut, up to LOGSHIP_LINE_MAX bytes (a longer one is split
 *     there, at a UTF-8 character boundary, and each part is a line).
 *   - Memory is bounded: the queue holds at most <max_lines> lines and
 *     <max_bytes> bytes, the batch being pushed at most LOGSHIP_BATCH_LINES
 *     lines and LOGSHIP_BATCH_BYTES bytes. When the queue is full the OLDEST
 *     queued line is dropped and counted: the newest lines say what is
 *     happening now and what happened just before the receiver came back,
 *     which is what an operator looks at after an outage.
 *   - A batch the receiver could not take (no connection, timeout, 429,
 *     5xx) is kept and retried with back-off, so a short outage loses
 *     nothing; one it refuses for good (another 4xx) is dropped and counted.
 *   - Drops are reported in a warn line with the field `droppedLines` (the
 *     total so far), at most every LOGSHIP_WARN_INTERVAL_MS, and once more
 *     at stop.
 *
 * Labels of each line (the Loki stream): job (fixed), and service and level
 * from the line when it is a JSON object with them; otherwise service is
 * the pipe's name (the child's module) and level "unknown". Ids (requestId,
 * traceId, ...) stay in the line: as labels they would make a stream per
 * request.
 */
#ifndef WEBTOON_LOGSHIP_H
#define WEBTOON_LOGSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGSHIP_LINE_MAX 65536            /* bytes; a longer line is split */
#define LOGSHIP_NAME_MAX 32               /* bytes of a pipe's name, with the NUL */
#define LOGSHIP_BATCH_LINES 1000          /* lines per push at most */
#define LOGSHIP_BATCH_BYTES (1024 * 1024) /* bytes of lines per push at most */
#define LOGSHIP_BATCH_WAIT_MS 1000        /* a line waits at most this long for its batch */
#define LOGSHIP_WARN_INTERVAL_MS 5000     /* between two warn lines about failures */

struct logship;

struct logship_options {
    const char *url;   /* the push URL (http: or https:), copied */
    const char *job;   /* the job label, copied; NULL: "webtoon" */
    int out_fd;        /* every line is also written here; -1: nowhere. Not closed here */
    size_t max_lines;  /* queue bound, lines (at least 1) */
    size_t max_bytes;  /* queue bound, bytes of lines (at least LOGSHIP_LINE_MAX) */
    int timeout_ms;    /* one push, connecting included; 0: 2000 */
    int drain_ms;      /* at stop: how long to wait for the pipes' ends; 0: 1000 */
    int flush_ms;      /* at stop: how long to go on pushing what is queued; 0: 3000 */
    int batch_wait_ms; /* 0: LOGSHIP_BATCH_WAIT_MS */
};

struct logship_stats {
    uint64_t read;    /* lines read from the pipes */
    uint64_t shipped; /* lines the receiver accepted */
    uint64_t dropped; /* lines given up on (queue full, refused, unsent at stop) */
    size_t queued;    /* lines waiting now, the batch in flight included */
    bool failing;     /* the last push failed */
};

/*
 * Starts the reader and pusher threads. Call it from the thread that will
 * fork children, with the signals it handles already blocked (the threads
 * inherit the mask). Returns RC_OK with a new shipper in <out> (free with
 * logship_free), RC_CONFIG with a reason in <err> when <o>'s URL is not an
 * http(s) URL, or RC_NOMEM / RC_INTERNAL.
 */
int logship_new(const struct logship_options *o, struct logship **out /* OUT */, char *err,
                size_t errlen);

/*
 * Reads lines from <fd> (the read end of a pipe) until its end of file,
 * naming them <name> when they do not name their service. Takes ownership
 * of <fd> on every path (closed at its end, at stop, or here on failure; a
 * writer then gets EPIPE, so it should ignore SIGPIPE). Returns RC_OK,
 * RC_NOMEM, or RC_INVALID once logship_stop has begun. At most 1024 pipes
 * are read at once; one more is closed.
 */
int logship_attach(struct logship *ls, int fd, const char *name);

/*
 * Stops: reads every pipe until its end (for at most drain_ms), pushes
 * what is queued (for at most flush_ms; what is left then is dropped),
 * writes a warn line when any line was dropped, and joins the threads.
 * Idempotent.
 */
void logship_stop(struct logship *ls);

/* logship_stop, then frees <ls>. NULL does nothing. */
void logship_free(struct logship *ls);

void logship_get_stats(struct logship *ls, struct logship_stats *out /* OUT */);

/* The push URL without user name, password or query, for log lines;
 * borrowed, valid until logship_free. */
const char *logship_endpoint(const struct logship *ls);

/* --- the pure parts, exposed for the unit tests ---------------------------- */

struct logship_labels {
    char service[65]; /* 1..64 bytes */
    char level[8];    /* debug, info, warn, error or unknown */
};

/*
 * The labels of the <len> bytes of <line> (no newline): service and level
 * from a JSON object line with a string "service" of 1..64 bytes and a
 * string "level" among debug, info, warn, error; otherwise <fallback> (cut
 * to 64 bytes) and "unknown".
 */
void logship_labels_of(const char *line, size_t len, const char *fallback,
                       struct logship_labels *out /* OUT */);

struct logship_entry {
    const char *text; /* borrowed; <len> bytes, any bytes */
    size_t len;
    int64_t ts_ns;      /* Unix time, nanoseconds */
    const char *source; /* borrowed; the pipe's name */
};

/*
 * Loki's JSON push body for the <n> entries, grouped into one stream per
 * label set, each stream's values in the entries' order: {"streams":[{
 * "stream":{"job":<job>,"service":…,"level":…},"values":[["<ns>","<line>"],…]},…]}.
 * Bytes of a line that are not UTF-8 become U+FFFD. Returns RC_OK with a
 * new string in <out> (mem_free), or RC_NOMEM.
 */
int logship_body(const struct logship_entry *entries, size_t n, const char *job,
                 char **out /* OUT */);

/* Length of the longest prefix of the <len> bytes at <s>, at most <max>,
 * that does not end inside a UTF-8 sequence (where a long line is split). */
size_t logship_cut(const char *s, size_t len, size_t max);

#endif
