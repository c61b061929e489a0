/*
 * The embedded event log: one SQLite file (WAL) that every process of one
 * machine opens. Events get a global sequence number (their offset); a
 * consumer group's position is the last offset it committed.
 *
 * Wake-ups without polling: next to the log sits "<log>.notify". A
 * publisher touches it after each commit; consumers watch it with inotify,
 * so they wake within milliseconds and sleep at idle. A fallback timeout in
 * the caller covers anything missed.
 *
 * One consumer per group at a time: a member holds an exclusive flock on
 * "<log>.group-<name>.lock". The kernel drops the lock when the holder dies,
 * even by SIGKILL, and a standby member takes over on its next poll. Since
 * the leader reads the log in sequence order, each key's events arrive in
 * the order they were appended.
 *
 * Each event keeps the traceparent of the span that published it in its
 * row (column traceparent, '' when it has none), as Kafka keeps it in a
 * header.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/bus/bus.h"
#include "core/store/store.h"

#define BUS_SQLITE_BATCH 256      /* events returned per poll at most */
#define BUS_SQLITE_STANDBY_MS 500 /* how often a standby member retries the lock */
#define BUS_SQLITE_GROUP_MAX 64

static const struct store_migration bus_sqlite_schema[] = {
    {1, "CREATE TABLE events ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " event_id TEXT NOT NULL UNIQUE,"
        " topic TEXT NOT NULL,"
        " key TEXT NOT NULL,"
        " type TEXT NOT NULL,"
        " payload TEXT NOT NULL,"
        " appended_at INTEGER NOT NULL);"
        "CREATE INDEX events_topic_seq ON events (topic, seq);"
        "CREATE TABLE consumer_offsets ("
        " grp TEXT NOT NULL, topic TEXT NOT NULL, last_seq INTEGER NOT NULL,"
        " updated_at INTEGER NOT NULL, PRIMARY KEY (grp, topic));"},
    /* The publisher's trace context; '' in events appended before (and by
     * writers that do not know the column). */
    {2, "ALTER TABLE events ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';"},
};

struct bus_sqlite {
    struct bus base;
    struct store *db;
    char *topic;
    char *path;
    int notify_fd; /* the notify file, touched after each publish */
    bool relaxed;  /* synchronous=NORMAL, set by a commit; a publish restores FULL */
    /* consumer side */
    bool subscribed;
    char *group; /* NULL: no group, nothing committed */
    enum bus_start start;
    int lock_fd; /* group lock file; -1 without a group */
    bool leader; /* holds the group lock (always true without a group) */
    int inotify_fd;
    int wake_fd;       /* eventfd written by bus_interrupt */
    int64_t position;  /* last offset handed out and committed-or-not */
    int64_t committed; /* last offset committed */
    struct bus_event batch[BUS_SQLITE_BATCH];
    char *batch_text[BUS_SQLITE_BATCH]; /* one allocation per event holding its strings */
    size_t batch_len;
};

static int bus_sqlite_fail(struct bus_sqlite *b, int rc)
{
    snprintf(b->base.errmsg, sizeof b->base.errmsg, "%s", store_error(b->db));
    return rc == RC_STORE ? RC_BUS : rc;
}

static void bus_sqlite_free_batch(struct bus_sqlite *b)
{
    for (size_t i = 0; i < b->batch_len; i++)
        MEM_FREE_NULL(b->batch_text[i]);
    b->batch_len = 0;
}

static void bus_sqlite_close(struct bus *base)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    bus_sqlite_free_batch(b);
    store_close(b->db);
    if (b->notify_fd >= 0)
        close(b->notify_fd);
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* releases the group lock */
    if (b->inotify_fd >= 0)
        close(b->inotify_fd);
    if (b->wake_fd >= 0)
        close(b->wake_fd);
    mem_free(b->topic);
    mem_free(b->path);
    mem_free(b->group);
    mem_free(b);
}

/* New "<path><suffix>" string, or NULL. */
static char *bus_sqlite_sibling(const char *path, const char *suffix)
{
    size_t len = strlen(path) + strlen(suffix) + 1;
    char *s = mem_alloc(len);
    if (s)
        snprintf(s, len, "%s%s", path, suffix);
    return s;
}

