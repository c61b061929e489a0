/*
 * The span exporter: OTLP over HTTP with the JSON encoding
 * (https://opentelemetry.io/docs/specs/otlp/#otlphttp), built with jansson
 * and sent with libcurl. There is no maintained OpenTelemetry SDK for C
 * (opentelemetry-cpp is C++ and not packaged by Debian), and the protocol
 * is small enough to speak directly: one POST of
 * {"resourceSpans":[{"resource":…,"scopeSpans":[{"scope":…,"spans":[…]}]}]}
 * to <endpoint>/v1/traces, as OTEL_EXPORTER_OTLP_ENDPOINT is resolved for
 * traces. In OTLP's protobuf-JSON mapping ids are lowercase hex strings,
 * times are Unix nanoseconds as decimal strings, and kind and status code
 * are their enum numbers.
 *
 * One exporter per process. Callers only copy a finished span into a
 * bounded ring under a mutex held for that copy; a background thread takes
 * up to batch_max spans at a time (at once when a batch is full, else
 * every flush interval) and posts them with a short timeout. Nothing
 * retries: a full queue, a collector that is down, slow or refusing, and
 * what is left at stop all drop spans, counted in
 * webtoon_trace_spans_dropped_total{reason}; delivered spans count in
 * webtoon_trace_spans_exported_total. So a dead collector costs a
 * connection attempt per batch, never a caller's time.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "core/trace/trace_internal.h"

#define OTLP_URL_MAX 1100
#define OTLP_SERVICE_MAX 64
#define OTLP_CONNECT_MS 1000 /* of the POST's timeout, at most this for connecting */

enum otlp_drop { OTLP_DROP_QUEUE_FULL, OTLP_DROP_EXPORT_FAILED, OTLP_DROP_SHUTDOWN, OTLP_NDROP };
static const char *const otlp_drop_reasons[] = {"queue_full", "export_failed", "shutdown"};

struct otlp_exporter {
    char url[OTLP_URL_MAX];         /* <endpoint>/v1/traces */
    char service[OTLP_SERVICE_MAX]; /* resource service.name */
    size_t queue_max, batch_max;
    int64_t flush_ms, timeout_ms;
    pthread_t thread;
    pthread_cond_t cond;      /* with otlp_lock: spans arrived, or stopping */
    struct trace_span *queue; /* ring of queue_max; under otlp_lock */
    size_t head, count;       /* under otlp_lock */
    bool stopping;            /* under otlp_lock */
    int64_t flush_deadline;   /* monotonic ms, once stopping; under otlp_lock */
    struct trace_span *batch; /* batch_max; exporter thread only */
    bool failing;             /* the last POST failed; exporter thread only */
    struct metrics_counter *exported;
    struct metrics_counter *dropped[OTLP_NDROP];
};

/* Guards otlp_current and the queue of the exporter it points at. Static,
 * so that a span submitted while the exporter stops never touches freed
 * memory. */
static pthread_mutex_t otlp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct otlp_exporter *otlp_current; /* under otlp_lock */
static atomic_bool otlp_running;           /* otlp_current != NULL, read without the lock */

bool trace_export_is_running(void)
{
    return atomic_load_explicit(&otlp_running, memory_order_relaxed);
}

void trace__enqueue(const struct trace_span *sp)
{
    if (!trace_export_is_running())
        return;
    pthread_mutex_lock(&otlp_lock);
    struct otlp_exporter *e = otlp_current;
    if (e && !e->stopping) {
        if (e->count == e->queue_max) {
            metrics_counter_add(e->dropped[OTLP_DROP_QUEUE_FULL], 1);
        } else {
            e->queue[(e->head + e->count) % e->queue_max] = *sp;
            if (++e->count == e->batch_max)
                pthread_cond_signal(&e->cond);
        }
    }
    pthread_mutex_unlock(&otlp_lock);
}

/* --- the request body --------------------------------------------------------------- */

