/* The savepoint contract every store backend keeps (store_savepoint,
 * store_release, store_rollback_to), run by each backend's test on its
 * own handle: units kept or undone alone inside one transaction, a
 * failed statement undone without losing the transaction (PostgreSQL
 * refuses everything after an error until then), and the actions an
 * undone unit registered dropped with it. */
#ifndef WEBTOON_TEST_STORE_SAVEPOINTS_H
#define WEBTOON_TEST_STORE_SAVEPOINTS_H

#include "core/base/rc.h"
#include "core/store/store.h"

static void savepoints_add(void *ud, int64_t v) { *(int64_t *)ud += v; }

static int64_t savepoints_count(struct store *st, const char *sql)
{
    int64_t n = -1;
    assert_int_equal(store_query_int(st, sql, NULL, 0, &n, NULL), RC_OK);
    return n;
}

static void store_savepoints_contract(struct store *st)
{
    int64_t ran = 0;
    struct store_mark mark;
    assert_int_equal(
        store_exec(st, "CREATE TABLE units (v INTEGER UNIQUE)", NULL, 0, NULL, NULL, NULL), RC_OK);
    assert_int_equal(store_begin(st), RC_OK);
    assert_int_equal(store_exec(st, "INSERT INTO units VALUES (1)", NULL, 0, NULL, NULL, NULL),
                     RC_OK);
    /* kept */
    assert_int_equal(store_savepoint(st, &mark), RC_OK);
    assert_int_equal(store_exec(st, "INSERT INTO units VALUES (2)", NULL, 0, NULL, NULL, NULL),
                     RC_OK);
    assert_int_equal(store_after_commit(st, savepoints_add, &ran, 1), RC_OK);
    assert_int_equal(store_release(st), RC_OK);
    /* undone, with its action */
    assert_int_equal(store_savepoint(st, &mark), RC_OK);
    assert_int_equal(store_exec(st, "INSERT INTO units VALUES (3)", NULL, 0, NULL, NULL, NULL),
                     RC_OK);
    assert_int_equal(store_after_commit(st, savepoints_add, &ran, 100), RC_OK);
    size_t room = store_deferred_room(st);
    assert_int_equal(store_rollback_to(st, &mark), RC_OK);
    assert_int_equal(store_deferred_room(st), room + 1);
    /* a failed statement, undone: the transaction goes on */
    assert_int_equal(store_savepoint(st, &mark), RC_OK);
    assert_int_equal(store_exec(st, "INSERT INTO units VALUES (1)", NULL, 0, NULL, NULL, NULL),
                     RC_CONFLICT);
    assert_int_equal(store_rollback_to(st, &mark), RC_OK);
    assert_int_equal(store_exec(st, "INSERT INTO units VALUES (4)", NULL, 0, NULL, NULL, NULL),
                     RC_OK);
    assert_int_equal(store_commit(st), RC_OK);
    assert_int_equal(savepoints_count(st, "SELECT COUNT(*) FROM units"), 3);
    assert_int_equal(savepoints_count(st, "SELECT SUM(v) FROM units"), 1 + 2 + 4);
    assert_int_equal(ran, 1);
}

#endif
