/*
 * SQLite backend of the store interface. One handle is one connection used
 * by one thread (SQLITE_OPEN_NOMUTEX). WAL mode lets readers run beside the
 * single writer; write transactions start with BEGIN IMMEDIATE so two
 * writers never deadlock on a lock upgrade, and a busy handler makes a
 * writer wait its turn instead of failing.
 */
#include <ctype.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/metrics/metrics.h"
#include "core/store/sqlite_wal_vfs.h"
#include "core/store/store.h"

#define STORE_SQLITE_CACHE 64     /* prepared statements kept per connection */
#define STORE_SQLITE_MAX_COLS 32  /* widest result row we read */
#define STORE_SQLITE_BUSY_MS 5000 /* wait for the write lock before RC_STORE */

struct store_sqlite {
    struct store base;
    sqlite3 *db;
    int64_t busy_since_us;                   /* monotonic start of the current wait for the lock */
    struct metrics_counter *lock_waits;      /* statements that found the write lock taken */
    struct metrics_histogram *lock_waited;   /* how long a transaction's start waited for it */
    struct metrics_counter *commits;         /* transactions this connection committed */
    struct metrics_counter *pages_written;   /* pages its commits appended to the WAL */
    sqlite3_stmt *cache[STORE_SQLITE_CACHE]; /* prepared statements, matched by SQL text */
    size_t next_evict;                       /* round-robin victim when the cache is full */
};

static int store_sqlite_fail(struct store_sqlite *s, int code)
{
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "sqlite: %s (%d)", sqlite3_errmsg(s->db), code);
    switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
        return RC_CONFLICT;
    case SQLITE_NOMEM:
        return RC_NOMEM;
    default:
        return RC_STORE;
    }
}

static void store_sqlite_close(struct store *st)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    for (size_t i = 0; i < STORE_SQLITE_CACHE; i++)
        sqlite3_finalize(s->cache[i]);
    sqlite3_close_v2(s->db);
    mem_free(s);
}

/*
 * Waits for the write lock in short steps. SQLite's own busy handler sleeps
 * 1, 2, 5, 10, 15, 20, 25 ms...: with every relay and consumer of the
 * machine writing to the one event log, and a service's writer, consumer
 * and relay to its database, a waiter slept on long after the lock was
 * free, and each saga step paid for it. A retry costs a few microseconds.
 */
static int store_sqlite_busy(void *ud, int count)
{
    static const int steps_us[] = {50, 50, 100, 100, 200, 200, 400, 400, 800};
    struct store_sqlite *s = ud;
    int64_t now = clock_mono_us();
    if (count == 0) {
        s->busy_since_us = now;
        metrics_counter_add(s->lock_waits, 1);
    }
    if (now - s->busy_since_us >= (int64_t)STORE_SQLITE_BUSY_MS * 1000)
        return 0; /* SQLITE_BUSY: RC_STORE */
    size_t n = sizeof steps_us / sizeof steps_us[0];
    clock_sleep_us((size_t)count < n ? steps_us[count] : 1000);
    return 1;
}

/* The series of <path>'s database, labelled with its file name (any
 * character but [A-Za-z0-9._-] made '_': a configured path may hold a quote,
 * which would break the exposition format). */
static void store_sqlite_metrics(struct store_sqlite *s, const char *path)
{
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char db[101];
    size_t n = 0;
    for (; name[n] && n < sizeof db - 1; n++)
        db[n] = isalnum((unsigned char)name[n]) || strchr("._-", name[n]) ? name[n] : '_';
    db[n] = '\0';
    char labels[160];
    snprintf(labels, sizeof labels, "db=\"%s\"", db);
    s->lock_waits = metrics_counter("webtoon_store_lock_waits_total",
                                    "SQLite statements that found the write lock taken", labels);
    s->lock_waited =
        metrics_histogram("webtoon_store_lock_wait_seconds",
                          "How long starting a write transaction waited for the lock", labels);
    s->commits = metrics_counter("webtoon_store_commits_total",
                                 "SQLite transactions committed (BEGIN ... COMMIT)", labels);
    s->pages_written = metrics_counter(
        "webtoon_store_pages_written_total",
        "Database pages SQLite wrote to the write-ahead log (each a frame of one page)", labels);
}

