/*
 * Metric registry; see metrics.h. Series sit in one list ordered by
 * registration; rendering groups them by name so HELP/TYPE appear once per
 * family. The registry lock is taken only to register and render.
 */
#include "core/metrics/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/base/bug.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* Default histogram upper bounds, microseconds (100 µs to 10 s). */
static const int64_t metrics_bounds_us[] = {100,     250,     500,     1000,    2500,   5000,
                                            10000,   25000,   50000,   100000,  250000, 500000,
                                            1000000, 2500000, 5000000, 10000000};

struct metrics_series {
    struct metrics_series *next;
    enum metrics_kind kind;
    char *name;
    char *help;
    char *labels;
    atomic_int_fast64_t value;  /* counter or gauge; histogram: count */
    atomic_int_fast64_t sum_us; /* histogram only */
    const int64_t *bounds_us;   /* histogram: upper bounds, ascending; borrowed */
    size_t nbounds;             /* histogram: <= METRICS_BOUNDS_MAX */
    atomic_int_fast64_t buckets[METRICS_BOUNDS_MAX]; /* histogram: non-cumulative counts */
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
                                               const char *help, const char *labels,
                                               const int64_t *bounds_us, size_t nbounds)
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
    s->bounds_us = bounds_us;
    s->nbounds = nbounds;
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
    return (struct metrics_counter *)metrics_register(METRICS_COUNTER, name, help, labels, NULL, 0);
}

struct metrics_gauge *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return (struct metrics_gauge *)metrics_register(METRICS_GAUGE, name, help, labels, NULL, 0);
}

struct metrics_histogram *metrics_histogram(const char *name, const char *help, const char *labels)
{
    return metrics_histogram_bounds(name, help, labels, metrics_bounds_us,
                                    ARRAY_LEN(metrics_bounds_us));
}

struct metrics_histogram *metrics_histogram_bounds(const char *name, const char *help,
                                                   const char *labels, const int64_t *bounds_us,
                                                   size_t n)
{
    BUG_ON(n == 0 || n > METRICS_BOUNDS_MAX);
    return (struct metrics_histogram *)metrics_register(METRICS_HISTOGRAM, name, help, labels,
                                                        bounds_us, n);
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
    while (i < h->s.nbounds && us > h->s.bounds_us[i])
        i++;
    if (i < h->s.nbounds)
        atomic_fetch_add(&h->s.buckets[i], 1);
    atomic_fetch_add(&h->s.sum_us, us);
    atomic_fetch_add(&h->s.value, 1);
}

uint64_t metrics_histogram_count(const struct metrics_histogram *h)
{
    return h ? (uint64_t)atomic_load(&h->s.value) : 0;
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
    for (size_t i = 0; i <= s->nbounds; i++) {
        char le[48];
        if (i < s->nbounds) {
            cumulative += atomic_load(&s->buckets[i]);
            snprintf(le, sizeof le, "le=\"%g\"", (double)s->bounds_us[i] / 1e6);
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

/* --- process_* ---------------------------------------------------------------- */

/* The fields of /proc/self/stat after the command name, split in place:
 * fields[0] is field 3 (state). Returns how many were found. */
static size_t metrics_stat_fields(char *text, char **fields, size_t max)
{
    char *p = strrchr(text, ')'); /* the name may hold spaces and parentheses */
    size_t n = 0;
    if (!p)
        return 0;
    for (p++; n < max;) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            break;
        fields[n++] = p;
        while (*p && *p != ' ' && *p != '\n')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return n;
}

/* Reads up to <len> - 1 bytes of <path> into <buf>; false when unreadable. */
static bool metrics_read_file(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

/* Seconds since the epoch when the machine booted (btime of /proc/stat),
 * or -1. */
static long long metrics_boot_time(void)
{
    long long boot = -1;
    char line[256];
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    while (boot < 0 && fgets(line, sizeof line, f))
        if (!strncmp(line, "btime ", 6))
            boot = strtoll(line + 6, NULL, 10);
    fclose(f);
    return boot;
}

static int metrics_process_family(struct buf *out, const char *name, const char *type,
                                  const char *help, const char *value)
{
    return buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n%s{service=\"%s\"} %s\n", name, help, name,
                       type, name, metrics_service, value);
}

int metrics_render_process(struct buf *out)
{
    enum { UTIME = 11, STIME = 12, STARTTIME = 19, VSIZE = 20, RSS = 21, NFIELDS = 22 };
    char stat[1024], value[64];
    char *f[NFIELDS];
    int rc = RC_OK;
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (ticks > 0 && page > 0 && metrics_read_file("/proc/self/stat", stat, sizeof stat) &&
        metrics_stat_fields(stat, f, NFIELDS) == NFIELDS) {
        double cpu =
            (double)(strtoull(f[UTIME], NULL, 10) + strtoull(f[STIME], NULL, 10)) / (double)ticks;
        snprintf(value, sizeof value, "%.2f", cpu);
        rc = metrics_process_family(out, "process_cpu_seconds_total", "counter",
                                    "Total user and system CPU time spent in seconds.", value);
        snprintf(value, sizeof value, "%llu",
                 strtoull(f[RSS], NULL, 10) * (unsigned long long)page);
        if (rc == RC_OK)
            rc = metrics_process_family(out, "process_resident_memory_bytes", "gauge",
                                        "Resident memory size in bytes.", value);
        snprintf(value, sizeof value, "%llu", strtoull(f[VSIZE], NULL, 10));
        if (rc == RC_OK)
            rc = metrics_process_family(out, "process_virtual_memory_bytes", "gauge",
                                        "Virtual memory size in bytes.", value);
        long long boot = metrics_boot_time();
        snprintf(value, sizeof value, "%.2f",
                 (double)boot + (double)strtoull(f[STARTTIME], NULL, 10) / (double)ticks);
        if (rc == RC_OK && boot >= 0)
            rc = metrics_process_family(out, "process_start_time_seconds", "gauge",
                                        "Start time of the process since unix epoch in seconds.",
                                        value);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long long n = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            n += e->d_name[0] != '.';
        closedir(d);
        snprintf(value, sizeof value, "%lld", n - 1); /* less the one opendir holds */
        if (rc == RC_OK)
            rc = metrics_process_family(out, "process_open_fds", "gauge",
                                        "Number of open file descriptors.", value);
    }
    struct rlimit lim;
    if (rc == RC_OK && getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        snprintf(value, sizeof value, "%llu", (unsigned long long)lim.rlim_cur);
        rc = metrics_process_family(out, "process_max_fds", "gauge",
                                    "Maximum number of open file descriptors.", value);
    }
    return rc;
}
