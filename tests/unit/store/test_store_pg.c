/* The PostgreSQL store against a real server: type mapping, NULLs,
 * transactions, constraint violations as RC_CONFLICT, a real serialization
 * conflict as RC_RETRY, migrations in the PostgreSQL dialect, the statement
 * cache, and recovery after the connection or the whole server goes away.
 *
 * WEBTOON_TEST_PG is the URL of a database where the test may create
 * databases (CTest's fixture starts a cluster with scripts/pg.sh); without
 * it every test is skipped. Each test gets a database of its own. When
 * WEBTOON_TEST_PG_SCRIPT names scripts/pg.sh, one test also restarts the
 * server. */
#include "support/test_support.h"

#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/store/store.h"
#include "support/store_savepoints.h"

struct fixture {
    char admin_url[512];
    char db[64];
    char url[600];
    struct store *admin; /* connected to the server's own database */
    struct store *st;    /* connected to this test's database */
};

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

static struct store *connect_to(const char *url)
{
    struct store *st = NULL;
    char err[256] = "";
    if (store_open(url, &st, err, sizeof err) != RC_OK)
        fail_msg("store_open %s: %s", url, err);
    return st;
}

static int setup(void **state)
{
    const char *admin = getenv("WEBTOON_TEST_PG");
    if (!admin || !*admin)
        skip();
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->admin_url, sizeof f->admin_url, "%s", admin);
    char uuid[ID_UUID_LEN + 1];
    id_uuid(uuid);
    snprintf(f->db, sizeof f->db, "unit_%.8s", uuid);
    /* Same server, our database: replace the path of the admin URL. */
    const char *slash = strchr(strstr(admin, "://") + 3, '/');
    int host_len = slash ? (int)(slash - admin) : (int)strlen(admin);
    snprintf(f->url, sizeof f->url, "%.*s/%s", host_len, admin, f->db);
    f->admin = connect_to(f->admin_url);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->db);
    assert_int_equal(f->admin->ops->exec_script(f->admin, sql), RC_OK);
    f->st = connect_to(f->url);
    exec_ok(f->st, "CREATE TABLE items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                   " qty INTEGER CHECK (qty >= 0), note TEXT)");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
    if (f->admin->ops->exec_script(f->admin, sql) != RC_OK)
        fail_msg("%s: %s", sql, store_error(f->admin));
    store_close(f->admin);
    free(f);
    return 0;
}

struct row_copy {
    int n;
    enum store_type type[8];
    int64_t i[8];
    char s[8][64];
};

static int take_row(void *ud, const struct store_row *row)
{
    struct row_copy *c = ud;
    c->n = (int)row->ncols;
    for (size_t k = 0; k < row->ncols && k < 8; k++) {
        c->type[k] = row->cols[k].type;
        c->i[k] = row->cols[k].i;
        snprintf(c->s[k], sizeof c->s[k], "%s",
                 row->cols[k].type == STORE_T_TEXT ? row->cols[k].s : "");
    }
    return 0;
}

static void test_types_and_nulls(void **state)
{
    struct fixture *f = *state;
    struct row_copy c = {0};
    assert_int_equal(
        store_exec(f->st,
                   "SELECT $1::bigint + 1, 7::int4, 3::int2, true, 'text'::text, 12.0::numeric,"
                   " NULL::int8, $2",
                   STORE_ARGS(STORE_INT(5000000000LL), STORE_TEXT("héllo")), take_row, &c, NULL),
        RC_OK);
    assert_int_equal(c.n, 8);
    assert_int_equal(c.type[0], STORE_T_INT);
    assert_int_equal(c.i[0], 5000000001LL); /* int8 survives the round trip */
    assert_int_equal(c.type[1], STORE_T_INT);
    assert_int_equal(c.i[1], 7);
    assert_int_equal(c.i[2], 3);
    assert_int_equal(c.type[3], STORE_T_INT);
    assert_int_equal(c.i[3], 1);
    assert_int_equal(c.type[4], STORE_T_TEXT);
    assert_string_equal(c.s[4], "text");
    assert_int_equal(c.type[5], STORE_T_INT);
    assert_int_equal(c.i[5], 12);
    assert_int_equal(c.type[6], STORE_T_NULL);
    assert_int_equal(c.type[7], STORE_T_TEXT); /* an untyped parameter is text */
    assert_string_equal(c.s[7], "héllo");

    /* NULL parameters, NULL columns, and RETURNING */
    c = (struct row_copy){0};
    assert_int_equal(store_exec(f->st,
                                "INSERT INTO items (name, qty, note) VALUES ($1, $2, $3)"
                                " RETURNING id, qty, note",
                                STORE_ARGS(STORE_TEXT("a"), STORE_NULL, STORE_TEXT_OR_NULL(NULL)),
                                take_row, &c, NULL),
                     RC_OK);
    assert_int_equal(c.type[0], STORE_T_INT);
    assert_int_equal(c.type[1], STORE_T_NULL);
    assert_int_equal(c.type[2], STORE_T_NULL);
    int64_t changes = -1;
    assert_int_equal(store_exec(f->st, "UPDATE items SET qty = $1 WHERE name = $2",
                                STORE_ARGS(STORE_INT(4), STORE_TEXT("a")), NULL, NULL, &changes),
                     RC_OK);
    assert_int_equal(changes, 1);
    assert_int_equal(store_exec(f->st,
                                "INSERT INTO items (name, qty) VALUES ($1, 1)"
                                " ON CONFLICT (name) DO NOTHING",
                                STORE_ARGS(STORE_TEXT("a")), NULL, NULL, &changes),
                     RC_OK);
    assert_int_equal(changes, 0);
    assert_int_equal(query_int(f->st, "SELECT qty FROM items WHERE name = 'a'"), 4);
}