static atomic_bool store_sqlite_coalescing;

void store_sqlite_coalesce_wal(bool on) { atomic_store(&store_sqlite_coalescing, on); }

static int store_sqlite_open(const char *url, struct store **out, char *err, size_t errlen)
{
    const char *path = url + strlen("sqlite:");
    struct store_sqlite *s = mem_calloc(1, sizeof *s);
    if (!s)
        return RC_NOMEM;
    s->base.ops = &store_sqlite_ops;
    int code = sqlite3_open_v2(path, &s->db,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                               atomic_load(&store_sqlite_coalescing) ? sqlite_wal_vfs() : NULL);
    if (code != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_sqlite_close(&s->base);
        return RC_STORE;
    }
    store_sqlite_metrics(s, path);
    sqlite3_busy_handler(s->db, store_sqlite_busy, s);
    /* Switching to WAL needs a moment alone with the file, and SQLite does
     * not wait for it: when several processes open a new database at once,
     * retry until the first one has switched it (WAL then persists). */
    int64_t deadline = clock_mono_ms() + STORE_SQLITE_BUSY_MS;
    while ((code = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL)) ==
               SQLITE_BUSY &&
           clock_mono_ms() < deadline)
        clock_sleep_ms(5);
    /* synchronous=FULL: a commit is on disk when it returns, so an
     * acknowledged command survives even a power cut, not only a crash.
     * temp_store=MEMORY: a group commit runs each unit in a savepoint,
     * whose undo copies of pages (the sub-journal) otherwise spill past
     * 64 KiB into a temporary file under /var/tmp, written page by page,
     * then deleted: more writes than the commit's own WAL frames. */
    if (code == SQLITE_OK)
        code = sqlite3_exec(s->db,
                            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                            " PRAGMA temp_store=MEMORY;",
                            NULL, NULL, NULL);
    if (code != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
        store_sqlite_close(&s->base);
        return RC_STORE;
    }
    *out = &s->base;
    return RC_OK;
}

/* Cached prepared statement for <sql>, or NULL with the code in <code>. */
static sqlite3_stmt *store_sqlite_prepare(struct store_sqlite *s, const char *sql, int *code)
{
    sqlite3_stmt **slot = NULL;
    for (size_t i = 0; i < STORE_SQLITE_CACHE; i++) {
        if (s->cache[i] && !strcmp(sqlite3_sql(s->cache[i]), sql))
            return s->cache[i];
        if (!s->cache[i] && !slot)
            slot = &s->cache[i];
    }
    if (!slot) {
        slot = &s->cache[s->next_evict];
        s->next_evict = (s->next_evict + 1) % STORE_SQLITE_CACHE;
        sqlite3_finalize(*slot);
        *slot = NULL;
    }
    *code = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
    return *code == SQLITE_OK ? *slot : NULL;
}

static int store_sqlite_bind(sqlite3_stmt *stmt, const struct store_val *args, size_t nargs)
{
    BUG_ON((size_t)sqlite3_bind_parameter_count(stmt) != nargs);
    for (size_t i = 0; i < nargs; i++) {
        char name[24];
        snprintf(name, sizeof name, "$%zu", i + 1);
        int idx = sqlite3_bind_parameter_index(stmt, name);
        BUG_ON(idx == 0);
        int code;
        switch (args[i].type) {
        case STORE_T_INT:
            code = sqlite3_bind_int64(stmt, idx, args[i].i);
            break;
        case STORE_T_TEXT:
            code = sqlite3_bind_text(stmt, idx, args[i].s, -1, SQLITE_STATIC);
            break;
        default:
            code = sqlite3_bind_null(stmt, idx);
            break;
        }
        if (code != SQLITE_OK)
            return code;
    }
    return SQLITE_OK;
}

