/*
 * PostgreSQL backend of the store interface, on libpq. A handle is one
 * connection used by one thread; since every HTTP thread, the relay and the
 * consumer each open their own, a process holds a small pool of them.
 *
 * Statements are prepared once per connection (names w1, w2, ..., matched
 * by SQL text) and run with their $1..$n arguments sent as text: integers
 * are declared int8, the other types are inferred by the server. Results
 * come back as text and are mapped to store values: int2/int4/int8, bool
 * and integral numeric/float become STORE_T_INT, SQL NULL STORE_T_NULL,
 * everything else STORE_T_TEXT.
 *
 * Write transactions run at SERIALIZABLE, the safety the SQLite backend
 * gets from its single writer: code that reads, decides and writes in one
 * transaction (open versus cancel, a balance check) stays correct under
 * concurrency. The price is that a transaction may be refused by a
 * serialization failure or a deadlock (SQLSTATE 40001, 40P01), reported
 * as RC_RETRY: the caller runs the whole transaction again. Integrity
 * violations (class 23: unique, check) are RC_CONFLICT, as with SQLite.
 *
 * A lost connection (server restart, network) fails the statement in hand
 * with RC_STORE; the next call outside a transaction reconnects, and
 * prepared statements are prepared again on the new connection.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/store/store.h"

#define STORE_PG_CACHE 128     /* prepared statements kept per connection */
#define STORE_PG_MAX_COLS 32   /* widest result row we read */
#define STORE_PG_MAX_PARAMS 64 /* most $n in one statement */
#define STORE_PG_INT8_OID 20   /* pg_type oids of the types we map */
#define STORE_PG_INT2_OID 21
#define STORE_PG_INT4_OID 23
#define STORE_PG_BOOL_OID 16
#define STORE_PG_NUMERIC_OID 1700
#define STORE_PG_FLOAT4_OID 700
#define STORE_PG_FLOAT8_OID 701
#define STORE_PG_CONNECT_TIMEOUT "5" /* seconds; a URL parameter overrides it */
/* A fixed key for the advisory lock that serializes schema migrations of
 * processes starting together ("webtoon" in ASCII). */
#define STORE_PG_SCHEMA_LOCK "SELECT pg_advisory_lock(33612766029164398)"
#define STORE_PG_SCHEMA_UNLOCK "SELECT pg_advisory_unlock(33612766029164398)"

struct store_pg_stmt {
    char *sql;     /* owned; NULL: free slot */
    char name[24]; /* server-side name on the current connection */
};

struct store_pg {
    struct store base;
    PGconn *conn;
    struct store_pg_stmt cache[STORE_PG_CACHE];
    size_t next_evict;   /* round-robin victim when the cache is full */
    unsigned long names; /* statements prepared on this connection so far */
};

/* Records the failure of <res> (may be NULL) and maps it to a result code. */
static int store_pg_fail(struct store_pg *s, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!*msg)
        msg = PQerrorMessage(s->conn);
    size_t len = strcspn(msg, "\n"); /* the first line says it */
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "postgres: %.*s (%s)", (int)len, msg,
             state ? state : "no sqlstate");
    if (PQstatus(s->conn) != CONNECTION_OK)
        return RC_STORE;
    if (!state)
        return res ? RC_STORE : RC_NOMEM; /* libpq returns no result when out of memory */
    if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
        return RC_RETRY;
    if (!strncmp(state, "23", 2))
        return RC_CONFLICT;
    return RC_STORE;
}

/* Forgets every prepared statement (they died with the old connection). */
static void store_pg_forget(struct store_pg *s)
{
    for (size_t i = 0; i < STORE_PG_CACHE; i++)
        MEM_FREE_NULL(s->cache[i].sql);
    s->next_evict = 0;
}

/* Discards notices ("relation already exists, skipping"): libpq would print
 * them on stderr, where our JSON logs do not go. */
static void store_pg_ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Makes sure the connection is up: reconnects a broken one unless a
 * transaction was running on it (that transaction is lost: the caller
 * gets RC_STORE and rolls back). */
static int store_pg_ensure(struct store_pg *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK)
        return RC_OK;
    if (s->base.in_tx)
        return store_pg_fail(s, NULL);
    store_pg_forget(s);
    s->names = 0;
    PQreset(s->conn);
    return PQstatus(s->conn) == CONNECTION_OK ? RC_OK : store_pg_fail(s, NULL);
}

static void store_pg_close(struct store *st)
{
    struct store_pg *s = (struct store_pg *)st;
    store_pg_forget(s);
    PQfinish(s->conn);
    mem_free(s);
}