static json_t *otlp_string_value(const char *key, const char *value)
{
    return json_pack("{s:s, s:{s:s}}", "key", key, "value", "stringValue", value);
}

/* New OTLP attribute object for <a>, or NULL. */
static json_t *otlp_attr(const struct trace_attr *a)
{
    if (!a->is_int)
        return otlp_string_value(a->key, a->s);
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, a->i); /* int64 is a string in protobuf JSON */
    return json_pack("{s:s, s:{s:s}}", "key", a->key, "value", "intValue", text);
}

/* Appends <v> (stolen) to array <arr>; false when either is NULL or out of
 * memory. */
static bool otlp_append(json_t *arr, json_t *v) { return v && json_array_append_new(arr, v) == 0; }

/* New OTLP span object for <sp>, or NULL when out of memory. */
static json_t *otlp_span(const struct trace_span *sp)
{
    char start[24], end[24];
    snprintf(start, sizeof start, "%" PRId64, sp->start_ns);
    snprintf(end, sizeof end, "%" PRId64, sp->end_ns);
    json_t *attrs = json_array();
    bool ok = attrs != NULL;
    for (size_t i = 0; ok && i < sp->nattrs; i++)
        ok = otlp_append(attrs, otlp_attr(&sp->attrs[i]));
    if (!ok) {
        json_decref(attrs);
        return NULL;
    }
    json_t *status = sp->error ? json_pack("{s:i, s:s}", "code", 2 /* STATUS_CODE_ERROR */,
                                           "message", sp->status_message)
                               : json_pack("{s:i}", "code", 0 /* STATUS_CODE_UNSET */);
    /* "o" steals attrs and status, also when packing fails */
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:o, s:o}", "traceId", sp->ctx.trace_id, "spanId",
                  sp->ctx.span_id, "name", sp->name, "kind", (int)sp->kind, "startTimeUnixNano",
                  start, "endTimeUnixNano", end, "attributes", attrs, "status", status);
    ok = o != NULL;
    if (ok && sp->parent_span_id[0])
        ok = json_object_set_new(o, "parentSpanId", json_string(sp->parent_span_id)) == 0;
    if (ok && sp->dropped_attrs)
        ok = json_object_set_new(o, "droppedAttributesCount", json_integer(sp->dropped_attrs)) == 0;
    if (ok && sp->has_link)
        ok = json_object_set_new(o, "links",
                                 json_pack("[{s:s, s:s}]", "traceId", sp->link.trace_id, "spanId",
                                           sp->link.span_id)) == 0;
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* New request body (text, mem_free) for the <n> spans of <spans> of
 * <service>, or NULL when out of memory. */
static char *otlp_body(const char *service, const struct trace_span *spans, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (!otlp_append(list, otlp_span(&spans[i]))) {
            json_decref(list);
            return NULL;
        }
    if (!list)
        return NULL;
    json_t *body =
        json_pack("{s:[{s:{s:[o]}, s:[{s:{s:s, s:s}, s:o}]}]}", "resourceSpans", "resource",
                  "attributes", otlp_string_value("service.name", service), "scopeSpans", "scope",
                  "name", "webtoon", "version", WEBTOON_VERSION, "spans", list);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL; /* through our hook: mem_free */
    json_decref(body);
    return text;
}

/* --- sending ------------------------------------------------------------------------ */

/* The collector's answer is not needed (a partial success is still a
 * success for us): read and forgotten. */
static size_t otlp_discard(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

/* POSTs <body> to the collector within <timeout_ms>; RC_OK on a 2xx, else
 * RC_UNAVAILABLE with the reason in <why>. */
static int otlp_post(struct otlp_exporter *e, CURL *curl, const char *body, int64_t timeout_ms,
                     char *why, size_t whylen)
{
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!headers) {
        snprintf(why, whylen, "out of memory");
        return RC_NOMEM;
    }
    curl_easy_setopt(curl, CURLOPT_URL, e->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms < OTLP_CONNECT_MS ? timeout_ms : OTLP_CONNECT_MS));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, otlp_discard);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode res = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    if (res != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(res));
        return RC_UNAVAILABLE;
    }
    if (status < 200 || status > 299) {
        snprintf(why, whylen, "the collector answered %ld", status);
        return RC_UNAVAILABLE;
    }
    return RC_OK;
}

