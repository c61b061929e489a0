/*
 * Metric registry; see metrics.h. Series sit in one list ordered by
 * registration; rendering groups them by name so HELP/TYPE appear once per
 * family. The registry lock is taken only to register and render.
 */
#include "core/metrics/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"

enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* Histogram upper bounds, microseconds (100 µs to 10 s). */
static const int64_t metrics_bounds_us[] = {100,     250,     500,     1000,    2500,   5000,
                                            10000,   25000,   50000,   100000,  250000, 500000,
                                            1000000, 2500000, 5000000, 10000000};
#define METRICS_NBUCKETS (sizeof metrics_bounds_us / sizeof metrics_bounds_us[0])

struct metrics_series {
    struct metrics_series *next;
    enum metrics_kind kind;
    char *name;
    char *help;
    char *labels;
    atomic_int_fast64_t value;                     /* counter or gauge; histogram: count */
    atomic_int_fast64_t sum_us;                    /* histogram only */
    atomic_int_fast64_t buckets[METRICS_NBUCKETS]; /* histogram: non-cumulative counts */
};

struct metrics_counter {
    struct metrics_series s;
};
struct metrics_gauge {
    struct metrics_series s;
};
struct metrics_histogram {
    struct metrics_series s;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_series *metrics_head, **metrics_tail = &metrics_head;
static char metrics_service[32] = "webtoon";

void metrics_init(const char *service)
{
    snprintf(metrics_service, sizeof metrics_service, "%s", service);
}

void metrics_cleanup(void)
{
    pthread_mutex_lock(&metrics_lock);
    struct metrics_series *s = metrics_head;
    while (s) {
        struct metrics_series *next = s->next;
        mem_free(s->name);
        mem_free(s->help);
        mem_free(s->labels);
        mem_free(s);
        s = next;
    }
    metrics_head = NULL;
    metrics_tail = &metrics_head;
    pthread_mutex_unlock(&metrics_lock);
}

static struct metrics_series *metrics_register(enum metrics_kind kind, const char *name,
                                               const char *help, const char *labels)
{
    struct metrics_series *found = NULL;
    pthread_mutex_lock(&metrics_lock);
    for (struct metrics_series *s = metrics_head; s; s = s->next) {
        if (s->kind == kind && !strcmp(s->name, name) && !strcmp(s->labels, labels)) {
            found = s;
            goto out;
        }
    }
    /* All three wrapper structs are a bare series, so one allocation fits each. */
    struct metrics_series *s = mem_calloc(1, sizeof *s);
    if (!s)
        goto out;
    s->kind = kind;
    s->name = mem_strdup(name);
    s->help = mem_strdup(help);
    s->labels = mem_strdup(labels);
    if (!s->name || !s->help || !s->labels) {
        mem_free(s->name);
        mem_free(s->help);
        mem_free(s->labels);
        mem_free(s);
        goto out;
    }
    *metrics_tail = s;
    metrics_tail = &s->next;
    found = s;
out:
    pthread_mutex_unlock(&metrics_lock);
    return found;
}

struct metrics_counter *metrics_counter(const char *name, const char *help, const char *labels)
{
    return (struct metrics_counter *)metrics_register(METRICS_COUNTER, name, help, labels);
}

struct metrics_gauge *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return (struct metrics_gauge *)metrics_register(METRICS_GAUGE, name, help, labels);
}

struct metrics_histogram *metrics_histogram(const char *name, const char *help, const char *labels)
{
    return (struct metrics_histogram *)metrics_register(METRICS_HISTOGRAM, name, help, labels);
}

void metrics_counter_add(struct metrics_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add(&c->s.value, (int_fast64_t)n);
}

uint64_t metrics_counter_value(const struct metrics_counter *c)
{
    return c ? (uint64_t)atomic_load(&c->s.value) : 0;
}

void metrics_gauge_set(struct metrics_gauge *g, int64_t v)
{
    if (g)
        atomic_store(&g->s.value, v);
}

void metrics_gauge_add(struct metrics_gauge *g, int64_t delta)
{
    if (g)
        atomic_fetch_add(&g->s.value, delta);
}

int64_t metrics_gauge_value(const struct metrics_gauge *g)
{
    return g ? atomic_load(&g->s.value) : 0;
}

void metrics_histogram_observe_us(struct metrics_histogram *h, int64_t us)
{
    if (!h)
        return;
    size_t i = 0;
    while (i < METRICS_NBUCKETS && us > metrics_bounds_us[i])
        i++;
    if (i < METRICS_NBUCKETS)
        atomic_fetch_add(&h->s.buckets[i], 1);
    atomic_fetch_add(&h->s.sum_us, us);
    atomic_fetch_add(&h->s.value, 1);
}

/* Appends `{service="x",<labels>,<extra>}`; <extra> may be NULL. */
static int metrics_render_labels(struct buf *out, const struct metrics_series *s, const char *extra)
{
    return buf_appendf(out, "{service=\"%s\"%s%s%s%s}", metrics_service, *s->labels ? "," : "",
                       s->labels, extra ? "," : "", extra ? extra : "");
}

static int metrics_render_series(struct buf *out, const struct metrics_series *s)
{
    int rc = RC_OK;
    if (s->kind != METRICS_HISTOGRAM) {
        if ((rc = buf_append_str(out, s->name)) || (rc = metrics_render_labels(out, s, NULL)))
            return rc;
        return buf_appendf(out, " %lld\n", (long long)atomic_load(&s->value));
    }
    int64_t cumulative = 0;
    for (size_t i = 0; i <= METRICS_NBUCKETS; i++) {
        char le[48];
        if (i < METRICS_NBUCKETS) {
            cumulative += atomic_load(&s->buckets[i]);
            snprintf(le, sizeof le, "le=\"%g\"", (double)metrics_bounds_us[i] / 1e6);
        } else {
            cumulative = atomic_load(&s->value);
            snprintf(le, sizeof le, "le=\"+Inf\"");
        }
        if ((rc = buf_appendf(out, "%s_bucket", s->name)) ||
            (rc = metrics_render_labels(out, s, le)) ||
            (rc = buf_appendf(out, " %lld\n", (long long)cumulative)))
            return rc;
    }
    if ((rc = buf_appendf(out, "%s_sum", s->name)) || (rc = metrics_render_labels(out, s, NULL)) ||
        (rc = buf_appendf(out, " %.6f\n", (double)atomic_load(&s->sum_us) / 1e6)) ||
        (rc = buf_appendf(out, "%s_count", s->name)) || (rc = metrics_render_labels(out, s, NULL)))
        return rc;
    return buf_appendf(out, " %lld\n", (long long)atomic_load(&s->value));
}

int metrics_render(struct buf *out)
{
    static const char *const kind_names[] = {"counter", "gauge", "histogram"};
    int rc = RC_OK;
    pthread_mutex_lock(&metrics_lock);
    for (struct metrics_series *s = metrics_head; s && rc == RC_OK; s = s->next) {
        bool first = true; /* first series of its family? then it prints the family */
        for (struct metrics_series *p = metrics_head; p != s; p = p->next)
            if (!strcmp(p->name, s->name))
                first = false;
        if (!first)
            continue;
        rc = buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
                         kind_names[s->kind]);
        for (struct metrics_series *p = s; p && rc == RC_OK; p = p->next)
            if (!strcmp(p->name, s->name))
                rc = metrics_render_series(out, p);
    }
    pthread_mutex_unlock(&metrics_lock);
    return rc;
}