static int store_pg_open(const char *url, struct store **out, char *err, size_t errlen)
{
    if (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0) {
        snprintf(err, errlen, "'%s': expected postgres://host:port/database", url);
        return RC_CONFIG;
    }
    struct store_pg *s = mem_calloc(1, sizeof *s);
    if (!s)
        return RC_NOMEM;
    s->base.ops = &store_pg_ops;
    /* Later entries win, so the URL's own parameters override ours. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {STORE_PG_CONNECT_TIMEOUT, "webtoon", url, NULL};
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (!s->conn) {
        mem_free(s);
        return RC_NOMEM;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(s->conn);
        snprintf(err, errlen, "postgres: %.*s", (int)strcspn(msg, "\n"), msg);
        store_pg_close(&s->base);
        return RC_STORE;
    }
    PQsetNoticeProcessor(s->conn, store_pg_ignore_notice, NULL);
    *out = &s->base;
    return RC_OK;
}

/* Name of the prepared statement for <sql>, preparing it on first use with
 * the types of <args>; NULL with the result code in <rc>. */
static const char *store_pg_prepare(struct store_pg *s, const char *sql,
                                    const struct store_val *args, size_t nargs, int *rc)
{
    struct store_pg_stmt *slot = NULL;
    for (size_t i = 0; i < STORE_PG_CACHE; i++) {
        if (s->cache[i].sql && !strcmp(s->cache[i].sql, sql))
            return s->cache[i].name;
        if (!s->cache[i].sql && !slot)
            slot = &s->cache[i];
    }
    if (!slot) {
        slot = &s->cache[s->next_evict];
        s->next_evict = (s->next_evict + 1) % STORE_PG_CACHE;
        char deallocate[48];
        snprintf(deallocate, sizeof deallocate, "DEALLOCATE %s", slot->name);
        PQclear(PQexec(s->conn, deallocate));
        MEM_FREE_NULL(slot->sql);
    }
    Oid types[STORE_PG_MAX_PARAMS];
    for (size_t i = 0; i < nargs; i++)
        types[i] = args[i].type == STORE_T_INT ? STORE_PG_INT8_OID : 0;
    char name[sizeof slot->name];
    snprintf(name, sizeof name, "w%lu", ++s->names);
    PGresult *res = PQprepare(s->conn, name, sql, (int)nargs, types);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        *rc = store_pg_fail(s, res);
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    if (!(slot->sql = mem_strdup(sql))) {
        *rc = RC_NOMEM; /* the statement stays prepared, unnamed to us */
        return NULL;
    }
    memcpy(slot->name, name, sizeof name);
    return slot->name;
}

/* Parses the text of an integral column ("42", "-7", "3.0", "t"). */
static int64_t store_pg_int(const char *text, Oid type)
{
    if (type == STORE_PG_BOOL_OID)
        return *text == 't';
    return strtoll(text, NULL, 10); /* numeric and float: the integral part */
}

static void store_pg_read_row(const PGresult *res, int row, struct store_val *vals, int ncols)
{
    for (int c = 0; c < ncols; c++) {
        Oid type = PQftype(res, c);
        const char *text = PQgetvalue(res, row, c);
        if (PQgetisnull(res, row, c))
            vals[c] = STORE_NULL;
        else if (type == STORE_PG_INT8_OID || type == STORE_PG_INT4_OID ||
                 type == STORE_PG_INT2_OID || type == STORE_PG_BOOL_OID ||
                 type == STORE_PG_NUMERIC_OID || type == STORE_PG_FLOAT4_OID ||
                 type == STORE_PG_FLOAT8_OID)
            vals[c] = STORE_INT(store_pg_int(text, type));
        else
            vals[c] = STORE_TEXT(text);
    }
}

static int store_pg_exec(struct store *st, const char *sql, const struct store_val *args,
                         size_t nargs, store_row_cb cb, void *ud, int64_t *changes)
{
    struct store_pg *s = (struct store_pg *)st;
    BUG_ON(nargs > STORE_PG_MAX_PARAMS);
    int rc = store_pg_ensure(s);
    if (rc != RC_OK)
        return rc;
    const char *name = store_pg_prepare(s, sql, args, nargs, &rc);
    if (!name)
        return rc;
    char ints[STORE_PG_MAX_PARAMS][24];
    const char *values[STORE_PG_MAX_PARAMS];
    for (size_t i = 0; i < nargs; i++) {
        switch (args[i].type) {
        case STORE_T_INT:
            snprintf(ints[i], sizeof ints[i], "%lld", (long long)args[i].i);
            values[i] = ints[i];
            break;
        case STORE_T_TEXT:
            values[i] = args[i].s;
            break;
        default:
            values[i] = NULL;
            break;
        }
    }
    PGresult *res = PQexecPrepared(s->conn, name, (int)nargs, values, NULL, NULL, 0);
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        rc = store_pg_fail(s, res);
        goto out;
    }
    int ncols = PQnfields(res), nrows = PQntuples(res);
    BUG_ON(ncols > STORE_PG_MAX_COLS);
    struct store_val vals[STORE_PG_MAX_COLS];
    for (int r = 0; cb && r < nrows; r++) {
        store_pg_read_row(res, r, vals, ncols);
        struct store_row row = {.ncols = (size_t)ncols, .cols = vals};
        if ((rc = cb(ud, &row)) != 0)
            goto out;
    }
    if (changes)
        *changes = strtoll(PQcmdTuples(res), NULL, 10);
out:
    PQclear(res);
    return rc;
}

