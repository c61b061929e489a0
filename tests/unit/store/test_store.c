/* The SQLite store: opening, migrations, binding, rows, transactions,
 * error mapping and the commit hook, on real database files (PostgreSQL's
 * backend is tested in test_store_pg.c). */
#include "support/test_support.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/metrics/metrics.h"
#include "core/store/store.h"
#include "support/store_savepoints.h"

struct fixture {
    char dir[256];
    char url[320];
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s/test.db", f->dir);
    char err[256] = "";
    assert_int_equal(store_open(f->url, &f->st, err, sizeof err), RC_OK);
    assert_int_equal(store_exec(f->st,
                                "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL"
                                " UNIQUE, qty INTEGER CHECK (qty >= 0), note TEXT)",
                                NULL, 0, NULL, NULL, NULL),
                     RC_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void exec_ok(struct store *st, const char *sql)
{
    if (store_exec(st, sql, NULL, 0, NULL, NULL, NULL) != RC_OK)
        fail_msg("%s: %s", sql, store_error(st));
}

static int64_t query_int(struct store *st, const char *sql)
{
    int64_t v = -1;
    bool found = false;
    if (store_query_int(st, sql, NULL, 0, &v, &found) != RC_OK)
        fail_msg("%s: %s", sql, store_error(st));
    assert_true(found);
    return v;
}

static void test_open_close(void **state)
{
    struct fixture *f = *state;
    assert_true(store_ping(f->st));
    assert_string_equal(store_error(f->st), "");
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    store_close(NULL); /* does nothing */
}

static void test_bad_url(void **state)
{
    (void)state;
    const char *urls[] = {"", "redis://localhost/db", "mysql:x", "sqlite", "SQLITE:/tmp/x"};
    for (size_t i = 0; i < ARRAY_LEN(urls); i++) {
        struct store *st = (struct store *)1;
        char err[256] = "";
        assert_int_equal(store_open(urls[i], &st, err, sizeof err), RC_CONFIG);
        assert_null(st);
        assert_non_null(strstr(err, "unknown store URL"));
        if (*urls[i])
            assert_non_null(strstr(err, urls[i]));
    }
}

static void test_unopenable(void **state)
{
    struct fixture *f = *state;
    char url[400];
    const char *suffixes[] = {"/no/such/dir/x.db", ""}; /* missing directory; a directory */
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        snprintf(url, sizeof url, "sqlite:%s%s", f->dir, suffixes[i]);
        struct store *st = (struct store *)1;
        char err[256] = "";
        assert_int_equal(store_open(url, &st, err, sizeof err), RC_STORE);
        assert_null(st);
        assert_non_null(strstr(err, f->dir)); /* names the path */
    }
}

static int64_t migrations(struct store *st, const char *component)
{
    int64_t n = -1;
    assert_int_equal(store_query_int(st,
                                     "SELECT COUNT(*) FROM schema_migrations WHERE component = $1",
                                     STORE_ARGS(STORE_TEXT(component)), &n, NULL),
                     RC_OK);
    return n;
}

static void test_migrate_once(void **state)
{
    struct fixture *f = *state;
    static const struct store_migration steps[] = {
        {1, "CREATE TABLE a (x INTEGER)"},
        {2, "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1)"},
        {3, "INSERT INTO a VALUES (2)"},
    };
    assert_int_equal(store_migrate(f->st, "comp", steps, 2), RC_OK);
    assert_int_equal(migrations(f->st, "comp"), 2);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM a"), 1);
    /* again, and again after reopening: nothing is applied twice */
    assert_int_equal(store_migrate(f->st, "comp", steps, 2), RC_OK);
    store_close(f->st);
    char err[256];
    assert_int_equal(store_open(f->url, &f->st, err, sizeof err), RC_OK);
    assert_int_equal(store_migrate(f->st, "comp", steps, 2), RC_OK);
    assert_int_equal(migrations(f->st, "comp"), 2);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM a"), 1);
    /* a new step is applied alone */
    assert_int_equal(store_migrate(f->st, "comp", steps, 3), RC_OK);
    assert_int_equal(migrations(f->st, "comp"), 3);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM a"), 2);
    assert_int_equal(query_int(f->st, "SELECT MAX(version) FROM schema_migrations"), 3);
}

static void test_migrate_components_are_independent(void **state)
{
    struct fixture *f = *state;
    static const struct store_migration one[] = {{1, "CREATE TABLE one (x INTEGER)"}};
    static const struct store_migration two[] = {
        {1, "CREATE TABLE two (x INTEGER)"},
        {2, "CREATE TABLE two_b (x INTEGER)"},
    };
    assert_int_equal(store_migrate(f->st, "one", one, 1), RC_OK);
    /* "two" starts at its own version 1, although "one" has a version 1 */
    assert_int_equal(store_migrate(f->st, "two", two, 2), RC_OK);
    assert_int_equal(migrations(f->st, "one"), 1);
    assert_int_equal(migrations(f->st, "two"), 2);
    exec_ok(f->st, "INSERT INTO two_b VALUES (1)");
}

static void test_migrate_failure_rolls_back(void **state)
{
    struct fixture *f = *state;
    static const struct store_migration bad[] = {
        {1, "CREATE TABLE m1 (x INTEGER)"},
        {2, "CREATE TABLE m2 (x INTEGER); CREATE TABLE ("},
    };
    static const struct store_migration good[] = {
        {1, "CREATE TABLE m1 (x INTEGER)"},
        {2, "CREATE TABLE m2 (x INTEGER)"},
    };
    assert_int_equal(store_migrate(f->st, "m", bad, 2), RC_STORE);
    assert_true(strlen(store_error(f->st)) > 0);
    assert_int_equal(migrations(f->st, "m"), 1);
    /* the half-applied step left nothing behind */
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'm2'"), 0);
    /* and the store is usable: no transaction left open */
    assert_int_equal(store_begin(f->st), RC_OK);
    store_rollback(f->st);
    assert_int_equal(store_migrate(f->st, "m", good, 2), RC_OK);
    assert_int_equal(migrations(f->st, "m"), 2);
}

struct rows {
    size_t n;
    enum store_type type[8][4];
    int64_t i[8][4];
    char s[8][4][32];
    int stop_after; /* return 7 after this many rows; 0: never */
};

static int take_rows(void *ud, const struct store_row *row)
{
    struct rows *r = ud;
    assert_true(r->n < 8);
    assert_true(row->ncols <= 4);
    for (size_t c = 0; c < row->ncols; c++) {
        r->type[r->n][c] = row->cols[c].type;
        r->i[r->n][c] = row->cols[c].i;
        if (row->cols[c].type == STORE_T_TEXT)
            snprintf(r->s[r->n][c], sizeof r->s[r->n][c], "%s", row->cols[c].s);
    }
    r->n++;
    return r->stop_after && (int)r->n >= r->stop_after ? 7 : 0;
}

static void test_bind_values(void **state)
{
    struct fixture *f = *state;
    struct rows r = {0};
    assert_int_equal(store_exec(f->st, "SELECT $1, $2, $3, $4",
                                STORE_ARGS(STORE_INT(-5), STORE_TEXT("héllo"), STORE_NULL,
                                           STORE_TEXT_OR_NULL(NULL)),
                                take_rows, &r, NULL),
                     RC_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.type[0][0], STORE_T_INT);
    assert_int_equal(r.i[0][0], -5);
    assert_int_equal(r.type[0][1], STORE_T_TEXT);
    assert_string_equal(r.s[0][1], "héllo");
    assert_int_equal(r.type[0][2], STORE_T_NULL);
    assert_int_equal(r.type[0][3], STORE_T_NULL);

    /* a placeholder used twice takes one argument */
    int64_t v = 0;
    assert_int_equal(store_query_int(f->st, "SELECT $1 + $1 * $2",
                                     STORE_ARGS(STORE_INT(2), STORE_INT(20)), &v, NULL),
                     RC_OK);
    assert_int_equal(v, 42);
    /* numbering, not order of appearance, picks the argument */
    memset(&r, 0, sizeof r);
    assert_int_equal(store_exec(f->st, "SELECT $2 || $1",
                                STORE_ARGS(STORE_TEXT("a"), STORE_TEXT("b")), take_rows, &r, NULL),
                     RC_OK);
    assert_string_equal(r.s[0][0], "ba");
    /* big integers survive */
    assert_int_equal(
        store_query_int(f->st, "SELECT $1", STORE_ARGS(STORE_INT(INT64_MIN)), &v, NULL), RC_OK);
    assert_int_equal(v, INT64_MIN);
    /* SQL injection through a value is just text */
    assert_int_equal(store_exec(f->st, "INSERT INTO items (name, qty) VALUES ($1, $2)",
                                STORE_ARGS(STORE_TEXT("x'); DROP TABLE items; --"), STORE_INT(1)),
                                NULL, NULL, NULL),
                     RC_OK);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 1);
}