static void on_commit(void *ud) { (*(int *)ud)++; }

static void test_transactions(void **state)
{
    struct fixture *f = *state;
    int calls = 0;
    store_set_commit_hook(f->st, on_commit, &calls);
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('gone', 1)");
    store_rollback(f->st);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 0);
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('kept', 1)");
    assert_int_equal(calls, 0);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 1);
    store_rollback(f->st); /* none open: harmless */
    /* Another connection sees only what was committed. */
    struct store *other = connect_to(f->url);
    assert_int_equal(store_begin(f->st), RC_OK);
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('pending', 1)");
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM items"), 1);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM items"), 2);
    store_close(other);
}

static void test_constraints_conflict(void **state)
{
    struct fixture *f = *state;
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('x', 1)");
    assert_int_equal(store_exec(f->st, "INSERT INTO items (name, qty) VALUES ('x', 2)", NULL, 0,
                                NULL, NULL, NULL),
                     RC_CONFLICT);
    assert_non_null(strstr(store_error(f->st), "23505"));
    assert_int_equal(store_exec(f->st, "INSERT INTO items (name, qty) VALUES ('y', -1)", NULL, 0,
                                NULL, NULL, NULL),
                     RC_CONFLICT);
    /* Inside a transaction the failure aborts it; after the rollback the
     * connection works as before. */
    assert_int_equal(store_begin(f->st), RC_OK);
    assert_int_equal(store_exec(f->st, "INSERT INTO items (name, qty) VALUES ('x', 3)", NULL, 0,
                                NULL, NULL, NULL),
                     RC_CONFLICT);
    assert_int_equal(store_exec(f->st, "SELECT 1", NULL, 0, NULL, NULL, NULL), RC_STORE);
    store_rollback(f->st);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 1);
    assert_int_equal(store_exec(f->st, "SELEC nonsense", NULL, 0, NULL, NULL, NULL), RC_STORE);
    assert_non_null(strstr(store_error(f->st), "42601"));
}

/* Write skew: each transaction reads the whole table and inserts a row
 * the other would have read. Serializable isolation lets only one commit;
 * the other gets RC_RETRY and succeeds when run again. */