/* Runs <sql> (one or more statements, no arguments); <tag>, when not
 * NULL, is the command tag success must report. */
static int store_pg_simple(struct store_pg *s, const char *sql, const char *tag)
{
    PGresult *res = PQexec(s->conn, sql);
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int rc = RC_OK;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        rc = store_pg_fail(s, res);
    } else if (tag && strcmp(PQcmdStatus(res), tag) != 0) {
        /* COMMIT of a transaction that already failed reports ROLLBACK. */
        snprintf(s->base.errmsg, sizeof s->base.errmsg, "postgres: %s answered %s", sql,
                 PQcmdStatus(res));
        rc = RC_STORE;
    }
    PQclear(res);
    return rc;
}

/*
 * Schemas are written once, in SQLite's spelling; the one phrase PostgreSQL
 * spells differently is translated here: an auto-increment key becomes a
 * BIGSERIAL. New string in <out> (mem_free it).
 */
static int store_pg_spelling(const char *sql, char **out)
{
    static const char sqlite_key[] = "INTEGER PRIMARY KEY AUTOINCREMENT";
    static const char pg_key[] = "BIGSERIAL PRIMARY KEY";
    struct buf b;
    buf_init(&b, strlen(sql) + 1024);
    int rc = RC_OK;
    for (const char *p = sql, *hit; rc == RC_OK; p = hit + sizeof sqlite_key - 1) {
        if (!(hit = strstr(p, sqlite_key))) {
            rc = buf_append_str(&b, p);
            break;
        }
        if ((rc = buf_append(&b, p, (size_t)(hit - p))) == RC_OK)
            rc = buf_append_str(&b, pg_key);
    }
    *out = rc == RC_OK ? buf_steal(&b) : NULL;
    buf_cleanup(&b);
    return rc == RC_OK && !*out ? RC_NOMEM : rc;
}

static int store_pg_exec_script(struct store *st, const char *sql)
{
    struct store_pg *s = (struct store_pg *)st;
    char *pg_sql = NULL;
    int rc = store_pg_ensure(s);
    if (rc == RC_OK)
        rc = store_pg_spelling(sql, &pg_sql);
    if (rc == RC_OK)
        rc = store_pg_simple(s, pg_sql, NULL);
    mem_free(pg_sql);
    return rc;
}

static int store_pg_begin(struct store *st)
{
    struct store_pg *s = (struct store_pg *)st;
    int rc = store_pg_ensure(s);
    return rc == RC_OK ? store_pg_simple(s, "BEGIN ISOLATION LEVEL SERIALIZABLE", NULL) : rc;
}

static int store_pg_commit(struct store *st)
{
    struct store_pg *s = (struct store_pg *)st;
    if (PQstatus(s->conn) != CONNECTION_OK)
        return store_pg_fail(s, NULL);
    return store_pg_simple(s, "COMMIT", "COMMIT");
}

static int store_pg_rollback(struct store *st)
{
    struct store_pg *s = (struct store_pg *)st;
    if (PQstatus(s->conn) != CONNECTION_OK)
        return RC_OK; /* the server dropped the transaction with the connection */
    return store_pg_simple(s, "ROLLBACK", NULL);
}

static int store_pg_schema_lock(struct store *st, bool lock)
{
    struct store_pg *s = (struct store_pg *)st;
    int rc = store_pg_ensure(s);
    return rc == RC_OK
               ? store_pg_simple(s, lock ? STORE_PG_SCHEMA_LOCK : STORE_PG_SCHEMA_UNLOCK, NULL)
               : rc;
}

const struct store_ops store_pg_ops = {
    .scheme = "postgres",
    .open = store_pg_open,
    .close = store_pg_close,
    .begin = store_pg_begin,
    .commit = store_pg_commit,
    .rollback = store_pg_rollback,
    .exec = store_pg_exec,
    .exec_script = store_pg_exec_script,
    .schema_lock = store_pg_schema_lock,
};