static int bus_sqlite_open(const struct bus_options *opts, struct bus **out, char *err,
                           size_t errlen)
{
    struct bus_sqlite *b = mem_calloc(1, sizeof *b);
    if (!b)
        return RC_NOMEM;
    b->base.ops = &bus_sqlite_ops;
    b->notify_fd = b->lock_fd = b->inotify_fd = b->wake_fd = -1;
    int rc = RC_NOMEM;
    char *url = bus_sqlite_sibling("sqlite:", opts->event_log);
    char *notify = bus_sqlite_sibling(opts->event_log, ".notify");
    b->topic = mem_strdup(opts->topic);
    b->path = mem_strdup(opts->event_log);
    if (!url || !notify || !b->topic || !b->path)
        goto out;
    if ((rc = store_open(url, &b->db, err, errlen)) != RC_OK) {
        if (rc != RC_NOMEM) /* out of memory is not a broken log */
            rc = RC_BUS;
        goto out;
    }
    if ((rc = store_migrate(b->db, "event-log", bus_sqlite_schema, ARRAY_LEN(bus_sqlite_schema))) !=
        RC_OK) {
        snprintf(err, errlen, "event log %s: %s", opts->event_log, store_error(b->db));
        rc = RC_BUS;
        goto out;
    }
    b->notify_fd = open(notify, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    b->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->notify_fd < 0 || b->wake_fd < 0) {
        snprintf(err, errlen, "event log %s: %s", notify, strerror(errno));
        rc = RC_BUS;
        goto out;
    }
    rc = RC_OK;
out:
    mem_free(url);
    mem_free(notify);
    if (rc != RC_OK)
        bus_sqlite_close(&b->base);
    else
        *out = &b->base;
    return rc;
}

static int bus_sqlite_publish(struct bus *base, const struct bus_event *events, size_t n)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    int rc = b->relaxed ? store_set_durable(b->db, true) : RC_OK;
    if (rc == RC_OK) {
        b->relaxed = false;
        rc = store_begin(b->db);
    }
    if (rc != RC_OK)
        return bus_sqlite_fail(b, rc);
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < n && rc == RC_OK; i++) {
        const struct bus_event *e = &events[i];
        /* An id already in the log was published before (a relay retrying
         * after a crash): keep the first copy. */
        rc = store_exec(
            b->db,
            "INSERT INTO events (event_id, topic, key, type, payload, appended_at, traceparent)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
            STORE_ARGS(STORE_TEXT(e->id), STORE_TEXT(b->topic), STORE_TEXT(e->key),
                       STORE_TEXT(e->type), STORE_TEXT(e->payload), STORE_INT(now),
                       STORE_TEXT(e->traceparent ? e->traceparent : "")),
            NULL, NULL, NULL);
    }
    if (rc == RC_OK)
        rc = store_commit(b->db);
    if (rc != RC_OK) {
        rc = bus_sqlite_fail(b, rc);
        store_rollback(b->db);
        return rc;
    }
    /* Wake the watchers; if this fails they still find the events on their
     * fallback poll, so the publish stands. */
    (void)futimens(b->notify_fd, NULL);
    return RC_OK;
}

/* Tries to become the group's consumer; sets b->leader and, on success,
 * loads the starting position. */
