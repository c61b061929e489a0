/*
 * Write store: a small SQL interface that SQLite (embedded default,
 * store_sqlite.c) and PostgreSQL (store_pg.c) implement, selected by URL
 * ("sqlite:<path>", "postgres://…" or "postgresql://…").
 *
 * SQL is written once in the dialect both accept: $1.. placeholders,
 * ON CONFLICT, RETURNING. A handle is one connection and belongs to one
 * thread. Statements are prepared once per handle and cached.
 *
 * Write transactions: store_begin/store_commit/store_rollback. Outside a
 * transaction each statement commits on its own. Errors map to RC_STORE
 * (unavailable, busy: the caller answers 503), RC_CONFLICT (a uniqueness
 * or check constraint failed) or, with PostgreSQL, RC_RETRY (the
 * transaction lost a race with a concurrent one and was rolled back: run
 * it again from the start). After any error inside a transaction, roll
 * back: PostgreSQL refuses further statements in it.
 */
#ifndef WEBTOON_STORE_H
#define WEBTOON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/bug.h"

enum store_type { STORE_T_NULL, STORE_T_INT, STORE_T_TEXT };

struct store_val {
    enum store_type type;
    int64_t i;     /* STORE_T_INT */
    const char *s; /* STORE_T_TEXT: borrowed, NUL-terminated */
};

#define STORE_INT(x) ((struct store_val){.type = STORE_T_INT, .i = (x)})
#define STORE_TEXT(x) ((struct store_val){.type = STORE_T_TEXT, .s = (x)})
#define STORE_NULL ((struct store_val){.type = STORE_T_NULL})
/* A NULL text pointer becomes SQL NULL. */
#define STORE_TEXT_OR_NULL(x) ((x) ? STORE_TEXT(x) : STORE_NULL)

/* One result row; values are borrowed until the callback returns. */
struct store_row {
    size_t ncols;
    const struct store_val *cols;
};

/* Reading a row into a plain struct, one line per field: the text of <v>
 * into <dst> (<len> bytes, cut to fit), "" when <v> is not text; the
 * integer of <v>, or <if_null> when it is not an integer. */
void store_row_text(char *dst, size_t len, const struct store_val *v);
int64_t store_row_int(const struct store_val *v, int64_t if_null);

/* Called once per result row; a non-zero return stops the query and is
 * returned by store_exec. */
typedef int (*store_row_cb)(void *ud, const struct store_row *row);

/* One schema step; versions start at 1 and increase by one. <sql> may hold
 * several statements, in the dialect both backends accept (PostgreSQL's
 * backend translates SQLite's INTEGER PRIMARY KEY AUTOINCREMENT). */
struct store_migration {
    int version;
    const char *sql;
};

/* The <sql> of a step the two backends cannot share (full-text search):
 * SQLite runs <sqlite>, PostgreSQL <pg> (both string literals). A leading
 * record separator marks it; a NUL ends the SQLite half. */
#define STORE_SQL_BY_BACKEND(sqlite, pg) "\x1e" sqlite "\0" pg

struct store;

struct store_ops {
    const char *scheme; /* URL prefix: "sqlite:" */
    int (*open)(const char *url, struct store **out, char *err, size_t errlen);
    void (*close)(struct store *st);
    int (*begin)(struct store *st);
    int (*commit)(struct store *st);
    int (*rollback)(struct store *st);
    int (*exec)(struct store *st, const char *sql, const struct store_val *args, size_t nargs,
                store_row_cb cb, void *ud, int64_t *changes);
    int (*exec_script)(struct store *st, const char *sql);
    /* Takes (<lock>) or releases a lock that serializes migrations across
     * processes; NULL when transactions already do (SQLite). */
    int (*schema_lock)(struct store *st, bool lock);
};

/* An action waiting for its transaction to commit (store_after_commit). */
struct store_deferred {
    void (*fn)(void *ud, int64_t v);
    void *ud;
    int64_t v;
};
/* Actions one transaction may register: a few per unit of work, for a
 * transaction that holds many (a group of events, see inbox.c). */
#define STORE_DEFERRED_MAX 512

/* Every backend's handle starts with this header (zeroed by the backend). */
struct store {
    const struct store_ops *ops;
    bool in_tx;                  /* inside store_begin..commit/rollback */
    void (*on_commit)(void *ud); /* called after each successful commit */
    void *on_commit_ud;
    char errmsg[256];                                   /* last backend error, for logs */
    struct store_deferred deferred[STORE_DEFERRED_MAX]; /* of the open transaction */
    size_t ndeferred;                                   /* 0 outside a transaction */
};

/*
 * Opens a connection for <url>. Returns RC_OK with a new handle in <out>
 * (free with store_close), RC_CONFIG for an unknown scheme, RC_STORE when the
 * database cannot be opened; then <err> (<errlen> bytes) says why.
 */
