/* Time helpers: wall clock for timestamps, monotonic clock for intervals,
 * business clock for decisions that tests must be able to move in time. */
#ifndef WEBTOON_BASE_CLOCK_H
#define WEBTOON_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (wall clock; may jump). */
int64_t clock_wall_ms(void);
/* The time business rules decide by (an episode free from a date, a "new"
 * episode): the wall clock, or, once clock_business_use_file named a file,
 * the milliseconds since the epoch written in it (read at every call, so a
 * test moves time by rewriting it; unreadable: the wall clock). */
int64_t clock_business_ms(void);
/* Makes clock_business_ms read <path> ("" or NULL: the wall clock). Call
 * once at start, before any thread reads the clock. */
void clock_business_use_file(const char *path);
/* Milliseconds from an arbitrary origin that never goes back. */
int64_t clock_mono_ms(void);
/* Microseconds, monotonic; for latency measurement. */
int64_t clock_mono_us(void);
/* The CLOCK_MONOTONIC time <ms> milliseconds from now, for waits with an
 * absolute deadline (pthread_cond_timedwait on a monotonic condvar). */
struct timespec clock_mono_after(int64_t ms);
/* Sleeps <ms> milliseconds (restarts on EINTR). */
void clock_sleep_ms(int64_t ms);
/* Sleeps <us> microseconds (restarts on EINTR). */
void clock_sleep_us(int64_t us);
/* Writes <ms> since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-26T21:42:13.123Z") into <out> (at least 25 bytes). */
void clock_format_rfc3339(int64_t ms, char *out, size_t size);

#endif