static void test_rows(void **state)
{
    struct fixture *f = *state;
    exec_ok(f->st, "INSERT INTO items (name, qty, note) VALUES ('a', 1, NULL), ('b', 2, 'two'),"
                   " ('c', 3, 'three')");
    struct rows r = {0};
    assert_int_equal(store_exec(f->st, "SELECT name, qty, note, 1.75 FROM items ORDER BY id", NULL,
                                0, take_rows, &r, NULL),
                     RC_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.s[0][0], "a");
    assert_int_equal(r.i[1][1], 2);
    assert_int_equal(r.type[0][2], STORE_T_NULL);
    assert_string_equal(r.s[2][2], "three");
    assert_int_equal(r.type[0][3], STORE_T_INT); /* floats come back as integers */
    assert_int_equal(r.i[0][3], 1);

    /* a callback's non-zero return stops the query and comes back */
    memset(&r, 0, sizeof r);
    r.stop_after = 2;
    assert_int_equal(
        store_exec(f->st, "SELECT name FROM items ORDER BY id", NULL, 0, take_rows, &r, NULL), 7);
    assert_int_equal(r.n, 2);
    /* the statement was reset: running it again starts over */
    memset(&r, 0, sizeof r);
    assert_int_equal(
        store_exec(f->st, "SELECT name FROM items ORDER BY id", NULL, 0, take_rows, &r, NULL),
        RC_OK);
    assert_int_equal(r.n, 3);
    /* no callback: rows are skipped, not an error */
    assert_int_equal(store_exec(f->st, "SELECT name FROM items", NULL, 0, NULL, NULL, NULL), RC_OK);
}