int store_open(const char *url, struct store **out /* OUT */, char *err, size_t errlen);
void store_close(struct store *st);

int store_begin(struct store *st);
int store_commit(struct store *st);
/* Rolls back if a transaction is open; safe to call when none is. */
void store_rollback(struct store *st);

/*
 * A savepoint inside the open transaction, so one unit of work among many
 * in a transaction can be undone alone (a group of events, each applied or
 * not). store_savepoint, then store_release (keep the work) or
 * store_rollback_to (undo it, with the actions it registered through
 * store_after_commit). Savepoints nest (a group of events inside a unit of
 * the command writer's group): each closes the innermost one open. When
 * store_rollback_to fails, the transaction is lost: roll it back.
 */
struct store_mark {
    size_t ndeferred;
};
int store_savepoint(struct store *st, struct store_mark *mark /* OUT */);
int store_release(struct store *st);
int store_rollback_to(struct store *st, const struct store_mark *mark);
/* How many more actions the open transaction may register. */
size_t store_deferred_room(const struct store *st);

/*
 * Runs <sql> with <nargs> values in <args> bound to $1..$n. <cb> (may be
 * NULL) sees each row. <changes> (may be NULL) receives the number of rows
 * written.
 */
int store_exec(struct store *st, const char *sql, const struct store_val *args, size_t nargs,
               store_row_cb cb, void *ud, int64_t *changes /* OUT */);

#define STORE_ARGS(...)                                                                            \
    ((const struct store_val[]){__VA_ARGS__}), ARRAY_LEN(((const struct store_val[]){__VA_ARGS__}))

/* Runs a query expected to return at most one integer; <found> says whether
 * a row came back (<out> is 0 otherwise). */
int store_query_int(struct store *st, const char *sql, const struct store_val *args, size_t nargs,
                    int64_t *out /* OUT */, bool *found /* OUT */);

/* Runs a query whose first column is text, copying up to <max> values into
 * the rows of <out> (<width> bytes each, cut to fit); <n> says how many. */
int store_query_texts(struct store *st, const char *sql, const struct store_val *args, size_t nargs,
                      char *out, size_t width, size_t max, size_t *n /* OUT */);

/* Runs <fn>(<st>, <ud>) in a transaction of <st> and commits it; while the
 * transaction loses a race (RC_RETRY) it is run again from the start after
 * a short, jittered pause, at most <attempts> times in all. Returns what
 * <fn> or the commit returned (RC_RETRY when every attempt lost). */
int store_run_tx(struct store *st, int attempts, int (*fn)(struct store *st, void *ud), void *ud);

/* Applies the <n> steps of <steps> not yet applied, each in its own
 * transaction, recording (<component>, version) in table schema_migrations;
 * components (core tables, one service's tables) version independently. */
int store_migrate(struct store *st, const char *component, const struct store_migration *steps,
                  size_t n);

/* True when <st> is a PostgreSQL connection: for the few queries the two
 * dialects cannot share (full-text search). */
bool store_is_postgres(const struct store *st);

/* Backend message of the last failure, for logs; borrowed, "" when none. */
const char *store_error(const struct store *st);

/* True when the database answers a trivial query. */
bool store_ping(struct store *st);

/*
 * Whether a commit of <st> waits for the disk (the default) or returns once
 * the database has it in the operating system's hands (SQLite
 * synchronous=NORMAL in WAL mode, PostgreSQL synchronous_commit=off). Only
 * for bookkeeping that a crash may lose because it is redone: the relay's
 * mark that rows were sent (lost, they are published again, which consumers
 * ignore), a consumer's offset (lost, it reads again what its inbox already
 * has). A power cut may lose such commits, never corrupt the database or
 * any commit made durable after them. Outside a transaction; RC_OK or the
 * store's error.
 */
int store_set_durable(struct store *st, bool durable);

/* SQLite only: whether the stores opened from now on write each
 * transaction's WAL frames in one write (sqlite_wal_vfs.h). Off at first;
 * a process sets it once, at start, from WEBTOON_STORE_COALESCE_WAL. */
void store_sqlite_coalesce_wal(bool on);

/* Sets the function called after every successful store_commit (used to
 * wake the outbox relay). */
void store_set_commit_hook(struct store *st, void (*fn)(void *ud), void *ud);

/*
 * Runs <fn>(<ud>, <v>) once the open transaction of <st> commits, and never
 * when it rolls back (a lost race run again registers again); at once when
 * no transaction is open. For effects outside the database that must match
 * what was decided, such as counting a saga's outcome. Returns RC_OK, or
 * RC_NOMEM (nothing registered) when STORE_DEFERRED_MAX actions already
 * wait.
 */
int store_after_commit(struct store *st, void (*fn)(void *ud, int64_t v), void *ud, int64_t v);

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

#endif
