/*
 * Shared inside the service module only (double-underscore and
 * service_catchup names): the running process's parts, which route handlers
 * reach through service_ctx.app, and the read-your-writes state of one
 * request.
 */
#ifndef WEBTOON_SERVICE_INTERNAL_H
#define WEBTOON_SERVICE_INTERNAL_H

#include <limits.h>
#include <stdint.h>

#include "core/auth/verify.h"
#include "core/bus/bus.h"
#include "core/outbox/outbox.h"
#include "core/service/service.h"

struct service_catchup;
struct store_group;

/* One service process. */
struct service_app {
    const struct service_def *def;
    const struct config *cfg;
    char store_url[PATH_MAX + 16];
    struct bus_options bus;
    char event_log[PATH_MAX];
    struct outbox_relay *relay;
    struct store_group *writer;           /* runs the commands' transactions, in groups */
    struct inbox_consumer *consumer;      /* NULL when the service consumes nothing */
    struct service_catchup *catchup;      /* NULL when the service consumes nothing */
    struct service_ctx consumer_ctx;      /* what event handlers see as their context */
    struct auth_verifier *verifier;       /* bearer tokens; NULL for open_access services */
    _Atomic(struct http_server *) server; /* once serving; woken when events are published */
};

/* Read-your-writes state of one request (its http_req_state, or the first
 * member of it). */
struct service_rw {
    bool unseen;    /* the handler reported an id this service has not seen */
    bool caught_up; /* a catch-up wait finished: unseen ids are unknown */
    uint64_t want;  /* snapshot generation asked for */
    int nends;      /* partitions in ends, once the snapshot is in */
    int64_t *ends;  /* the log's end after the request arrived; NULL until known */
    int (*rerun)(struct http_req *req, void *ud); /* runs the handler again */
    void *rerun_ud;
};

/*
 * Parks <req> until this service's consumer group has applied everything
 * that was in the log after the request arrived, then calls <rw>->rerun
 * (with caught_up set); answers 503 catching-up with Retry-After when that
 * takes longer than WEBTOON_CATCHUP_WAIT_MS. Returns <rc> (the handler's
 * answer, final) when this process consumes no events.
 */
int service__catch_up(struct http_req *req, struct service_rw *rw, int rc);

/* Deletes the Idempotency-Keys past their day (command.c): the sweeper's,
 * off the event loops, at start and then every few minutes. */
void service__command_purge(struct store *st);

/* The log's end snapshots (catchup.c): one thread per process. */
int service_catchup_start(const struct bus_options *bus, struct service_catchup **out /* OUT */,
                          char *err, size_t errlen);
void service_catchup_stop(struct service_catchup *c);
/* Asks for a snapshot taken from now on; returns its generation. */
uint64_t service_catchup_request(struct service_catchup *c);
/* True once the snapshot of <generation> (or a newer one) is there: copies
 * it into <ends>/<n> (BUS_PARTITIONS_MAX room); <failed> says the bus could
 * not be asked. Thread-safe, never blocks on I/O. */
bool service_catchup_snapshot(struct service_catchup *c, uint64_t generation, int64_t *ends, int *n,
                              bool *failed);

#endif