static void test_changes(void **state)
{
    struct fixture *f = *state;
    int64_t changes = -1;
    assert_int_equal(store_exec(f->st,
                                "INSERT INTO items (name, qty) VALUES ('a', 1), ('b', 1),"
                                " ('c', 5)",
                                NULL, 0, NULL, NULL, &changes),
                     RC_OK);
    assert_int_equal(changes, 3);
    assert_int_equal(store_exec(f->st, "UPDATE items SET qty = qty + 1 WHERE qty = $1",
                                STORE_ARGS(STORE_INT(1)), NULL, NULL, &changes),
                     RC_OK);
    assert_int_equal(changes, 2);
    assert_int_equal(
        store_exec(f->st, "DELETE FROM items WHERE qty > 100", NULL, 0, NULL, NULL, &changes),
        RC_OK);
    assert_int_equal(changes, 0);
    assert_int_equal(store_exec(f->st,
                                "INSERT INTO items (name, qty) VALUES ('a', 9)"
                                " ON CONFLICT (name) DO NOTHING",
                                NULL, 0, NULL, NULL, &changes),
                     RC_OK);
    assert_int_equal(changes, 0);
}

static void test_query_int(void **state)
{
    struct fixture *f = *state;
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('a', 7)");
    int64_t v = -1;
    bool found = false;
    assert_int_equal(store_query_int(f->st, "SELECT qty FROM items WHERE name = $1",
                                     STORE_ARGS(STORE_TEXT("a")), &v, &found),
                     RC_OK);
    assert_true(found);
    assert_int_equal(v, 7);
    assert_int_equal(store_query_int(f->st, "SELECT qty FROM items WHERE name = $1",
                                     STORE_ARGS(STORE_TEXT("zz")), &v, &found),
                     RC_OK);
    assert_false(found);
    assert_int_equal(v, 0);
    /* a NULL or text value is found, and reads as 0 */
    assert_int_equal(store_query_int(f->st, "SELECT note FROM items", NULL, 0, &v, &found), RC_OK);
    assert_true(found);
    assert_int_equal(v, 0);
    /* <found> may be NULL */
    assert_int_equal(store_query_int(f->st, "SELECT 3", NULL, 0, &v, NULL), RC_OK);
    assert_int_equal(v, 3);
    /* bad SQL is a store error, with the reason kept */
    assert_int_equal(store_query_int(f->st, "SELECT nope FROM items", NULL, 0, &v, &found),
                     RC_STORE);
    assert_non_null(strstr(store_error(f->st), "nope"));
}