static int bus_sqlite_try_lead(struct bus_sqlite *b)
{
    if (b->lock_fd >= 0 && flock(b->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? RC_OK : RC_BUS;
    int64_t pos = 0;
    bool found = false;
    int rc = RC_OK;
    switch (b->start) {
    case BUS_FROM_COMMITTED:
        if (b->group)
            rc = store_query_int(
                b->db, "SELECT last_seq FROM consumer_offsets WHERE grp = $1 AND topic = $2",
                STORE_ARGS(STORE_TEXT(b->group), STORE_TEXT(b->topic)), &pos, &found);
        break;
    case BUS_FROM_BEGINNING:
        break;
    case BUS_FROM_END:
        rc = store_query_int(b->db, "SELECT COALESCE(MAX(seq), 0) FROM events", NULL, 0, &pos,
                             &found);
        break;
    }
    if (rc != RC_OK) {
        if (b->lock_fd >= 0)
            flock(b->lock_fd, LOCK_UN);
        return bus_sqlite_fail(b, rc);
    }
    b->position = b->committed = pos;
    b->leader = true;
    return RC_OK;
}

/* Opens (creating it) the lock file of consumer group <group> next to the
 * log of <b>: RC_OK with a new descriptor in <fd>, RC_NOMEM, or RC_BUS
 * when it cannot be opened. */
static int bus_sqlite_open_group_lock(const struct bus_sqlite *b, const char *group,
                                      int *fd /* OUT */)
{
    char suffix[BUS_SQLITE_GROUP_MAX + 16];
    snprintf(suffix, sizeof suffix, ".group-%s.lock", group);
    char *lock_path = bus_sqlite_sibling(b->path, suffix);
    if (!lock_path)
        return RC_NOMEM;
    *fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    mem_free(lock_path);
    return *fd < 0 ? RC_BUS : RC_OK;
}

static int bus_sqlite_subscribe(struct bus *base, const char *group, enum bus_start start)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    BUG_ON(b->subscribed);
    if (group && !id_is_token(group, strlen(group), BUS_SQLITE_GROUP_MAX))
        return RC_INVALID;
    b->start = start;
    b->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    char *notify = bus_sqlite_sibling(b->path, ".notify");
    int rc = RC_OK;
    if (!notify) {
        rc = RC_NOMEM;
        goto out;
    }
    if (b->inotify_fd < 0 || inotify_add_watch(b->inotify_fd, notify, IN_ATTRIB | IN_MODIFY) < 0) {
        snprintf(b->base.errmsg, sizeof b->base.errmsg, "inotify on %s: %s", notify,
                 strerror(errno));
        rc = RC_BUS;
        goto out;
    }
    if (group) {
        b->group = mem_strdup(group);
        rc = b->group ? bus_sqlite_open_group_lock(b, group, &b->lock_fd) : RC_NOMEM;
        if (rc != RC_OK)
            goto out;
    }
    b->subscribed = true;
    rc = bus_sqlite_try_lead(b);
out:
    mem_free(notify);
    return rc;
}

/* Empties an eventfd or inotify descriptor so the next poll(2) sleeps. */
static void bus_sqlite_drain_fd(int fd)
{
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

struct bus_sqlite_reader {
    struct bus_sqlite *b;
    int rc;
};

static int bus_sqlite_take_row(void *ud, const struct store_row *row)
{
    struct bus_sqlite_reader *r = ud;
    struct bus_sqlite *b = r->b;
    const char *id = row->cols[1].s, *key = row->cols[2].s, *type = row->cols[3].s,
               *payload = row->cols[4].s, *tp = row->cols[6].s;
    size_t ltp = strlen(tp) <= BUS_TRACEPARENT_MAX ? strlen(tp) : 0;
    struct bus_event *e = &b->batch[b->batch_len];
    char *text;
    if (bus_event_copy(e, &text, id, strlen(id), key, strlen(key), type, strlen(type), payload,
                       strlen(payload), tp, ltp) != RC_OK) {
        r->rc = RC_NOMEM;
        return 1;
    }
    e->offset = row->cols[0].i;
    e->partition = 0;
    e->timestamp_ms = row->cols[5].i;
    b->batch_text[b->batch_len++] = text;
    return 0;
}

static int bus_sqlite_read(struct bus_sqlite *b)
{
    bus_sqlite_free_batch(b);
    struct bus_sqlite_reader r = {.b = b, .rc = RC_OK};
    int rc = store_exec(
        b->db,
        "SELECT seq, event_id, key, type, payload, appended_at, traceparent FROM events"
        " WHERE topic = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        STORE_ARGS(STORE_TEXT(b->topic), STORE_INT(b->position), STORE_INT(BUS_SQLITE_BATCH)),
        bus_sqlite_take_row, &r, NULL);
    if (rc != RC_OK) {
        bus_sqlite_free_batch(b);
        return r.rc != RC_OK ? r.rc : bus_sqlite_fail(b, rc);
    }
    return RC_OK;
}

/* Sleeps until a publish, an interrupt or <timeout_ms>. */
static void bus_sqlite_wait(struct bus_sqlite *b, int timeout_ms, bool watch_log)
{
    struct pollfd fds[2] = {{.fd = b->wake_fd, .events = POLLIN},
                            {.fd = b->inotify_fd, .events = POLLIN}};
    poll(fds, watch_log ? 2 : 1, timeout_ms);
    bus_sqlite_drain_fd(b->wake_fd);
}

static int bus_sqlite_poll(struct bus *base, int timeout_ms, const struct bus_event **events,
                           size_t *n)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    BUG_ON(!b->subscribed);
    bus_sqlite_free_batch(b);
    if (!b->leader) {
        int rc = bus_sqlite_try_lead(b);
        if (rc != RC_OK || !b->leader) {
            bus_sqlite_wait(
                b, timeout_ms < BUS_SQLITE_STANDBY_MS ? timeout_ms : BUS_SQLITE_STANDBY_MS, false);
            return rc;
        }
    }
    /* Drain pending notifications first: anything published before this
     * point is found by the read below; anything after re-arms the fd. */
    bus_sqlite_drain_fd(b->inotify_fd);
    int rc = bus_sqlite_read(b);
    if (rc == RC_OK && b->batch_len == 0 && timeout_ms > 0) {
        bus_sqlite_wait(b, timeout_ms, true);
        bus_sqlite_drain_fd(b->inotify_fd);
        rc = bus_sqlite_read(b);
    }
    if (rc != RC_OK)
        return rc;
    if (b->batch_len > 0)
        b->position = b->batch[b->batch_len - 1].offset;
    *events = b->batch;
    *n = b->batch_len;
    return RC_OK;
}

static int bus_sqlite_commit(struct bus *base)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    if (!b->group || !b->leader || b->position == b->committed)
        return RC_OK;
    /* An offset a crash loses only replays events the consumer's inbox
     * already has: no fsync for it. The connection stays relaxed until it
     * appends (most consume only), so a batch costs no mode switches. */
    int rc = b->relaxed ? RC_OK : store_set_durable(b->db, false);
    if (rc == RC_OK) {
        b->relaxed = true;
        rc = store_exec(b->db,
                        "INSERT INTO consumer_offsets (grp, topic, last_seq, updated_at)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (grp, topic) DO UPDATE"
                        " SET last_seq = excluded.last_seq, updated_at = excluded.updated_at",
                        STORE_ARGS(STORE_TEXT(b->group), STORE_TEXT(b->topic),
                                   STORE_INT(b->position), STORE_INT(clock_wall_ms())),
                        NULL, NULL, NULL);
    }
    if (rc != RC_OK)
        return bus_sqlite_fail(b, rc);
    b->committed = b->position;
    return RC_OK;
}