/* Sends the <n> spans in the batch, within <timeout_ms>, and counts them. */
static void otlp_send(struct otlp_exporter *e, CURL *curl, size_t n, int64_t timeout_ms)
{
    char why[160] = "out of memory";
    int rc = RC_NOMEM;
    char *body = curl && timeout_ms > 0 ? otlp_body(e->service, e->batch, n) : NULL;
    if (timeout_ms <= 0)
        snprintf(why, sizeof why, "no time left to send");
    else if (!curl)
        snprintf(why, sizeof why, "no HTTP client");
    if (body)
        rc = otlp_post(e, curl, body, timeout_ms, why, sizeof why);
    mem_free(body);
    if (rc == RC_OK) {
        metrics_counter_add(e->exported, n);
        if (e->failing)
            log_info("trace export to %s works again", e->url);
        e->failing = false;
        return;
    }
    metrics_counter_add(e->dropped[timeout_ms > 0 ? OTLP_DROP_EXPORT_FAILED : OTLP_DROP_SHUTDOWN],
                        n);
    if (!e->failing)
        log_warn("trace export to %s failed (%s): %zu spans dropped; later batches are tried as "
                 "they come",
                 e->url, why, n);
    e->failing = true;
}

static void *otlp_main(void *arg)
{
    struct otlp_exporter *e = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&otlp_lock);
    struct timespec next = clock_mono_after(e->flush_ms);
    for (;;) {
        while (!e->stopping && e->count < e->batch_max)
            if (pthread_cond_timedwait(&e->cond, &otlp_lock, &next) != 0)
                break; /* the flush interval is up */
        if (e->count == 0) {
            if (e->stopping)
                break;
            next = clock_mono_after(e->flush_ms);
            continue;
        }
        size_t n = e->count < e->batch_max ? e->count : e->batch_max;
        for (size_t i = 0; i < n; i++)
            e->batch[i] = e->queue[(e->head + i) % e->queue_max];
        e->head = (e->head + n) % e->queue_max;
        e->count -= n;
        int64_t timeout = e->timeout_ms;
        if (e->stopping) {
            int64_t left = e->flush_deadline - clock_mono_ms();
            timeout = left < timeout ? left : timeout;
        }
        pthread_mutex_unlock(&otlp_lock);
        otlp_send(e, curl, n, timeout);
        pthread_mutex_lock(&otlp_lock);
        next = clock_mono_after(e->flush_ms);
    }
    pthread_mutex_unlock(&otlp_lock);
    curl_easy_cleanup(curl);
    return NULL;
}

/* --- start and stop ---------------------------------------------------------------------- */

static void otlp_free(struct otlp_exporter *e)
{
    if (!e)
        return;
    mem_free(e->queue);
    mem_free(e->batch);
    mem_free(e);
}