/* Commits wait for the disk unless a connection is told they need not,
 * and only that connection. */
static void test_durability_is_per_connection(void **state)
{
    struct fixture *f = *state;
    struct store *other = NULL;
    char err[256];
    assert_int_equal(store_open(f->url, &other, err, sizeof err), RC_OK);
    int64_t mode = -1;
    assert_int_equal(store_query_int(f->st, "PRAGMA synchronous", NULL, 0, &mode, NULL), RC_OK);
    assert_int_equal(mode, 2); /* FULL */
    assert_int_equal(store_set_durable(f->st, false), RC_OK);
    assert_int_equal(store_query_int(f->st, "PRAGMA synchronous", NULL, 0, &mode, NULL), RC_OK);
    assert_int_equal(mode, 1); /* NORMAL: the WAL is not synced at each commit */
    assert_int_equal(store_query_int(other, "PRAGMA synchronous", NULL, 0, &mode, NULL), RC_OK);
    assert_int_equal(mode, 2);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('a', 1)"); /* still commits */
    assert_int_equal(store_query_int(other, "SELECT qty FROM items", NULL, 0, &mode, NULL), RC_OK);
    assert_int_equal(mode, 1);
    assert_int_equal(store_set_durable(f->st, true), RC_OK);
    assert_int_equal(store_query_int(f->st, "PRAGMA synchronous", NULL, 0, &mode, NULL), RC_OK);
    assert_int_equal(mode, 2);
    store_close(other);
}

struct holder {
    struct store *st;
    int64_t hold_ms;
    int rc; /* of its insert and commit, asserted by the test's thread */
};

static void *hold_then_commit(void *arg)
{
    struct holder *h = arg;
    clock_sleep_ms(h->hold_ms);
    h->rc = store_exec(h->st, "INSERT INTO items (name, qty) VALUES ('first', 1)", NULL, 0, NULL,
                       NULL, NULL);
    if (h->rc == RC_OK)
        h->rc = store_commit(h->st);
    return NULL;
}

/* A writer that finds the write lock taken waits for it (counted, per
 * database file), and goes on as soon as it is free. */
static void test_a_writer_waits_for_the_lock(void **state)
{
    struct fixture *f = *state;
    struct store *other = NULL;
    char err[256];
    assert_int_equal(store_open(f->url, &other, err, sizeof err), RC_OK);
    struct metrics_counter *waits =
        metrics_counter("webtoon_store_lock_waits_total", "", "db=\"test.db\"");
    uint64_t before = metrics_counter_value(waits);
    assert_int_equal(store_begin(other), RC_OK);
    struct holder h = {other, 30, RC_OK};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_then_commit, &h), 0);
    assert_int_equal(store_begin(f->st), RC_OK); /* waits for the other's commit */
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('second', 2)");
    assert_int_equal(store_commit(f->st), RC_OK);
    pthread_join(t, NULL);
    assert_int_equal(h.rc, RC_OK);
    assert_true(metrics_counter_value(waits) > before);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 2);
    store_close(other);
}

/* A database file named with a quote still gives well-formed series. */
static void test_lock_wait_series_name_the_file_safely(void **state)
{
    struct fixture *f = *state;
    char url[400], err[256];
    snprintf(url, sizeof url, "sqlite:%s/we\"ird db.db", f->dir);
    struct store *odd = NULL;
    assert_int_equal(store_open(url, &odd, err, sizeof err), RC_OK);
    struct buf out;
    buf_init(&out, 1u << 20);
    assert_int_equal(metrics_render(&out), RC_OK);
    assert_non_null(strstr(out.data, ",db=\"we_ird_db.db\"}"));
    assert_null(strstr(out.data, "we\"ird"));
    buf_cleanup(&out);
    store_close(odd);
}

static void test_transactions(void **state)
{
    struct fixture *f = *state;
    struct store *other = NULL;
    char err[256];
    assert_int_equal(store_open(f->url, &other, err, sizeof err), RC_OK);

    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('rolled', 1)");
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 1); /* seen inside */
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM items"), 0); /* not outside */
    store_rollback(f->st);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 0);
    store_rollback(f->st); /* nothing open: no effect */

    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('kept', 1)");
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('kept2', 1)");
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM items"), 2);
    /* outside a transaction each statement commits alone */
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('auto', 1)");
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM items"), 3);
    store_close(other);
}

