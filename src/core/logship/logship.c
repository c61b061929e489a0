/*
 * Log shipping to a Loki push endpoint; see logship.h for what it
 * guarantees. Two threads and one lock:
 *   - the reader polls every pipe (and an eventfd that says "a new pipe" or
 *     "stop"), cuts what it reads into lines, writes each line out and
 *     appends it to the queue, dropping the oldest when the queue is full;
 *   - the pusher takes a batch off the queue (LOGSHIP_BATCH_LINES lines or a
 *     full queue, or whatever is there once the oldest has waited
 *     batch_wait_ms), posts it with libcurl and on a failure it may retry
 *     keeps it and tries again after a back-off.
 * The lock guards the queue, the pending pipes, the counters and the
 * stop flags; neither thread holds it across a read, a write, a post or a
 * log line (a log line of ours may come back through one of the pipes).
 */
#include "core/logship/logship.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/json/jx.h"
#include "core/log/log.h"

#define LOGSHIP_BACKOFF_MIN_MS 250
#define LOGSHIP_BACKOFF_MAX_MS 5000
#define LOGSHIP_MAX_SOURCES 1024 /* pipes read at once; more are refused */
#define LOGSHIP_REPLY_MAX 160    /* bytes of a refusal's body kept for the warn line */

/* One queued line. */
struct logship__line {
    struct logship__line *next;
    int64_t ts_ns;     /* Unix time it was read, ns; strictly increasing */
    int64_t queued_ms; /* monotonic ms it was queued */
    size_t len;        /* bytes of text, without the NUL */
    char source[LOGSHIP_NAME_MAX];
    char text[]; /* len bytes and a NUL */
};

/* A list of lines, oldest first: the queue, or the batch being pushed. */
struct logship__fifo {
    struct logship__line *head, *tail;
    size_t lines;
    size_t bytes; /* sum of len */
};

/* One pipe being read. */
struct logship__source {
    int fd;
    char name[LOGSHIP_NAME_MAX];
    char *buf;                    /* LOGSHIP_LINE_MAX bytes */
    size_t len;                   /* bytes read that are not a line yet; < LOGSHIP_LINE_MAX */
    struct logship__source *next; /* on the pending list */
};

struct logship {
    char *url, *job;
    char endpoint[1100]; /* url without credentials or query */
    int out_fd;
    size_t max_lines, max_bytes;
    int timeout_ms, drain_ms, flush_ms, batch_wait_ms;
    int wake_fd; /* eventfd: a new pipe, or stop */
    pthread_t reader, pusher;
    bool reader_started, pusher_started;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* the pusher waits on it: lines queued, reader done (monotonic) */

    /* Under lock. */
    struct logship__fifo queue;
    struct logship__source *pending; /* attached, not yet polled */
    bool stopping;                   /* logship_stop asked: the reader drains, then quits */
    bool reader_done;                /* the reader quit: the pusher flushes, then quits */
    bool stopped;                    /* logship_stop is done */
    int64_t flush_deadline;          /* monotonic ms; set with reader_done */
    size_t in_flight;                /* lines of the pusher's batch */
    uint64_t read, shipped, dropped;
    bool failing;

    /* The reader's own. */
    struct logship__source **sources; /* LOGSHIP_MAX_SOURCES slots */
    size_t nsources;
    struct pollfd *pfds; /* LOGSHIP_MAX_SOURCES + 1 */
    int64_t last_ts_ns;

    /* The pusher's own. */
    CURL *curl;
    struct curl_slist *headers;
    char error[LOGSHIP_REPLY_MAX + 64]; /* why the last push failed */
    uint64_t dropped_warned;            /* dropped at the last warn line */
    int64_t last_warn_ms;               /* monotonic; 0: never */
    int64_t failing_since_ms;
};

/* --- the pure parts ---------------------------------------------------------- */

size_t logship_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t p = max;
    for (int k = 0; k < 3 && p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80; k++)
        p--;
    return p > 0 && ((unsigned char)s[p] & 0xC0) != 0x80 ? p : max;
}