int trace_export_start(const struct trace_export_options *opts, char *err, size_t errlen)
{
    const char *endpoint = opts->endpoint ? opts->endpoint : "";
    size_t len = strlen(endpoint);
    while (len > 0 && endpoint[len - 1] == '/')
        len--; /* "http://host:4318/" names the same base */
    if ((strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) ||
        len <= 8 || len + sizeof "/v1/traces" > OTLP_URL_MAX || strpbrk(endpoint, " \t\r\n")) {
        snprintf(err, errlen,
                 "%s: the OTLP endpoint must be an http:// or https:// URL, not '%.200s'",
                 config_name(CONFIG_OTLP_ENDPOINT), endpoint);
        return RC_CONFIG;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return RC_INTERNAL;
    }
    struct otlp_exporter *e = mem_calloc(1, sizeof *e);
    if (!e)
        return RC_NOMEM;
    snprintf(e->url, sizeof e->url, "%.*s/v1/traces", (int)len, endpoint);
    trace__copy_text(e->service, sizeof e->service, opts->service_name);
    e->queue_max = opts->queue_max ? opts->queue_max : TRACE_QUEUE_DEFAULT;
    e->batch_max = opts->batch_max ? opts->batch_max : TRACE_BATCH_DEFAULT;
    if (e->batch_max > e->queue_max)
        e->batch_max = e->queue_max;
    e->flush_ms = opts->flush_interval_ms > 0 ? opts->flush_interval_ms : TRACE_FLUSH_DEFAULT_MS;
    e->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : TRACE_TIMEOUT_DEFAULT_MS;
    e->queue = mem_calloc(e->queue_max, sizeof *e->queue);
    e->batch = mem_calloc(e->batch_max, sizeof *e->batch);
    if (!e->queue || !e->batch) {
        otlp_free(e);
        return RC_NOMEM;
    }
    e->exported = metrics_counter("webtoon_trace_spans_exported_total",
                                  "Spans the OTLP exporter delivered to the collector", "");
    for (int i = 0; i < OTLP_NDROP; i++) {
        char labels[48];
        snprintf(labels, sizeof labels, "reason=\"%s\"", otlp_drop_reasons[i]);
        e->dropped[i] = metrics_counter("webtoon_trace_spans_dropped_total",
                                        "Spans not exported: the queue was full, the collector "
                                        "failed or was too slow, or the process stopped first",
                                        labels);
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &attr);
    pthread_condattr_destroy(&attr);

    int rc = RC_OK;
    pthread_mutex_lock(&otlp_lock);
    if (otlp_current) {
        snprintf(err, errlen, "a trace exporter already runs in this process");
        rc = RC_CONFLICT;
    } else if (thread_start(&e->thread, "otlp", otlp_main, e) != 0) {
        snprintf(err, errlen, "cannot start the trace exporter thread");
        rc = RC_INTERNAL;
    } else {
        otlp_current = e;
        atomic_store(&otlp_running, true);
    }
    pthread_mutex_unlock(&otlp_lock);
    if (rc != RC_OK) {
        pthread_cond_destroy(&e->cond);
        otlp_free(e);
    }
    return rc;
}

int trace_export_start_config(const struct config *cfg, const char *service_name, char *err,
                              size_t errlen)
{
    const char *endpoint = config_str(cfg, CONFIG_OTLP_ENDPOINT);
    if (!*endpoint)
        return RC_OK;
    struct trace_export_options o = {.endpoint = endpoint, .service_name = service_name};
    int rc = trace_export_start(&o, err, errlen);
    if (rc == RC_OK)
        log_write(LOG_INFO, NULL, json_pack("{s:s}", "endpoint", endpoint),
                  "exporting trace spans with OTLP/HTTP");
    return rc;
}

void trace_export_stop(int64_t flush_ms)
{
    pthread_mutex_lock(&otlp_lock);
    struct otlp_exporter *e = otlp_current;
    if (!e || e->stopping) {
        pthread_mutex_unlock(&otlp_lock);
        return;
    }
    e->stopping = true;
    e->flush_deadline = clock_mono_ms() + flush_ms;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&otlp_lock);
    pthread_join(e->thread, NULL);

    pthread_mutex_lock(&otlp_lock);
    atomic_store(&otlp_running, false);
    otlp_current = NULL;
    metrics_counter_add(e->dropped[OTLP_DROP_SHUTDOWN], e->count); /* the deadline came first */
    pthread_mutex_unlock(&otlp_lock);
    pthread_cond_destroy(&e->cond);
    otlp_free(e);
}