static void test_constraints_conflict(void **state)
{
    struct fixture *f = *state;
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('a', 1)");
    const char *bad[] = {
        "INSERT INTO items (name, qty) VALUES ('a', 2)",  /* UNIQUE */
        "INSERT INTO items (name, qty) VALUES (NULL, 2)", /* NOT NULL */
        "INSERT INTO items (name, qty) VALUES ('b', -1)", /* CHECK */
        "INSERT INTO items (id, name) VALUES (1, 'c')",   /* PRIMARY KEY */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(store_exec(f->st, bad[i], NULL, 0, NULL, NULL, NULL), RC_CONFLICT);
        assert_non_null(strstr(store_error(f->st), "constraint"));
    }
    /* inside a transaction the conflict leaves the transaction usable */
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('x', 1)");
    assert_int_equal(store_exec(f->st, bad[0], NULL, 0, NULL, NULL, NULL), RC_CONFLICT);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 2);
}

static void count_commit(void *ud) { (*(int *)ud)++; }

static void test_commit_hook(void **state)
{
    struct fixture *f = *state;
    int calls = 0;
    store_set_commit_hook(f->st, count_commit, &calls);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('auto', 1)");
    assert_int_equal(calls, 0); /* only store_commit calls it */
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('a', 1)");
    assert_int_equal(calls, 0); /* not before the commit */
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('b', 1)");
    store_rollback(f->st);
    assert_int_equal(calls, 1);

    /* a commit that fails (a deferred foreign key) calls nothing, rolls back
     * and leaves no transaction open */
    exec_ok(f->st, "CREATE TABLE parent (id INTEGER PRIMARY KEY)");
    exec_ok(f->st, "CREATE TABLE child (pid INTEGER REFERENCES parent (id)"
                   " DEFERRABLE INITIALLY DEFERRED)");
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO child VALUES (42)");
    assert_int_equal(store_commit(f->st), RC_CONFLICT);
    assert_int_equal(calls, 1);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM child"), 0);
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(calls, 2);

    store_set_commit_hook(f->st, NULL, NULL);
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(calls, 2);
}

static void add_to(void *ud, int64_t v) { *(int64_t *)ud += v; }

/* Actions registered in a transaction run once it commits, never when it
 * rolls back or its commit fails; outside one they run at once. */
static void test_after_commit(void **state)
{
    struct fixture *f = *state;
    int64_t sum = 0;
    assert_int_equal(store_after_commit(f->st, add_to, &sum, 1), RC_OK);
    assert_int_equal(sum, 1); /* no transaction: at once */

    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(store_after_commit(f->st, add_to, &sum, 10), RC_OK);
    assert_int_equal(store_after_commit(f->st, add_to, &sum, 100), RC_OK);
    assert_int_equal(sum, 1);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(sum, 111);
    assert_int_equal(store_begin(f->st), RC_OK); /* nothing left over */
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(sum, 111);

    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(store_after_commit(f->st, add_to, &sum, 1000), RC_OK);
    store_rollback(f->st);
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(sum, 111); /* rolled back: never */

    /* a failed commit (a deferred foreign key) runs nothing */
    exec_ok(f->st, "CREATE TABLE parent (id INTEGER PRIMARY KEY)");
    exec_ok(f->st, "CREATE TABLE child (pid INTEGER REFERENCES parent (id)"
                   " DEFERRABLE INITIALLY DEFERRED)");
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO child VALUES (42)");
    assert_int_equal(store_after_commit(f->st, add_to, &sum, 5000), RC_OK);
    assert_int_equal(store_commit(f->st), RC_CONFLICT);
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(sum, 111);

    /* the bound: one more than fits is refused, the others still run */
    assert_int_equal(store_begin(f->st), RC_OK);
    for (int i = 0; i < STORE_DEFERRED_MAX; i++)
        assert_int_equal(store_after_commit(f->st, add_to, &sum, 1), RC_OK);
    assert_int_equal(store_after_commit(f->st, add_to, &sum, 1), RC_NOMEM);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(sum, 111 + STORE_DEFERRED_MAX);
}

