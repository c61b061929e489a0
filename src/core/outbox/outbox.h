/*
 * Transactional outbox. A service records each event in its own database,
 * in the same transaction as the state change that caused it
 * (outbox_add), so an event exists if and only if its change committed.
 * A relay thread then publishes unsent rows to the bus in order, marks them
 * sent, and retries with back-off until the bus takes them: nothing stays
 * stranded. Sent rows are purged after a retention period. On SQLite the
 * relay remembers how far it published and marks rows sent in bulk, at
 * most OUTBOX_MARK_EVERY_MS later (at once when nothing else waits); a
 * crash before the mark publishes those rows again, which consumers
 * ignore.
 *
 * Event payloads are JSON objects carrying `eventType`, `eventId`,
 * `timestamp` (milliseconds since the epoch) and, when someone acted,
 * `actor` besides the aggregate's fields, as the original model put them
 * on the wire.
 *
 * Tracing: each event is published by a PRODUCER span, a child of the
 * adding thread's current trace context (a new trace when there is none).
 * Its ids are made by outbox_add and kept in the row; the event carries
 * its traceparent; the relay submits the span (named "publish <type>", from
 * the row's creation to its publication) once the row is published.
 */
#ifndef WEBTOON_OUTBOX_H
#define WEBTOON_OUTBOX_H

#include <jansson.h>
#include <stdint.h>

#include "core/bus/bus.h"
#include "core/store/store.h"

/* The outbox table; every service database applies it as component
 * "outbox". */
extern const struct store_migration outbox_schema[];
extern const size_t outbox_schema_len;

/*
 * Adds one event to the outbox of <st>, inside the caller's open
 * transaction. <fields> (borrowed) are the aggregate's fields; <key> is the
 * partition key (the userId). Writes the new event id into <event_id>
 * (ID_UUID_LEN + 1 bytes) when not NULL.
 */
int outbox_add(struct store *st, const char *key, const char *type, const json_t *fields,
               char *event_id /* OUT, may be NULL */);

/* outbox_add that takes ownership of <fields> on every path: a service's
 * one way to emit, so a builder may hand over a failed json_pack (NULL),
 * answered RC_NOMEM. */
int outbox_emit(struct store *st, const char *key, const char *type, json_t *fields);

/* The user on whose behalf this thread adds events from now on: the caller
 * of a command, or the actor of the event a handler reacts to, so that a
 * saga's every step says who started it. NULL: nobody (a sweeper's own
 * decision). Events carry it as `actor`. <actor> is borrowed until reset. */
void outbox_set_actor(const char *actor);

struct outbox_relay_options {
    const char *store_url;    /* the service database */
    struct bus_options bus;   /* where events go */
    int64_t poll_interval_ms; /* fallback check when nobody calls outbox_relay_notify */
    int64_t retry_max_ms;     /* longest back-off after a failed publish */
    int64_t retention_ms;     /* sent rows older than this are purged */
    bool paused;              /* testing: never publish */
    /* Called on the relay thread whenever outbox_relay_published may have
     * turned true for more epochs (e.g. to wake requests waiting on it). */
    void (*on_published)(void *ud);
    void *on_published_ud;
};

struct outbox_relay;

/* Starts the relay thread with its own store and bus handles. Returns
 * RC_OK with a new relay in <out> (stop with outbox_relay_stop), or an
 * error with a reason in <err>. */
int outbox_relay_start(const struct outbox_relay_options *opts, struct outbox_relay **out /* OUT */,
                       char *err, size_t errlen);
/* Wakes the relay: something may have been committed. Thread-safe, cheap;
 * suitable as a store commit hook (<relay> as the user data). Every call
 * starts a new epoch (see outbox_relay_epoch). */
void outbox_relay_notify(void *relay);

/*
 * Read-your-writes for the events a commit added: call
 * outbox_relay_epoch right after the commit (its hook has run), then
 * outbox_relay_published(<epoch>) turns true once the relay has published
 * every row committed before that point (it looked at the outbox after
 * the commit and found nothing older left). Both are thread-safe.
 */
uint64_t outbox_relay_epoch(struct outbox_relay *relay);
bool outbox_relay_published(struct outbox_relay *relay, uint64_t epoch);

/* How the relay is doing, for /readyz and for deciding whether waiting for
 * it makes sense. Thread-safe. */
struct outbox_relay_status {
    bool publishing;    /* neither paused, failing, nor stuck in a slow publish */
    bool paused;        /* testing setting */
    int64_t failing_ms; /* how long publishing has failed (or hung); 0: it works */
    char error[160];    /* the last failure while failing_ms > 0 */
};
void outbox_relay_status(struct outbox_relay *relay, struct outbox_relay_status *out /* OUT */);
/* Publishes what is pending (for at most <flush_ms>), stops the thread and
 * frees <relay>. NULL does nothing. */
void outbox_relay_stop(struct outbox_relay *relay, int64_t flush_ms);

/* Unsent rows in the outbox of <st> (for metrics and tests). */
int outbox_backlog(struct store *st, int64_t *out /* OUT */);

/* Rows up to this sequence number are published, though perhaps not yet
 * marked sent (0: see the marks alone). Thread-safe. */
int64_t outbox_relay_published_upto(struct outbox_relay *relay);

/* Measures the unsent rows of <st>'s outbox past <published_upto> (see
 * outbox_relay_published_upto) for the metrics: how many
 * (webtoon_outbox_backlog) and how long the oldest has waited
 * (webtoon_outbox_oldest_unsent_age_seconds, 0 when none). Run apart from
 * the relay (by the service's sweeper), so that a relay that cannot
 * publish, or hangs, still shows; the relay measures too after each pass.
 * Two measurements racing may leave an older pair for up to a sweep. */
int outbox_measure(struct store *st, int64_t published_upto);

#endif
