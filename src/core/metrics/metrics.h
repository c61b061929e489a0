/*
 * Prometheus metrics: counters, gauges and latency histograms, rendered in
 * the text exposition format for GET /metrics.
 *
 * Series are registered by (name, labels) and live until metrics_cleanup;
 * registering the same pair twice returns the same series. Updates are
 * lock-free atomics, safe from any thread. Every operation accepts NULL (a
 * series whose registration ran out of memory) and then does nothing.
 */
#ifndef WEBTOON_METRICS_H
#define WEBTOON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"

struct metrics_counter;
struct metrics_gauge;
struct metrics_histogram;

/* Sets the `service` label added to every series. */
void metrics_init(const char *service);
/* Frees every series; pointers handed out before become invalid. */
void metrics_cleanup(void);

/*
 * Registers or finds a series. <labels> is the inside of the braces without
 * the service label, e.g. `route="/pointers",method="POST"`, or "" for none.
 * Returns a borrowed pointer valid until metrics_cleanup, or NULL when out of
 * memory.
 */
struct metrics_counter *metrics_counter(const char *name, const char *help, const char *labels);
struct metrics_gauge *metrics_gauge(const char *name, const char *help, const char *labels);
struct metrics_histogram *metrics_histogram(const char *name, const char *help, const char *labels);
/* Like metrics_histogram with the <n> upper bounds <bounds_us> (ascending,
 * microseconds, at most METRICS_BOUNDS_MAX; borrowed for the life of the
 * registry: a static array) instead of the default 100 µs .. 10 s. A series
 * registered again keeps the bounds it was first registered with. */
#define METRICS_BOUNDS_MAX 24
struct metrics_histogram *metrics_histogram_bounds(const char *name, const char *help,
                                                   const char *labels, const int64_t *bounds_us,
                                                   size_t n);

void metrics_counter_add(struct metrics_counter *c, uint64_t n);
uint64_t metrics_counter_value(const struct metrics_counter *c);
void metrics_gauge_set(struct metrics_gauge *g, int64_t v);
void metrics_gauge_add(struct metrics_gauge *g, int64_t delta);
int64_t metrics_gauge_value(const struct metrics_gauge *g);
/* Records one observation of <us> microseconds (exported in seconds). */
void metrics_histogram_observe_us(struct metrics_histogram *h, int64_t us);
/* Observations so far. */
uint64_t metrics_histogram_count(const struct metrics_histogram *h);

/* Appends every series in text exposition format to <out>. */
int metrics_render(struct buf *out);

/* Appends the process_* families the Prometheus client libraries export
 * (CPU seconds, resident and virtual memory, open and maximum file
 * descriptors, start time), read from /proc/self now; a family whose
 * source cannot be read is left out. */
int metrics_render_process(struct buf *out);

#endif