static void store_sqlite_read_row(sqlite3_stmt *stmt, struct store_val *vals, size_t ncols)
{
    for (size_t i = 0; i < ncols; i++) {
        switch (sqlite3_column_type(stmt, (int)i)) {
        case SQLITE_NULL:
            vals[i] = STORE_NULL;
            break;
        case SQLITE_INTEGER:
        case SQLITE_FLOAT:
            vals[i] = STORE_INT(sqlite3_column_int64(stmt, (int)i));
            break;
        default:
            vals[i] = STORE_TEXT((const char *)sqlite3_column_text(stmt, (int)i));
            break;
        }
    }
}

static int store_sqlite_exec(struct store *st, const char *sql, const struct store_val *args,
                             size_t nargs, store_row_cb cb, void *ud, int64_t *changes)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    int code = SQLITE_OK, rc = RC_OK;
    sqlite3_stmt *stmt = store_sqlite_prepare(s, sql, &code);
    if (!stmt)
        return store_sqlite_fail(s, code);
    if ((code = store_sqlite_bind(stmt, args, nargs)) != SQLITE_OK) {
        rc = store_sqlite_fail(s, code);
        goto out;
    }
    size_t ncols = (size_t)sqlite3_column_count(stmt);
    BUG_ON(ncols > STORE_SQLITE_MAX_COLS);
    struct store_val vals[STORE_SQLITE_MAX_COLS];
    while ((code = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!cb)
            continue;
        store_sqlite_read_row(stmt, vals, ncols);
        struct store_row row = {.ncols = ncols, .cols = vals};
        if ((rc = cb(ud, &row)) != 0)
            goto out;
    }
    if (code != SQLITE_DONE) {
        rc = store_sqlite_fail(s, code);
        goto out;
    }
    if (changes)
        *changes = sqlite3_changes64(s->db);
out:
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* A script of one statement (BEGIN, COMMIT, a savepoint's) runs as a
 * cached prepared statement: sqlite3_exec would parse it again each time,
 * which was 6% of a service's CPU under load (two savepoint statements per
 * unit of a group commit). */
static int store_sqlite_exec_script(struct store *st, const char *sql)
{
    if (!strchr(sql, ';'))
        return store_sqlite_exec(st, sql, NULL, 0, NULL, NULL, NULL);
    struct store_sqlite *s = (struct store_sqlite *)st;
    int code = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return code == SQLITE_OK ? RC_OK : store_sqlite_fail(s, code);
}

static int store_sqlite_begin(struct store *st)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    s->busy_since_us = 0;
    int rc = store_sqlite_exec_script(st, "BEGIN IMMEDIATE");
    if (s->busy_since_us)
        metrics_histogram_observe_us(s->lock_waited, clock_mono_us() - s->busy_since_us);
    return rc;
}
/* Also counts the WAL frames written since the last commit (statements
 * outside a transaction included): what the disk pays per commit is the
 * number of distinct pages it dirtied. */
static int store_sqlite_commit(struct store *st)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    int rc = store_sqlite_exec_script(st, "COMMIT");
    int pages = 0, unused;
    if (sqlite3_db_status(s->db, SQLITE_DBSTATUS_CACHE_WRITE, &pages, &unused, 1) == SQLITE_OK)
        metrics_counter_add(s->pages_written, (uint64_t)(pages > 0 ? pages : 0));
    if (rc == RC_OK)
        metrics_counter_add(s->commits, 1);
    return rc;
}
static int store_sqlite_rollback(struct store *st)
{
    return store_sqlite_exec_script(st, "ROLLBACK");
}

const struct store_ops store_sqlite_ops = {
    .scheme = "sqlite:",
    .open = store_sqlite_open,
    .close = store_sqlite_close,
    .begin = store_sqlite_begin,
    .commit = store_sqlite_commit,
    .rollback = store_sqlite_rollback,
    .exec = store_sqlite_exec,
    .exec_script = store_sqlite_exec_script,
};
