/*
 * Idempotent inbox and the consumer loop that feeds it.
 *
 * For each event of a subscribed type, the consumer opens a transaction on
 * the service database, records the event id in table `inbox` and runs the
 * handler; both commit together, so an event redelivered after a crash
 * finds its id and has no second effect. The bus offset is committed only
 * after the batch's transactions, so a crash replays rather than loses.
 *
 * A handler that fails is rolled back and retried with back-off, never
 * acknowledged. A handler may return RC_BAD_EVENT for an event it can never
 * apply (malformed payload): that event is recorded, logged and skipped,
 * so one poison message cannot stop a service.
 */
#ifndef WEBTOON_INBOX_H
#define WEBTOON_INBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus/bus.h"
#include "core/store/store.h"

/* The inbox table; every service database applies it as component "inbox". */
extern const struct store_migration inbox_schema[];
extern const size_t inbox_schema_len;

/* Applies one event inside the open transaction of <st>. <payload> is the
 * parsed JSON object (borrowed). <ctx> is inbox_consumer_options.ctx. */
typedef int (*inbox_handler_cb)(void *ctx, struct store *st, const struct bus_event *ev,
                                const json_t *payload);

struct inbox_handler {
    const char *type; /* event type this handler applies; "*": every type
                       * without a handler of its own */
    inbox_handler_cb fn;
};

struct inbox_consumer_options {
    const char *group;     /* consumer group: the service name */
    const char *store_url; /* the service database */
    struct bus_options bus;
    const struct inbox_handler *handlers;
    size_t nhandlers;
    void *ctx;                     /* passed to handlers */
    int64_t poll_interval_ms;      /* longest sleep when nothing arrives */
    int64_t retry_max_ms;          /* longest back-off between handler retries */
    int64_t retention_ms;          /* inbox ids older than this are purged */
    int64_t kill_after;            /* testing: SIGKILL self after this many events (0: off) */
    void (*commit_hook)(void *ud); /* set on the consumer's store (store_set_commit_hook) */
    void *commit_hook_ud;
};

struct inbox_consumer;

/* Starts the consumer thread with its own store and bus handles. */
int inbox_consumer_start(const struct inbox_consumer_options *opts,
                         struct inbox_consumer **out /* OUT */, char *err, size_t errlen);
/* Finishes the event in hand, stops and frees. NULL does nothing. */
void inbox_consumer_stop(struct inbox_consumer *c);

/*
 * Runs the consumer of <opts> in the calling thread until it has applied
 * everything in the log, then returns (for rebuilding a view). <applied>
 * receives the number of events handed to handlers.
 */
int inbox_replay(const struct inbox_consumer_options *opts, int64_t *applied /* OUT */, char *err,
                 size_t errlen);

/*
 * Records <event_id> as handled inside the open transaction of <st>.
 * <fresh> says whether it was new; false means the effect already happened.
 */
int inbox_claim(struct store *st, const char *event_id, bool *fresh /* OUT */);

#endif
