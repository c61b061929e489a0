/* Time helpers; see clock.h. */
#include "core/base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Set once at start (clock_business_use_file), read-only afterwards. */
static char clock_business_file[1024];

static int64_t clock_read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_wall_ms(void) { return clock_read_ns(CLOCK_REALTIME) / 1000000; }
int64_t clock_mono_ms(void) { return clock_read_ns(CLOCK_MONOTONIC) / 1000000; }
int64_t clock_mono_us(void) { return clock_read_ns(CLOCK_MONOTONIC) / 1000; }

void clock_business_use_file(const char *path)
{
    snprintf(clock_business_file, sizeof clock_business_file, "%s", path ? path : "");
}

int64_t clock_business_ms(void)
{
    if (!clock_business_file[0])
        return clock_wall_ms();
    char text[32];
    ssize_t n = -1;
    int fd = open(clock_business_file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, text, sizeof text - 1);
        close(fd);
    }
    if (n <= 0)
        return clock_wall_ms();
    text[n] = '\0';
    char *end;
    errno = 0;
    long long ms = strtoll(text, &end, 10);
    while (*end == '\n' || *end == ' ' || *end == '\r')
        end++;
    return errno || end == text || *end || ms < 0 ? clock_wall_ms() : (int64_t)ms;
}

struct timespec clock_mono_after(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

void clock_sleep_us(int64_t us)
{
    struct timespec left = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

void clock_sleep_ms(int64_t ms) { clock_sleep_us(ms * 1000); }

void clock_format_rfc3339(int64_t ms, char *out, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}
