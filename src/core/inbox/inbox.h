/*
 * Idempotent inbox, dead letters, and the consumer loop that feeds them.
 *
 * For each event of a subscribed type, the consumer opens a transaction on
 * the service database, records the event id in table `inbox` and runs the
 * handler; both commit together, so an event redelivered after a crash finds
 * its id and has no second effect. After each batch the consumer records how
 * far it got in `consumer_progress` (per partition, the offset of the last
 * event applied) and only then commits the bus offset: a crash replays
 * rather than loses, and a command can tell whether everything published
 * before it arrived has been applied (read-your-writes, see service.h).
 *
 * A handler that fails is rolled back; what happens next depends on the
 * class of its error (inbox_error_class):
 *   transient (store or bus away, out of memory, a lost serialization race):
 *     retried with back-off, as long as it takes;
 *   already applied (RC_ALREADY_APPLIED: the handler found its business key
 *     done, e.g. an event replayed after its inbox id was purged): the id is
 *     recorded, nothing else happens;
 *   permanent (anything else: a malformed event, a rule that can never
 *     pass): the event goes to table `dead_letters` with the error and the
 *     time, its id is recorded, and the consumer moves on. Operators list,
 *     retry and drop dead letters (`webtoon events dead`).
 * A consumer that has not advanced for `stall_ms` while events wait for it
 * reports itself stalled (metric, log, inbox_consumer_status).
 *
 * Tracing: each run of a handler is a CONSUMER span "process <type>", a
 * child of (and linked to) the PRODUCER span named by the event's
 * traceparent, and the thread's current trace context while the handler
 * and its transaction run, so the events the handler adds are its
 * children and its log lines carry its ids. Each event applied is logged
 * once ("event applied"). Dead letters keep the event's traceparent; a
 * retry (inbox_dead_retry) continues that trace.
 */
#ifndef WEBTOON_INBOX_H
#define WEBTOON_INBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/base/bug.h"
#include "core/bus/bus.h"
#include "core/store/store.h"
#include "core/store/store_group.h"

/* The inbox, progress and dead-letter tables; every service database
 * applies them as component "inbox". */
extern const struct store_migration inbox_schema[];
extern const size_t inbox_schema_len;

/* Applies one event inside the open transaction of <st>. <payload> is the
 * parsed JSON object (borrowed). <ctx> is inbox_consumer_options.ctx.
 * Returns RC_OK, RC_ALREADY_APPLIED, or an error (see the classes above),
 * preferably through inbox_reject to say why. */
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
    void *ctx;                /* passed to handlers */
    int64_t poll_interval_ms; /* longest sleep when nothing arrives */
    int64_t retry_max_ms;     /* longest back-off between handler retries */
    int64_t retention_ms;     /* inbox ids older than this are purged */
    int64_t stall_ms;         /* no progress this long while events wait: stalled */
    int64_t kill_after;       /* testing: SIGKILL self after this many events (0: off) */
    /* Optional: the service's command writer. Groups of events then run as
     * units of its transactions, sharing their commits with the commands
     * (handlers run on its thread, the consumer waiting); NULL: in
     * transactions of the consumer's own connection. */
    struct store_group *writer;
    void (*commit_hook)(void *ud); /* set on the consumer's store (store_set_commit_hook) */
    void *commit_hook_ud;
    /* testing: called with <ctx> and the event on the thread applying it,
     * just before each attempt parses the event's payload for its handler
     * (nothing allocates in between), so fault injection can aim at the
     * parse, e.g. with mem_thread_fail_next; NULL: none */
    void (*parse_hook)(void *ctx, const struct bus_event *ev);
};

enum inbox_error_class { INBOX_TRANSIENT, INBOX_ALREADY_APPLIED, INBOX_PERMANENT };

/* The class of a handler's error code <rc> (not RC_OK). */
enum inbox_error_class inbox_error_class(int rc);

/* Records why the current handler gives up (kept with a dead letter) and
 * returns <rc>. For handlers, on the thread running them. */
int inbox_reject(int rc, const char *fmt, ...) PRINTF_LIKE(2, 3);

struct inbox_consumer;

/* Starts the consumer thread with its own store and bus handles. */
int inbox_consumer_start(const struct inbox_consumer_options *opts,
                         struct inbox_consumer **out /* OUT */, char *err, size_t errlen);
/* Finishes the event in hand, stops and frees. NULL does nothing. */
void inbox_consumer_stop(struct inbox_consumer *c);

/* How a running consumer is doing; thread-safe. */
struct inbox_consumer_status {
    bool stalled;       /* events wait and nothing was applied for stall_ms */
    int64_t stalled_ms; /* since the last progress, while stalled */
    int64_t lag;        /* events not yet consumed, as last measured */
    bool bus_failing;   /* the last poll of the bus, or measure of the lag, failed */
    char error[200];    /* the failure being retried, or "" */
};
void inbox_consumer_status(struct inbox_consumer *c, struct inbox_consumer_status *out /* OUT */);

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

/* --- dead letters (for `webtoon events dead`) ------------------------------ */

struct inbox_dead_letter {
    const char *event_id, *type, *key, *payload, *error, *detail; /* borrowed */
    const char *traceparent; /* the event's, "" when it had none; borrowed */
    int64_t partition, offset;
    int64_t failed_at; /* wall ms of the last failure */
    int64_t attempts;
};

/* Calls <cb> for each dead letter of <st>, oldest first; a non-zero return
 * stops and is returned. */
int inbox_dead_list(struct store *st, int (*cb)(void *ud, const struct inbox_dead_letter *d),
                    void *ud);

/*
 * Applies dead letter <event_id> of <st> again with <handlers> (<n>, as in
 * the consumer options; <ctx> for them), with <payload> instead of the
 * stored one when not NULL (a repaired event). Returns RC_OK when it was
 * applied (or found already applied) and left the table; RC_NOT_FOUND when
 * there is no such dead letter; else the handler's error, which stays
 * recorded with it, and the reason in <err>.
 */
int inbox_dead_retry(struct store *st, const struct inbox_handler *handlers, size_t n, void *ctx,
                     const char *event_id, const char *payload, char *err, size_t errlen);

/* Removes dead letter <event_id> for good; RC_NOT_FOUND when absent. */
int inbox_dead_drop(struct store *st, const char *event_id);

#endif
