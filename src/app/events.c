/*
 * Operator commands on the event log (embedded or Kafka): `webtoon events
 * tail` prints events like Kafka's console consumer (one JSON payload per
 * line), `webtoon events reset <group>` rewinds a consumer group so every
 * event is delivered again (the inbox makes that harmless; useful to
 * rebuild views and to prove idempotency), and `webtoon events lag` tells
 * how far behind groups are.
 */
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/base/rc.h"
#include "core/bus/bus.h"

static struct bus *events_bus; /* for the signal handler's interrupt */
static volatile sig_atomic_t events_stop;

static void events_on_signal(int sig)
{
    (void)sig;
    events_stop = 1;
    if (events_bus)
        bus_interrupt(events_bus); /* write(2) to an eventfd: async-signal-safe */
}

/* Opens the configured bus for command <what>; NULL (said why) on failure. */
static struct bus *events_open(const struct config *cfg, const char *what)
{
    char path[PATH_MAX], err[256];
    service_event_log(cfg, path, sizeof path);
    struct bus_options bo;
    service_bus_options(cfg, path, &bo);
    struct bus *b = NULL;
    if (bus_open(&bo, &b, err, sizeof err) != RC_OK)
        fprintf(stderr, "webtoon events %s: %s\n", what, err);
    return b;
}

int app_events_tail(const struct config *cfg, const struct app_tail_options *opts)
{
    struct bus *b = events_open(cfg, "tail");
    if (!b)
        return 1;
    int rc = bus_subscribe(b, NULL, opts->from_beginning ? BUS_FROM_BEGINNING : BUS_FROM_END);
    events_bus = b;
    signal(SIGINT, events_on_signal);
    signal(SIGTERM, events_on_signal);
    while (rc == RC_OK && !events_stop) {
        const struct bus_event *ev;
        size_t n;
        if ((rc = bus_poll(b, opts->exit_at_end ? 0 : 1000, &ev, &n)) != RC_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            if (opts->type && strcmp(opts->type, ev[i].type) != 0)
                continue;
            if (opts->verbose)
                printf("offset=%lld key=%s type=%s\t", (long long)ev[i].offset, ev[i].key,
                       ev[i].type);
            printf("%s\n", ev[i].payload);
        }
        fflush(stdout);
        if (n == 0 && opts->exit_at_end)
            break;
    }
    if (rc != RC_OK)
        fprintf(stderr, "webtoon events tail: %s\n", bus_error(b));
    events_bus = NULL;
    bus_close(b);
    return rc == RC_OK ? 0 : 1;
}

int app_events_reset(const struct config *cfg, const char *group)
{
    struct bus *b = events_open(cfg, "reset");
    if (!b)
        return 1;
    int rc = bus_rewind(b, group);
    switch (rc) {
    case RC_OK:
        fprintf(stderr, "group %s will receive every event again from the start\n", group);
        break;
    case RC_CONFLICT:
        fprintf(stderr, "webtoon events reset: group %s is consuming now; stop it first\n", group);
        break;
    case RC_NOT_FOUND:
        fprintf(stderr, "webtoon events reset: group %s has committed nothing yet\n", group);
        break;
    default:
        fprintf(stderr, "webtoon events reset: %s %s\n", rc_title(rc), bus_error(b));
        break;
    }
    bus_close(b);
    return rc == RC_OK ? 0 : 1;
}

int app_events_lag(const struct config *cfg, const char *const *groups, int n)
{
    struct bus *b = events_open(cfg, "lag");
    if (!b)
        return 1;
    int rc = RC_OK;
    for (int i = 0; i < n && rc == RC_OK; i++) {
        int64_t lag = 0;
        if ((rc = bus_group_lag(b, groups[i], &lag)) == RC_OK)
            printf("%s %lld\n", groups[i], (long long)lag);
        else
            fprintf(stderr, "webtoon events lag: %s: %s %s\n", groups[i], rc_title(rc),
                    bus_error(b));
    }
    bus_close(b);
    return rc == RC_OK ? 0 : 1;
}