void logship_labels_of(const char *line, size_t len, const char *fallback,
                       struct logship_labels *out)
{
    snprintf(out->service, sizeof out->service, "%.*s",
             (int)logship_cut(fallback, strlen(fallback), sizeof out->service - 1), fallback);
    snprintf(out->level, sizeof out->level, "unknown");
    if (len < 2 || line[0] != '{')
        return;
    json_t *obj = json_loadb(line, len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return;
    }
    json_t *service = json_object_get(obj, "service"), *level = json_object_get(obj, "level");
    size_t slen = json_is_string(service) ? json_string_length(service) : 0;
    const char *s = json_string_value(service);
    if (slen >= 1 && slen < sizeof out->service && !memchr(s, '\0', slen))
        memcpy(out->service, s, slen + 1);
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; json_is_string(level) && i < sizeof levels / sizeof levels[0]; i++)
        if (!strcmp(json_string_value(level), levels[i]))
            snprintf(out->level, sizeof out->level, "%s", levels[i]);
    json_decref(obj);
}

/* Length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF) at the start of the <len> bytes at <s>,
 * or 0 when it is not one. */
static size_t logship__utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need = c >= 0xC2 && c <= 0xDF   ? 2
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xF0 && c <= 0xF4 ? 4
                                           : 0;
    if (!need || len < need)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return need;
}

/* A new JSON string of the <len> bytes at <text>, each byte that is not
 * part of a valid UTF-8 sequence replaced by U+FFFD; NULL when out of
 * memory. */