static void bus_sqlite_interrupt(struct bus *base)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    uint64_t one = 1;
    (void)!write(b->wake_fd, &one, sizeof one);
}

static int bus_sqlite_lag(struct bus *base, int64_t *out)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    if (!b->leader)
        return RC_OK; /* a standby consumes nothing, so it lags nothing */
    int rc = store_query_int(b->db, "SELECT COUNT(*) FROM events WHERE topic = $1 AND seq > $2",
                             STORE_ARGS(STORE_TEXT(b->topic), STORE_INT(b->committed)), out, NULL);
    return rc == RC_OK ? RC_OK : bus_sqlite_fail(b, rc);
}

/* One partition: the whole log, in sequence order. */
static int bus_sqlite_end_offsets(struct bus *base, int64_t *ends, int max, int *n)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    BUG_ON(max < 1);
    int rc = store_query_int(b->db, "SELECT COALESCE(MAX(seq), -1) FROM events WHERE topic = $1",
                             STORE_ARGS(STORE_TEXT(b->topic)), &ends[0], NULL);
    if (rc != RC_OK)
        return bus_sqlite_fail(b, rc);
    *n = 1;
    return RC_OK;
}

static int bus_sqlite_rewind(struct bus *base, const char *group)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    if (!id_is_token(group, strlen(group), BUS_SQLITE_GROUP_MAX))
        return RC_INVALID;
    int fd;
    int rc = bus_sqlite_open_group_lock(b, group, &fd);
    if (rc != RC_OK)
        return rc;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = RC_CONFLICT; /* a live consumer would overwrite the rewind */
        goto out;
    }
    int64_t changed = 0;
    rc = store_exec(b->db, "UPDATE consumer_offsets SET last_seq = 0 WHERE grp = $1 AND topic = $2",
                    STORE_ARGS(STORE_TEXT(group), STORE_TEXT(b->topic)), NULL, NULL, &changed);
    if (rc != RC_OK)
        rc = bus_sqlite_fail(b, rc);
    else if (changed == 0)
        rc = RC_NOT_FOUND;
out:
    close(fd); /* also releases the lock */
    return rc;
}

static int bus_sqlite_group_lag(struct bus *base, const char *group, int64_t *out)
{
    struct bus_sqlite *b = (struct bus_sqlite *)base;
    int rc =
        store_query_int(b->db,
                        "SELECT COUNT(*) FROM events WHERE topic = $1 AND seq > COALESCE("
                        "(SELECT last_seq FROM consumer_offsets WHERE grp = $2 AND topic = $1),"
                        " 0)",
                        STORE_ARGS(STORE_TEXT(b->topic), STORE_TEXT(group)), out, NULL);
    return rc == RC_OK ? RC_OK : bus_sqlite_fail(b, rc);
}

const struct bus_ops bus_sqlite_ops = {
    .rewind = bus_sqlite_rewind,
    .name = "embedded",
    .open = bus_sqlite_open,
    .close = bus_sqlite_close,
    .publish = bus_sqlite_publish,
    .subscribe = bus_sqlite_subscribe,
    .poll = bus_sqlite_poll,
    .commit = bus_sqlite_commit,
    .interrupt = bus_sqlite_interrupt,
    .lag = bus_sqlite_lag,
    .group_lag = bus_sqlite_group_lag,
    .end_offsets = bus_sqlite_end_offsets,
};
