/*
 * Event bus: append domain events to a topic and consume them in order
 * through consumer groups with committed offsets, behind one interface that
 * the embedded event log (a SQLite file shared by the processes of one
 * machine, bus_sqlite.c) and Apache Kafka (bus_kafka.c) implement.
 *
 * Delivery is at least once: a consumer commits after it has applied a
 * batch, so a crash in between replays that batch; consumers make replays
 * harmless with an inbox (see inbox.h). Events with the same key are
 * delivered in the order they were published. The embedded log stores a
 * republished event id once; Kafka may store it twice (a relay that
 * crashed between publishing and marking sent), which the inbox absorbs.
 *
 * A handle is used by one thread, except bus_interrupt which any thread may
 * call to wake a blocked bus_poll.
 */
#ifndef WEBTOON_BUS_H
#define WEBTOON_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus_event {
    const char *id;      /* unique event id; publishing the same id twice stores it once */
    const char *key;     /* partition key (userId): same key, same order */
    const char *type;    /* event type, carried as header `type` */
    const char *payload; /* JSON text */
    /* W3C traceparent of the span that published it (Kafka header
     * `traceparent`), untrusted; NULL or "" for none when publishing, never
     * NULL from bus_poll */
    const char *traceparent;
    int64_t offset;       /* position in its partition; set by bus_poll */
    int32_t partition;    /* partition it was read from (0 on the embedded log); set by bus_poll */
    int64_t timestamp_ms; /* when appended; set by bus_poll */
};

enum bus_start {
    BUS_FROM_COMMITTED, /* group's committed offset; the beginning for a new group */
    BUS_FROM_BEGINNING, /* everything, ignoring commits (tail, rebuild) */
    BUS_FROM_END,       /* only what is published from now on */
};

struct bus_options {
    const char *event_log;     /* embedded: path of the SQLite log file */
    const char *topic;         /* topic for all domain events */
    const char *kafka_brokers; /* Kafka bootstrap servers; NULL or "": the embedded log */
    int partitions;            /* Kafka: partitions of the topic when we create it; 0: 6 */
};

struct bus;

struct bus_ops {
    const char *name;
    int (*open)(const struct bus_options *opts, struct bus **out, char *err, size_t errlen);
    void (*close)(struct bus *b);
    int (*publish)(struct bus *b, const struct bus_event *events, size_t n);
    int (*subscribe)(struct bus *b, const char *group, enum bus_start start);
    int (*poll)(struct bus *b, int timeout_ms, const struct bus_event **events, size_t *n);
    int (*commit)(struct bus *b);
    void (*interrupt)(struct bus *b);
    int (*lag)(struct bus *b, int64_t *out);
    int (*rewind)(struct bus *b, const char *group);
    int (*group_lag)(struct bus *b, const char *group, int64_t *out);
    int (*end_offsets)(struct bus *b, int64_t *ends, int max, int *n);
};

/* Every backend's handle starts with this header. */
struct bus {
    const struct bus_ops *ops;
    char errmsg[256]; /* last backend error, for logs */
};

/* Opens a handle on Kafka when <opts>->kafka_brokers is set, else on the
 * embedded log. Returns RC_OK with a new handle in <out> (free with
 * bus_close), RC_NOMEM, or RC_BUS with a reason in <err>. */
int bus_open(const struct bus_options *opts, struct bus **out /* OUT */, char *err, size_t errlen);
void bus_close(struct bus *b);

/* Appends <n> events atomically; durable when it returns RC_OK. */
int bus_publish(struct bus *b, const struct bus_event *events, size_t n);

/*
 * Makes this handle a consumer of the topic. With a <group>, the group's
 * committed offset is used. On the embedded log at most one member of the
 * group consumes at a time (others stand by and take over when it goes
 * away); on Kafka the members share the topic's partitions, each key
 * staying with one member. Without a group (NULL) nothing is ever
 * committed.
 */
int bus_subscribe(struct bus *b, const char *group, enum bus_start start);

/*
 * Waits up to <timeout_ms> for events after the current position and
 * returns a batch of them (possibly empty) in <events>/<n>, borrowed until
 * the next poll or close. Returns early when bus_interrupt is called. With
 * <timeout_ms> 0 an empty batch means the consumer has reached the end of
 * the log (Kafka waits for its assignment and fetches to get there), so
 * polling until empty reads everything published so far.
 */
int bus_poll(struct bus *b, int timeout_ms, const struct bus_event **events /* OUT */,
             size_t *n /* OUT */);

/* Commits the group's offset past the last batch returned by bus_poll. */
int bus_commit(struct bus *b);

/* Wakes a bus_poll blocked in another thread; safe in a signal handler. */
void bus_interrupt(struct bus *b);

/* Events published but not yet committed by this consumer's group. */
int bus_lag(struct bus *b, int64_t *out /* OUT */);

/* Moves <group> back to the start of the log so that every event is
 * delivered to it again. Refused with RC_CONFLICT while a member of the
 * group is consuming; RC_NOT_FOUND when the group never committed. */
int bus_rewind(struct bus *b, const char *group);

/* Events published but not yet committed by <group>, measured from outside
 * the group (nothing is joined or locked); a group that never committed
 * lags by the whole log. For operators and tests (`webtoon events lag`). */
int bus_group_lag(struct bus *b, const char *group, int64_t *out /* OUT */);

/* The log's end now: for each of the <n> partitions (at most <max>), the
 * offset of its last event, or -1 when it holds none. A consumer that has
 * applied up to these offsets has seen everything published before the
 * call. May block on the network (Kafka): not for an event loop. */
int bus_end_offsets(struct bus *b, int64_t *ends /* OUT */, int max, int *n /* OUT */);
#define BUS_PARTITIONS_MAX 256

/*
 * Points <e>'s id, key, type, payload and traceparent at NUL-terminated
 * copies of the given bytes (<len> each, data may be NULL when the length
 * is 0), all in one new allocation returned in <block>: the event lives
 * until <block> is freed with mem_free. Offset and timestamp are left
 * alone. RC_NOMEM on failure, <e> untouched.
 */
int bus_event_copy(struct bus_event *e, char **block /* OUT */, const char *id, size_t lid,
                   const char *key, size_t lkey, const char *type, size_t ltype,
                   const char *payload, size_t lpayload, const char *traceparent,
                   size_t ltraceparent);

/* The longest traceparent the bus carries; a longer header is dropped (the
 * W3C format is 55 characters, later versions may add a little). */
#define BUS_TRACEPARENT_MAX 256

/* Backend message of the last failure; borrowed, "" when none. */
const char *bus_error(const struct bus *b);

extern const struct bus_ops bus_sqlite_ops;
extern const struct bus_ops bus_kafka_ops;

#endif
