/* The WAL-coalescing VFS (core/store/sqlite_wal_vfs.h) under the SQLite
 * store: a commit is one write, another connection sees every commit at
 * once (with and without a sync), a transaction larger than the page cache
 * reads back its own frames, the log restarts after checkpoints, and a
 * process killed in the middle of a transaction keeps what it committed. */
#include "support/test_support.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/rc.h"
#include "core/store/sqlite_wal_vfs.h"
#include "core/store/store.h"

struct fixture {
    char dir[256];
    char path[300];
    char url[320];
    struct store *st;
};

static void exec_ok(struct store *st, const char *sql)
{
    if (store_exec(st, sql, NULL, 0, NULL, NULL, NULL) != RC_OK)
        fail_msg("%s: %s", sql, store_error(st));
}

static struct store *open_store(const char *url)
{
    struct store *st = NULL;
    char err[256] = "";
    if (store_open(url, &st, err, sizeof err) != RC_OK)
        fail_msg("%s: %s", url, err);
    return st;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->path, sizeof f->path, "%s/test.db", f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    store_sqlite_coalesce_wal(true);
    f->st = open_store(f->url);
    exec_ok(f->st, "CREATE TABLE items (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    store_sqlite_coalesce_wal(false);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

/* <n> rows of 3,000 bytes each from id <first>: about one page a row. */
static void insert_rows(struct store *st, int first, int n)
{
    for (int i = first; i < first + n; i++)
        if (store_exec(st, "INSERT INTO items (id, body) VALUES ($1, zeroblob(3000))",
                       STORE_ARGS(STORE_INT(i)), NULL, NULL, NULL) != RC_OK)
            fail_msg("insert %d: %s", i, store_error(st));
}

/* A count from a connection of its own on the default VFS. */
static int64_t count_elsewhere(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

static char *integrity(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    char *text = strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return text;
}

static void commit_is_one_write(struct fixture *f)
{
    struct sqlite_wal_vfs_stats before, after;
    sqlite_wal_vfs_stats(&before);
    assert_int_equal(store_begin(f->st), RC_OK);
    insert_rows(f->st, 1, 20);
    assert_int_equal(store_commit(f->st), RC_OK);
    sqlite_wal_vfs_stats(&after);
    uint64_t asked = after.asked - before.asked, made = after.made - before.made;
    /* two writes a frame asked for, twenty pages and more: one made */
    if (asked < 40 || made != 1)
        fail_msg("asked %llu writes, made %llu", (unsigned long long)asked,
                 (unsigned long long)made);
    assert_int_equal(count_elsewhere(f->path, "SELECT COUNT(*) FROM items"), 20);
}

static void test_a_commit_is_one_write_and_seen_at_once(void **state)
{
    commit_is_one_write(*state);
}

/* synchronous=NORMAL syncs nothing at a commit: the commit frame alone must
 * send the transaction before the others can see it. */
static void test_without_a_sync_the_commit_frame_sends_it(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_set_durable(f->st, false), RC_OK);
    commit_is_one_write(f);
    for (int round = 1; round <= 50; round++) {
        insert_rows(f->st, 1000 + round, 1); /* a transaction of its own */
        assert_int_equal(count_elsewhere(f->path, "SELECT COUNT(*) FROM items"), 20 + round);
    }
}

static void test_a_transaction_bigger_than_the_cache_reads_its_own_frames(void **state)
{
    struct fixture *f = *state;
    exec_ok(f->st, "PRAGMA cache_size=5"); /* pages: the rest spills to the log */
    assert_int_equal(store_begin(f->st), RC_OK);
    insert_rows(f->st, 1, 400);
    exec_ok(f->st,
            "UPDATE items SET body = zeroblob(2900) WHERE id % 3 = 0"); /* frames rewritten */
    int64_t n = 0, bytes = 0;
    assert_int_equal(store_query_int(f->st, "SELECT COUNT(*) FROM items", NULL, 0, &n, NULL),
                     RC_OK);
    assert_int_equal(
        store_query_int(f->st, "SELECT SUM(length(body)) FROM items", NULL, 0, &bytes, NULL),
        RC_OK);
    assert_int_equal(n, 400);
    assert_int_equal(bytes, 267 * 3000 + 133 * 2900);
    assert_int_equal(count_elsewhere(f->path, "SELECT COUNT(*) FROM items"), 0);
    assert_int_equal(store_commit(f->st), RC_OK);
    assert_int_equal(count_elsewhere(f->path, "SELECT SUM(length(body)) FROM items"),
                     267 * 3000 + 133 * 2900);
    char *check = integrity(f->path);
    assert_string_equal(check, "ok");
    free(check);
}

static void test_the_log_restarts_after_checkpoints(void **state)
{
    struct fixture *f = *state;
    exec_ok(f->st, "PRAGMA wal_autocheckpoint=8"); /* a checkpoint every few commits */
    for (int i = 1; i <= 300; i++) {
        insert_rows(f->st, i, 1);
        if (i % 25 == 0)
            assert_int_equal(count_elsewhere(f->path, "SELECT COUNT(*) FROM items"), i);
    }
    store_close(f->st);
    f->st = open_store(f->url);
    assert_int_equal(count_elsewhere(f->path, "SELECT COUNT(*) FROM items"), 300);
    char *check = integrity(f->path);
    assert_string_equal(check, "ok");
    free(check);
}

static void test_a_killed_process_keeps_what_it_committed(void **state)
{
    struct fixture *f = *state;
    store_close(f->st); /* SQLite's locks do not survive a fork: the child opens its own */
    f->st = NULL;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct store *st = open_store(f->url);
        insert_rows(st, 1, 100); /* committed, a row at a time */
        store_exec(st, "PRAGMA cache_size=5", NULL, 0, NULL, NULL, NULL);
        store_begin(st);
        insert_rows(st, 101, 300); /* spilled to the log, partly still in the buffer */
        raise(SIGKILL);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(count_elsewhere(f->path, "SELECT COUNT(*) FROM items"), 100);
    char *check = integrity(f->path);
    assert_string_equal(check, "ok");
    free(check);
    f->st = open_store(f->url);
    insert_rows(f->st, 101, 10); /* and the log takes new commits after the torn one */
    assert_int_equal(count_elsewhere(f->path, "SELECT COUNT(*) FROM items"), 110);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_commit_is_one_write_and_seen_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_without_a_sync_the_commit_frame_sends_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_transaction_bigger_than_the_cache_reads_its_own_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_log_restarts_after_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_killed_process_keeps_what_it_committed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