static void test_serialization_failure_is_retry(void **state)
{
    struct fixture *f = *state;
    struct store *a = f->st, *b = connect_to(f->url);
    exec_ok(a, "CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOLEAN NOT NULL)");
    exec_ok(a, "INSERT INTO doctors VALUES ('alice', true), ('bob', true)");
    assert_int_equal(store_begin(a), RC_OK);
    assert_int_equal(store_begin(b), RC_OK);
    assert_int_equal(query_int(a, "SELECT COUNT(*) FROM doctors WHERE on_call"), 2);
    assert_int_equal(query_int(b, "SELECT COUNT(*) FROM doctors WHERE on_call"), 2);
    exec_ok(a, "UPDATE doctors SET on_call = false WHERE name = 'alice'");
    int rc = store_exec(b, "UPDATE doctors SET on_call = false WHERE name = 'bob'", NULL, 0, NULL,
                        NULL, NULL);
    assert_int_equal(store_commit(a), RC_OK);
    if (rc == RC_OK)
        rc = store_commit(b);
    else
        store_rollback(b);
    assert_int_equal(rc, RC_RETRY);
    assert_non_null(strstr(store_error(b), "40001"));
    assert_false(b->in_tx);
    /* Run again, b sees a's commit and decides differently. */
    assert_int_equal(store_begin(b), RC_OK);
    assert_int_equal(query_int(b, "SELECT COUNT(*) FROM doctors WHERE on_call"), 1);
    assert_int_equal(store_commit(b), RC_OK);
    store_close(b);
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

static void test_migrations_translate_autoincrement(void **state)
{
    struct fixture *f = *state;
    static const struct store_migration steps[] = {
        {1, "CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)"},
        {2, "INSERT INTO log (v) VALUES ('one'); INSERT INTO log (v) VALUES ('two')"},
    };
    assert_int_equal(store_migrate(f->st, "comp", steps, 2), RC_OK);
    assert_int_equal(store_migrate(f->st, "comp", steps, 2), RC_OK); /* once */
    assert_int_equal(migrations(f->st, "comp"), 2);
    assert_int_equal(query_int(f->st, "SELECT MAX(seq) FROM log"), 2);
    /* A failing step leaves nothing behind. */
    static const struct store_migration bad[] = {
        {1, "CREATE TABLE t1 (x INT)"},
        {2, "CREATE TABLE t2 (x INT); CREATE TABLE t1 (x INT)"},
    };
    assert_int_not_equal(store_migrate(f->st, "bad", bad, 2), RC_OK);
    assert_int_equal(migrations(f->st, "bad"), 1);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM pg_tables WHERE tablename = 't2'"), 0);
}

static void test_savepoints(void **state)
{
    struct fixture *f = *state;
    store_savepoints_contract(f->st);
}

static void test_statement_cache(void **state)
{
    struct fixture *f = *state;
    /* More distinct statements than the cache holds, twice over. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 300; i++) {
            char sql[64];
            snprintf(sql, sizeof sql, "SELECT %d + $1", i);
            int64_t v = -1;
            assert_int_equal(store_query_int(f->st, sql, STORE_ARGS(STORE_INT(1)), &v, NULL),
                             RC_OK);
            assert_int_equal(v, i + 1);
        }
    }
}

static void test_reconnects_after_losing_the_connection(void **state)
{
    struct fixture *f = *state;
    struct store *victim = connect_to(f->url);
    assert_true(store_ping(victim));
    int64_t pid = query_int(victim, "SELECT pg_backend_pid()");
    int64_t killed = 0;
    assert_int_equal(store_query_int(f->admin, "SELECT pg_terminate_backend(CAST($1 AS integer))",
                                     STORE_ARGS(STORE_INT(pid)), &killed, NULL),
                     RC_OK);
    assert_int_equal(killed, 1);
    /* The statement in hand fails cleanly; the next one reconnects. */
    assert_int_equal(store_exec(victim, "SELECT 1", NULL, 0, NULL, NULL, NULL), RC_STORE);
    assert_true(store_ping(victim));
    assert_int_not_equal(query_int(victim, "SELECT pg_backend_pid()"), pid);

    /* Lost inside a transaction: the transaction fails, the next works. */
    assert_int_equal(store_begin(victim), RC_OK);
    pid = query_int(victim, "SELECT pg_backend_pid()");
    assert_int_equal(store_query_int(f->admin, "SELECT pg_terminate_backend(CAST($1 AS integer))",
                                     STORE_ARGS(STORE_INT(pid)), &killed, NULL),
                     RC_OK);
    assert_int_equal(store_exec(victim, "INSERT INTO items (name, qty) VALUES ('lost', 1)", NULL, 0,
                                NULL, NULL, NULL),
                     RC_STORE);
    assert_int_equal(store_exec(victim, "SELECT 1", NULL, 0, NULL, NULL, NULL), RC_STORE);
    store_rollback(victim);
    assert_int_equal(store_begin(victim), RC_OK);
    exec_ok(victim, "INSERT INTO items (name, qty) VALUES ('found', 1)");
    assert_int_equal(store_commit(victim), RC_OK);
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 1);
    store_close(victim);
}

static bool store_answers(void *ud) { return store_ping(ud); }

static void test_recovers_after_a_server_restart(void **state)
{
    struct fixture *f = *state;
    const char *script = getenv("WEBTOON_TEST_PG_SCRIPT");
    if (!script || !*script)
        skip();
    char cmd[600];
    exec_ok(f->st, "INSERT INTO items (name, qty) VALUES ('before', 1)");
    snprintf(cmd, sizeof cmd, "%s stop >/dev/null 2>&1", script);
    assert_int_equal(system(cmd), 0);
    assert_false(store_ping(f->st));
    assert_int_equal(store_begin(f->st), RC_STORE);
    snprintf(cmd, sizeof cmd, "%s start >/dev/null 2>&1", script);
    assert_int_equal(system(cmd), 0);
    assert_true(test_wait_until(store_answers, f->st, 30000));
    assert_int_equal(query_int(f->st, "SELECT COUNT(*) FROM items"), 1);
    assert_true(test_wait_until(store_answers, f->admin, 30000)); /* every handle comes back */
}

/* Every allocation of ours may fail: the call says RC_NOMEM and leaks
 * nothing, and the next attempt works. */
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

static void test_bad_urls(void **state)
{
    (void)state;
    struct store *st = NULL;
    char err[256] = "";
    assert_int_equal(store_open("postgresx://h/db", &st, err, sizeof err), RC_CONFIG);
    assert_null(st);
    assert_int_equal(
        store_open("postgres://127.0.0.1:1/none?connect_timeout=2", &st, err, sizeof err),
        RC_STORE);
    assert_null(st);
    assert_true(strlen(err) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_types_and_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constraints_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serialization_failure_is_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations_translate_autoincrement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_savepoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnects_after_losing_the_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_recovers_after_a_server_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
        cmocka_unit_test(test_bad_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