static json_t *logship__json_text(const char *text, size_t len)
{
    json_t *v = json_stringn(text, len);
    if (v || !len)
        return v;
    char *clean = mem_alloc(len * 3);
    if (!clean)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = logship__utf8_seq((const unsigned char *)text + i, len - i);
        if (n) {
            memcpy(clean + o, text + i, n);
            o += n;
            i += n;
        } else {
            memcpy(clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    v = json_stringn(clean, o);
    mem_free(clean);
    return v;
}

struct logship__stream {
    struct logship_labels labels;
    json_t *values; /* borrowed from the body */
};

int logship_body(const struct logship_entry *entries, size_t n, const char *job, char **out)
{
    int rc = RC_NOMEM;
    *out = NULL;
    json_t *root = json_object(), *streams = json_array();
    struct logship__stream *st = mem_calloc(n ? n : 1, sizeof *st);
    size_t nst = 0;
    if (!root || !streams || !st || json_object_set(root, "streams", streams) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct logship_entry *e = &entries[i];
        struct logship_labels lb;
        logship_labels_of(e->text, e->len, e->source, &lb);
        size_t j = 0;
        while (j < nst &&
               (strcmp(st[j].labels.service, lb.service) || strcmp(st[j].labels.level, lb.level)))
            j++;
        if (j == nst) {
            json_t *stream = json_pack("{s:{s:s, s:s, s:s}, s:[]}", "stream", "job", job, "service",
                                       lb.service, "level", lb.level, "values");
            if (!stream || json_array_append_new(streams, stream) != 0)
                goto out;
            st[nst].labels = lb;
            st[nst++].values = json_object_get(stream, "values");
        }
        char ts[24];
        snprintf(ts, sizeof ts, "%lld", (long long)e->ts_ns);
        json_t *pair = json_array();
        if (!pair || json_array_append_new(st[j].values, pair) != 0 ||
            json_array_append_new(pair, json_string(ts)) != 0 ||
            json_array_append_new(pair, logship__json_text(e->text, e->len)) != 0)
            goto out;
    }
    *out = jx_dump(root);
    if (*out)
        rc = RC_OK;
out:
    mem_free(st);
    json_decref(streams);
    json_decref(root);
    return rc;
}

/* --- the queue ---------------------------------------------------------------- */

static void logship__fifo_push(struct logship__fifo *f, struct logship__line *l)
{
    l->next = NULL;
    if (f->tail)
        f->tail->next = l;
    else
        f->head = l;
    f->tail = l;
    f->lines++;
    f->bytes += l->len;
}

/* Detaches and returns the oldest line of <f> (which must not be empty). */
static struct logship__line *logship__fifo_pop(struct logship__fifo *f)
{
    struct logship__line *l = f->head;
    f->head = l->next;
    if (!f->head)
        f->tail = NULL;
    f->lines--;
    f->bytes -= l->len;
    return l;
}

static void logship__fifo_clear(struct logship__fifo *f)
{
    while (f->head)
        mem_free(logship__fifo_pop(f));
}

/* --- the reader ----------------------------------------------------------------- */

/* Writes the <len> bytes of <line> and a newline to the output, in one
 * writev unless the output takes less (then the rest follows). A failing
 * output (closed, full disk) loses the line there only. */
static void logship__write_out(struct logship *ls, const char *line, size_t len)
{
    if (ls->out_fd < 0)
        return;
    struct iovec iov[2] = {{(void *)line, len}, {(void *)"\n", 1}};
    int i = 0;
    while (i < 2) {
        ssize_t n = writev(ls->out_fd, iov + i, 2 - i);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        size_t left = (size_t)n;
        while (i < 2 && left >= iov[i].iov_len)
            left -= iov[i++].iov_len;
        if (i < 2) {
            iov[i].iov_base = (char *)iov[i].iov_base + left;
            iov[i].iov_len -= left;
        }
    }
}

/* A batch's worth is queued, or the queue is at its bound, where the next
 * line would push out the oldest: either way, the batch goes now rather
 * than when its first line has waited batch_wait_ms. (A queue bounded below
 * a batch, fed faster than it turns over in batch_wait_ms, would otherwise
 * drop lines forever without one push.) */
static bool logship__queue_full_locked(const struct logship *ls)
{
    return ls->queue.lines >= LOGSHIP_BATCH_LINES || ls->queue.bytes >= LOGSHIP_BATCH_BYTES ||
           ls->queue.lines >= ls->max_lines || ls->queue.bytes + LOGSHIP_LINE_MAX > ls->max_bytes;
}

/* Writes one line of <s> out and queues it; the queue drops its oldest
 * lines beyond its bounds. Empty lines are written, not shipped. */
static void logship__emit(struct logship *ls, const struct logship__source *s, const char *line,
                          size_t len)
{
    logship__write_out(ls, line, len);
    if (!len)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ts = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    ls->last_ts_ns = ts > ls->last_ts_ns ? ts : ls->last_ts_ns + 1;
    struct logship__line *l = mem_alloc(sizeof *l + len + 1);
    if (l) {
        l->ts_ns = ls->last_ts_ns;
        l->queued_ms = clock_mono_ms();
        l->len = len;
        memcpy(l->source, s->name, sizeof l->source);
        memcpy(l->text, line, len);
        l->text[len] = '\0';
    }
    pthread_mutex_lock(&ls->lock);
    ls->read++;
    if (!l) {
        ls->dropped++;
    } else {
        logship__fifo_push(&ls->queue, l);
        while (ls->queue.lines > ls->max_lines || ls->queue.bytes > ls->max_bytes) {
            mem_free(logship__fifo_pop(&ls->queue));
            ls->dropped++;
        }
        /* The first line starts the batch's clock; a full batch goes now. */
        if (ls->queue.lines == 1 || logship__queue_full_locked(ls))
            pthread_cond_signal(&ls->cond);
    }
    pthread_mutex_unlock(&ls->lock);
}

/* Emits every whole line in <s>'s buffer, then, when the buffer is full
 * without a newline, its first LOGSHIP_LINE_MAX bytes (cut at a character
 * boundary) as a line; at <eof>, whatever is left. */
static void logship__frame(struct logship *ls, struct logship__source *s, bool eof)
{
    size_t start = 0;
    char *nl;
    while ((nl = memchr(s->buf + start, '\n', s->len - start)) != NULL) {
        size_t n = (size_t)(nl - (s->buf + start));
        logship__emit(ls, s, s->buf + start, n);
        start += n + 1;
    }
    while (s->len - start >= LOGSHIP_LINE_MAX || (eof && s->len > start)) {
        size_t n = logship_cut(s->buf + start, s->len - start, LOGSHIP_LINE_MAX);
        logship__emit(ls, s, s->buf + start, n);
        start += n;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
}

static void logship__source_free(struct logship__source *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    mem_free(s->buf);
    mem_free(s);
}

/* Reads what <s>'s pipe has; false at its end (or on an error), after
 * emitting what was left. */
static bool logship__read(struct logship *ls, struct logship__source *s)
{
    ssize_t n = read(s->fd, s->buf + s->len, LOGSHIP_LINE_MAX - s->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        logship__frame(ls, s, true);
        return false;
    }
    s->len += (size_t)n;
    logship__frame(ls, s, false);
    return true;
}

static void *logship__reader_main(void *arg)
{
    struct logship *ls = arg;
    int64_t deadline = -1; /* monotonic ms by which the pipes must end, once stopping */
    for (;;) {
        pthread_mutex_lock(&ls->lock);
        struct logship__source *p = ls->pending;
        ls->pending = NULL;
        bool stopping = ls->stopping;
        pthread_mutex_unlock(&ls->lock);
        while (p) {
            struct logship__source *next = p->next;
            if (ls->nsources < LOGSHIP_MAX_SOURCES)
                ls->sources[ls->nsources++] = p;
            else
                logship__source_free(p); /* its writer gets EPIPE from now on */
            p = next;
        }
        int64_t now = clock_mono_ms();
        if (stopping && deadline < 0)
            deadline = now + ls->drain_ms;
        if (stopping && (ls->nsources == 0 || now >= deadline))
            break;
        ls->pfds[0] = (struct pollfd){.fd = ls->wake_fd, .events = POLLIN};
        for (size_t i = 0; i < ls->nsources; i++)
            ls->pfds[i + 1] = (struct pollfd){.fd = ls->sources[i]->fd, .events = POLLIN};
        int r = poll(ls->pfds, ls->nsources + 1, stopping ? (int)(deadline - now) : -1);
        if (r < 0) {
            if (errno != EINTR)
                clock_sleep_ms(10); /* out of kernel memory: try again */
            continue;
        }
        if (ls->pfds[0].revents) {
            uint64_t v;
            if (read(ls->wake_fd, &v, sizeof v) < 0) {
                /* nothing to do: the eventfd is only a wake-up */
            }
        }
        size_t kept = 0;
        for (size_t i = 0; i < ls->nsources; i++) {
            struct logship__source *s = ls->sources[i];
            if (ls->pfds[i + 1].revents && !logship__read(ls, s))
                logship__source_free(s);
            else
                ls->sources[kept++] = s;
        }
        ls->nsources = kept;
    }
    /* Past the drain deadline (a grandchild may hold a pipe open): what
     * was read goes out, the rest is not waited for. */
    for (size_t i = 0; i < ls->nsources; i++) {
        logship__frame(ls, ls->sources[i], true);
        logship__source_free(ls->sources[i]);
    }
    ls->nsources = 0;
    pthread_mutex_lock(&ls->lock);
    struct logship__source *late = ls->pending;
    ls->pending = NULL;
    ls->reader_done = true;
    ls->flush_deadline = clock_mono_ms() + ls->flush_ms;
    pthread_cond_signal(&ls->cond);
    pthread_mutex_unlock(&ls->lock);
    while (late) {
        struct logship__source *next = late->next;
        logship__source_free(late);
        late = next;
    }
    return NULL;
}

/* --- the pusher ------------------------------------------------------------------ */

enum logship__outcome { LOGSHIP__PUSHED, LOGSHIP__RETRY, LOGSHIP__REFUSED };

struct logship__reply {
    char text[LOGSHIP_REPLY_MAX + 1]; /* the start of the body, printable ASCII */
    size_t len;
};

static size_t logship__collect(char *data, size_t size, size_t n, void *arg)
{
    struct logship__reply *r = arg;
    for (size_t i = 0; i < size * n && r->len < LOGSHIP_REPLY_MAX; i++)
        r->text[r->len++] = data[i] >= 0x20 && data[i] < 0x7F ? data[i] : ' ';
    r->text[r->len] = '\0';
    return size * n;
}

/* Posts <batch>; the reason of a failure goes to ls->error. */
static enum logship__outcome logship__push(struct logship *ls, const struct logship__fifo *batch)
{
    struct logship_entry *entries = mem_calloc(batch->lines, sizeof *entries);
    char *body = NULL;
    size_t i = 0;
    for (const struct logship__line *l = batch->head; entries && l; l = l->next, i++)
        entries[i] = (struct logship_entry){
            .text = l->text, .len = l->len, .ts_ns = l->ts_ns, .source = l->source};
    if (!entries || logship_body(entries, batch->lines, ls->job, &body) != RC_OK) {
        mem_free(entries);
        snprintf(ls->error, sizeof ls->error, "out of memory");
        return LOGSHIP__RETRY;
    }
    mem_free(entries);
    struct logship__reply reply = {.len = 0};
    curl_easy_setopt(ls->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(ls->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(ls->curl, CURLOPT_WRITEDATA, &reply);
    CURLcode cc = curl_easy_perform(ls->curl);
    mem_free(body);
    long status = 0;
    curl_easy_getinfo(ls->curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        snprintf(ls->error, sizeof ls->error, "%s", curl_easy_strerror(cc));
        return LOGSHIP__RETRY;
    }
    if (status >= 200 && status < 300)
        return LOGSHIP__PUSHED;
    snprintf(ls->error, sizeof ls->error, "HTTP %ld%s%s", status, reply.len ? ": " : "",
             reply.text);
    return status == 429 || status >= 500 ? LOGSHIP__RETRY : LOGSHIP__REFUSED;
}

/* What the pusher has to say after a push, gathered under the lock and
 * logged without it. */
struct logship__note {
    enum log_level level; /* LOG_DEBUG: nothing to say */
    char msg[LOGSHIP_REPLY_MAX + 160];
    uint64_t dropped;
    size_t queued;
    int64_t failed_ms;
};

/* Decides, under the lock, whether a warn line is due: the receiver
 * failing or lines dropped since the last one, at most every
 * LOGSHIP_WARN_INTERVAL_MS; and an info line when pushing works again. */
static void logship__note_locked(struct logship *ls, enum logship__outcome outcome,
                                 bool was_failing, struct logship__note *note)
{
    int64_t now = clock_mono_ms();
    note->level = LOG_DEBUG;
    note->dropped = ls->dropped;
    note->queued = ls->queue.lines + ls->in_flight;
    note->failed_ms = was_failing ? now - ls->failing_since_ms : 0;
    if (outcome == LOGSHIP__PUSHED && was_failing) {
        note->level = LOG_INFO;
        snprintf(note->msg, sizeof note->msg,
                 "pushing log lines again after %lld ms of failures; %llu dropped so far",
                 (long long)note->failed_ms, (unsigned long long)ls->dropped);
        return;
    }
    bool news = ls->dropped > ls->dropped_warned || (outcome == LOGSHIP__RETRY && !was_failing);
    if (!news || (ls->last_warn_ms && now - ls->last_warn_ms < LOGSHIP_WARN_INTERVAL_MS))
        return;
    note->level = LOG_WARN;
    ls->last_warn_ms = now;
    ls->dropped_warned = ls->dropped;
    if (outcome == LOGSHIP__PUSHED)
        snprintf(note->msg, sizeof note->msg,
                 "log lines come faster than the receiver takes them; %llu dropped so far",
                 (unsigned long long)ls->dropped);
    else
        snprintf(note->msg, sizeof note->msg, "cannot push log lines (%s); %llu dropped so far",
                 ls->error, (unsigned long long)ls->dropped);
}

static void logship__say(const struct logship__note *note)
{
    if (note->level == LOG_DEBUG)
        return;
    json_t *fields = json_pack("{s:I, s:I}", "droppedLines", (json_int_t)note->dropped,
                               "queuedLines", (json_int_t)note->queued);
    if (fields && note->failed_ms)
        json_object_set_new(fields, "failedForMs", json_integer(note->failed_ms));
    log_write(note->level, NULL, fields, "%s", note->msg);
}

/* Moves up to a batch's worth of lines from the queue into <batch>. */
static void logship__take_locked(struct logship *ls, struct logship__fifo *batch)
{
    while (ls->queue.head && batch->lines < LOGSHIP_BATCH_LINES &&
           (batch->lines == 0 || batch->bytes + ls->queue.head->len <= LOGSHIP_BATCH_BYTES))
        logship__fifo_push(batch, logship__fifo_pop(&ls->queue));
    ls->in_flight = batch->lines;
}

static void logship__wait_until_locked(struct logship *ls, int64_t when_ms)
{
    int64_t wait = when_ms - clock_mono_ms();
    if (wait <= 0)
        return;
    struct timespec ts = clock_mono_after(wait);
    pthread_cond_timedwait(&ls->cond, &ls->lock, &ts);
}

static void *logship__pusher_main(void *arg)
{
    struct logship *ls = arg;
    struct logship__fifo batch = {0};
    int64_t backoff = 0, retry_at = 0;
    pthread_mutex_lock(&ls->lock);
    for (;;) {
        int64_t now = clock_mono_ms();
        bool flushing = ls->reader_done;
        if (flushing && now >= ls->flush_deadline)
            break;
        if (!batch.lines) {
            if (!ls->queue.head) {
                if (flushing)
                    break;
                pthread_cond_wait(&ls->cond, &ls->lock);
                continue;
            }
            bool full = logship__queue_full_locked(ls);
            int64_t due = ls->queue.head->queued_ms + ls->batch_wait_ms;
            if (!full && !flushing && now < due) {
                logship__wait_until_locked(ls, due);
                continue;
            }
            logship__take_locked(ls, &batch);
        } else if (now < retry_at) {
            logship__wait_until_locked(
                ls, flushing && ls->flush_deadline < retry_at ? ls->flush_deadline : retry_at);
            continue;
        }
        pthread_mutex_unlock(&ls->lock);
        enum logship__outcome outcome = logship__push(ls, &batch);
        pthread_mutex_lock(&ls->lock);
        bool was_failing = ls->failing;
        if (outcome == LOGSHIP__RETRY) {
            if (!was_failing)
                ls->failing_since_ms = clock_mono_ms();
            ls->failing = true;
            backoff = backoff ? backoff * 2 : LOGSHIP_BACKOFF_MIN_MS;
            if (backoff > LOGSHIP_BACKOFF_MAX_MS)
                backoff = LOGSHIP_BACKOFF_MAX_MS;
            retry_at = clock_mono_ms() + backoff;
        } else {
            if (outcome == LOGSHIP__PUSHED)
                ls->shipped += batch.lines;
            else
                ls->dropped += batch.lines;
            logship__fifo_clear(&batch);
            ls->in_flight = 0;
            ls->failing = false;
            backoff = 0;
        }
        struct logship__note note;
        logship__note_locked(ls, outcome, was_failing, &note);
        pthread_mutex_unlock(&ls->lock);
        logship__say(&note);
        pthread_mutex_lock(&ls->lock);
    }
    /* Stopped with lines the receiver did not take in time. */
    ls->dropped += batch.lines + ls->queue.lines;
    logship__fifo_clear(&batch);
    logship__fifo_clear(&ls->queue);
    ls->in_flight = 0;
    pthread_mutex_unlock(&ls->lock);
    return NULL;
}

/* --- the API --------------------------------------------------------------------- */

/* RC_OK when <url> is an http: or https: URL with a host, and then its
 * scheme, host, port and path in <endpoint>; else RC_CONFIG with a reason
 * in <err>. */
static int logship__check_url(const char *url, char *endpoint, size_t len, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    int rc = RC_CONFIG;
    if (!u) {
        snprintf(err, errlen, "out of memory");
        rc = RC_NOMEM;
    } else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
               curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
               curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        snprintf(err, errlen, "'%s' is not a URL", url);
    } else if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
        snprintf(err, errlen, "'%s' is not an http: or https: URL", url);
    } else {
        curl_url_get(u, CURLUPART_PORT, &port, 0); /* none: the scheme's */
        snprintf(endpoint, len, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
                 path);
        rc = RC_OK;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

int logship_new(const struct logship_options *o, struct logship **out, char *err, size_t errlen)
{
    *out = NULL;
    char endpoint[sizeof((struct logship *)0)->endpoint];
    int rc = logship__check_url(o->url, endpoint, sizeof endpoint, err, errlen);
    if (rc != RC_OK)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return RC_INTERNAL;
    }
    struct logship *ls = mem_calloc(1, sizeof *ls);
    if (!ls) {
        snprintf(err, errlen, "out of memory");
        return RC_NOMEM;
    }
    ls->wake_fd = -1;
    memcpy(ls->endpoint, endpoint, sizeof endpoint);
    ls->out_fd = o->out_fd;
    ls->max_lines = o->max_lines ? o->max_lines : 1;
    ls->max_bytes = o->max_bytes > LOGSHIP_LINE_MAX ? o->max_bytes : LOGSHIP_LINE_MAX;
    ls->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    ls->drain_ms = o->drain_ms > 0 ? o->drain_ms : 1000;
    ls->flush_ms = o->flush_ms > 0 ? o->flush_ms : 3000;
    ls->batch_wait_ms = o->batch_wait_ms > 0 ? o->batch_wait_ms : LOGSHIP_BATCH_WAIT_MS;
    pthread_mutex_init(&ls->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ls->cond, &attr);
    pthread_condattr_destroy(&attr);
    rc = RC_NOMEM;
    ls->url = mem_strdup(o->url);
    ls->job = mem_strdup(o->job ? o->job : "webtoon");
    ls->sources = mem_calloc(LOGSHIP_MAX_SOURCES, sizeof *ls->sources);
    ls->pfds = mem_calloc(LOGSHIP_MAX_SOURCES + 1, sizeof *ls->pfds);
    ls->curl = curl_easy_init();
    ls->headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h = ls->headers ? curl_slist_append(ls->headers, "Expect:") : NULL;
    if (!ls->url || !ls->job || !ls->sources || !ls->pfds || !ls->curl || !h) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    ls->headers = h;
    curl_easy_setopt(ls->curl, CURLOPT_URL, ls->url);
    curl_easy_setopt(ls->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(ls->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ls->curl, CURLOPT_TIMEOUT_MS, (long)ls->timeout_ms);
    curl_easy_setopt(ls->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(ls->timeout_ms < 1000 ? ls->timeout_ms : 1000));
    curl_easy_setopt(ls->curl, CURLOPT_HTTPHEADER, ls->headers);
    curl_easy_setopt(ls->curl, CURLOPT_USERAGENT, "webtoon/" WEBTOON_VERSION);
    curl_easy_setopt(ls->curl, CURLOPT_WRITEFUNCTION, logship__collect);
    ls->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ls->wake_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        rc = RC_INTERNAL;
        goto fail;
    }
    rc = RC_INTERNAL;
    if (thread_start(&ls->reader, "logship-read", logship__reader_main, ls) != 0) {
        snprintf(err, errlen, "cannot start the log reader thread");
        goto fail;
    }
    ls->reader_started = true;
    if (thread_start(&ls->pusher, "logship-push", logship__pusher_main, ls) != 0) {
        snprintf(err, errlen, "cannot start the log pusher thread");
        goto fail;
    }
    ls->pusher_started = true;
    *out = ls;
    return RC_OK;
fail:
    logship_free(ls);
    return rc;
}

int logship_attach(struct logship *ls, int fd, const char *name)
{
    struct logship__source *s = mem_calloc(1, sizeof *s);
    char *buf = mem_alloc(LOGSHIP_LINE_MAX);
    if (!s || !buf) {
        mem_free(s);
        mem_free(buf);
        close(fd);
        return RC_NOMEM;
    }
    s->fd = fd;
    s->buf = buf;
    snprintf(s->name, sizeof s->name, "%.*s",
             (int)logship_cut(name, strlen(name), sizeof s->name - 1), name);
    pthread_mutex_lock(&ls->lock);
    bool open = !ls->stopping && !ls->reader_done;
    if (open) {
        s->next = ls->pending;
        ls->pending = s;
    }
    pthread_mutex_unlock(&ls->lock);
    if (!open) {
        logship__source_free(s);
        return RC_INVALID;
    }
    uint64_t one = 1;
    if (write(ls->wake_fd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is full, so the reader wakes anyway */
    }
    return RC_OK;
}

void logship_stop(struct logship *ls)
{
    pthread_mutex_lock(&ls->lock);
    bool done = ls->stopped;
    ls->stopping = true;
    pthread_mutex_unlock(&ls->lock);
    if (done)
        return;
    uint64_t one = 1;
    if (ls->wake_fd >= 0 && write(ls->wake_fd, &one, sizeof one) < 0) {
        /* EAGAIN: the reader wakes anyway */
    }
    if (ls->reader_started)
        pthread_join(ls->reader, NULL);
    pthread_mutex_lock(&ls->lock);
    if (!ls->reader_started) { /* no reader to say it: the pusher flushes now */
        ls->reader_done = true;
        ls->flush_deadline = clock_mono_ms() + ls->flush_ms;
    }
    pthread_cond_signal(&ls->cond);
    pthread_mutex_unlock(&ls->lock);
    if (ls->pusher_started)
        pthread_join(ls->pusher, NULL);
    pthread_mutex_lock(&ls->lock);
    ls->stopped = true;
    uint64_t dropped = ls->dropped, shipped = ls->shipped;
    pthread_mutex_unlock(&ls->lock);
    if (dropped)
        log_write(LOG_WARN, NULL,
                  json_pack("{s:I, s:I}", "droppedLines", (json_int_t)dropped, "shippedLines",
                            (json_int_t)shipped),
                  "log shipping stopped: %llu lines were dropped, %llu pushed",
                  (unsigned long long)dropped, (unsigned long long)shipped);
}

void logship_free(struct logship *ls)
{
    if (!ls)
        return;
    logship_stop(ls);
    logship__fifo_clear(&ls->queue);
    while (ls->pending) {
        struct logship__source *next = ls->pending->next;
        logship__source_free(ls->pending);
        ls->pending = next;
    }
    if (ls->wake_fd >= 0)
        close(ls->wake_fd);
    curl_slist_free_all(ls->headers);
    curl_easy_cleanup(ls->curl);
    pthread_cond_destroy(&ls->cond);
    pthread_mutex_destroy(&ls->lock);
    mem_free(ls->pfds);
    mem_free(ls->sources);
    mem_free(ls->job);
    mem_free(ls->url);
    mem_free(ls);
}

void logship_get_stats(struct logship *ls, struct logship_stats *out)
{
    pthread_mutex_lock(&ls->lock);
    *out = (struct logship_stats){.read = ls->read,
                                  .shipped = ls->shipped,
                                  .dropped = ls->dropped,
                                  .queued = ls->queue.lines + ls->in_flight,
                                  .failing = ls->failing};
    pthread_mutex_unlock(&ls->lock);
}

const char *logship_endpoint(const struct logship *ls) { return ls->endpoint; }
