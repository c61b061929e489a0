/*
 * Snapshots of the event log's end, for read-your-writes: a request that
 * names an id this service has not seen asks for a snapshot taken after it
 * arrived, then waits (parked, see command.c) until the consumer's recorded
 * progress reaches it. Asking Kafka for its high watermarks is a network
 * round trip, so one thread per process does it, never an event loop;
 * requests that arrive while a snapshot is being taken share the next one.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/log/log.h"
#include "core/service/service_internal.h"

struct service_catchup {
    struct bus *bus;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;      /* under lock */
    uint64_t requested; /* newest generation asked for; under lock */
    uint64_t taken;     /* generation of the snapshot below; under lock */
    bool failed;        /* the bus could not say; under lock */
    int n;              /* partitions in ends; under lock */
    int64_t ends[BUS_PARTITIONS_MAX];
};

static void *catchup_main(void *arg)
{
    struct service_catchup *c = arg;
    int64_t ends[BUS_PARTITIONS_MAX];
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->stopping && c->requested <= c->taken)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->stopping)
            break;
        /* Everyone who asked so far asked before this point. */
        uint64_t generation = c->requested;
        pthread_mutex_unlock(&c->lock);
        int n = 0;
        int rc = bus_end_offsets(c->bus, ends, BUS_PARTITIONS_MAX, &n);
        if (rc != RC_OK)
            log_warn("cannot read the end of the event log (%s: %s)", rc_name(rc),
                     bus_error(c->bus));
        pthread_mutex_lock(&c->lock);
        c->failed = rc != RC_OK;
        c->n = rc == RC_OK ? n : 0;
        memcpy(c->ends, ends, sizeof ends[0] * (size_t)c->n);
        c->taken = generation;
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int service_catchup_start(const struct bus_options *bus, struct service_catchup **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    struct service_catchup *c = mem_calloc(1, sizeof *c);
    if (!c)
        return RC_NOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    int rc = bus_open(bus, &c->bus, err, errlen);
    if (rc == RC_OK && thread_start(&c->thread, "catch-up", catchup_main, c) != 0) {
        snprintf(err, errlen, "cannot start the catch-up thread");
        rc = RC_INTERNAL;
    }
    if (rc != RC_OK) {
        bus_close(c->bus);
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        mem_free(c);
        return rc;
    }
    *out = c;
    return RC_OK;
}

void service_catchup_stop(struct service_catchup *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    bus_close(c->bus);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    mem_free(c);
}

uint64_t service_catchup_request(struct service_catchup *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t generation = ++c->requested;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return generation;
}

bool service_catchup_snapshot(struct service_catchup *c, uint64_t generation, int64_t *ends, int *n,
                              bool *failed)
{
    pthread_mutex_lock(&c->lock);
    bool ready = c->taken >= generation;
    if (ready) {
        *failed = c->failed;
        *n = c->n;
        memcpy(ends, c->ends, sizeof ends[0] * (size_t)c->n);
    }
    pthread_mutex_unlock(&c->lock);
    return ready;
}