/* More distinct statements than the cache holds: old ones are evicted and
 * prepared again transparently. */
static void test_savepoints(void **state)
{
    struct fixture *f = *state;
    store_savepoints_contract(f->st);
}

/* Files this process has open whose path holds <part> (deleted ones too). */
static int open_files_named(const char *part)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        char link[64], path[512];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, path, sizeof path - 1);
        if (len > 0) {
            path[len] = '\0';
            n += strstr(path, part) != NULL;
        }
    }
    return n;
}

/* Each unit of a group commit is a savepoint, which keeps an undo copy of
 * every page it changes: many units that change the same pages keep them
 * in memory, never in a temporary file written page by page (SQLite's
 * default past 64 KiB). The commit counts its transaction and its WAL
 * pages. */
static void test_savepoint_units_write_no_temporary_files(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st,
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)"
            " INSERT INTO items (name, qty, note) SELECT 'item' || i, 0, printf('%.300c', 'x')"
            " FROM n");
    assert_int_equal(store_commit(f->st), RC_OK);
    struct metrics_counter *commits =
        metrics_counter("webtoon_store_commits_total", "", "db=\"test.db\"");
    struct metrics_counter *pages =
        metrics_counter("webtoon_store_pages_written_total", "", "db=\"test.db\"");
    uint64_t commits_before = metrics_counter_value(commits);
    uint64_t pages_before = metrics_counter_value(pages);
    assert_int_equal(store_begin(f->st), RC_OK);
    for (int unit = 0; unit < 50; unit++) {
        struct store_mark mark;
        assert_int_equal(store_savepoint(f->st, &mark), RC_OK);
        exec_ok(f->st, "UPDATE items SET qty = qty + 1"); /* every page of the table */
        assert_int_equal(store_release(f->st), RC_OK);
    }
    assert_int_equal(open_files_named("etilqs"), 0);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(query_int(f->st, "SELECT MIN(qty) FROM items"), 50);
    assert_int_equal(metrics_counter_value(commits), commits_before + 1);
    /* 300 rows of 300 bytes: about 25 pages, each written once by the commit */
    assert_in_range(metrics_counter_value(pages) - pages_before, 20, 40);
}

static void test_statement_cache(void **state)
{
    struct fixture *f = *state;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 150; i++) {
            char sql[64];
            snprintf(sql, sizeof sql, "SELECT %d + $1", i);
            int64_t v = -1;
            assert_int_equal(store_query_int(f->st, sql, STORE_ARGS(STORE_INT(round)), &v, NULL),
                             RC_OK);
            assert_int_equal(v, i + round);
        }
    }
}

/* The store survives reopening: data is durable across handles. */
static void test_reopen_keeps_data(void **state)
{
    struct fixture *f = *state;
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('durable', 3)");
    store_close(f->st);
    char err[256];
    assert_int_equal(store_open(f->url, &f->st, err, sizeof err), RC_OK);
    assert_int_equal(query_int(f->st, "SELECT qty FROM items WHERE name = 'durable'"), 3);
}

/* Our allocations in open and exec fail cleanly (SQLite's own allocator is
 * not behind the hook, so only the handle itself can fail). */
static void test_oom(void **state)
{
    struct fixture *f = *state;
    for (long i = 0;; i++) {
        assert_true(i < 100);
        struct store *st = NULL;
        char err[256] = "";
        mem_fail_after(i);
        int rc = store_open(f->url, &st, err, sizeof err);
        if (rc == RC_OK)
            rc = store_exec(st, "INSERT INTO items (name, qty) VALUES ($1, 1)",
                            STORE_ARGS(STORE_TEXT("oom")), NULL, NULL, NULL);
        long refused = mem_fail_count();
        mem_fail_reset();
        if (rc == RC_OK) {
            assert_int_equal(refused, 0);
            assert_int_equal(query_int(st, "SELECT COUNT(*) FROM items WHERE name = 'oom'"), 1);
            store_close(st);
            break;
        }
        assert_int_equal(rc, RC_NOMEM);
        store_close(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close, setup, teardown),
        cmocka_unit_test(test_bad_url),
        cmocka_unit_test_setup_teardown(test_unopenable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_components_are_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_failure_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_int, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_is_per_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_writer_waits_for_the_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_wait_series_name_the_file_safely, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constraints_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_savepoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_savepoint_units_write_no_temporary_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
