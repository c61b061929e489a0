/* Backend dispatch, migrations and small query helpers; see store.h. */
#include "core/store/store.h"

#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"

static const struct store_ops *const store_backends[] = {
    &store_sqlite_ops,
    &store_pg_ops,
};

int store_open(const char *url, struct store **out, char *err, size_t errlen)
{
    *out = NULL;
    for (size_t i = 0; i < ARRAY_LEN(store_backends); i++) {
        const struct store_ops *ops = store_backends[i];
        if (!strncmp(url, ops->scheme, strlen(ops->scheme)))
            return ops->open(url, out, err, errlen);
    }
    snprintf(err, errlen,
             "unknown store URL scheme in '%s' (expected sqlite:<path> or postgres://…)", url);
    return RC_CONFIG;
}

void store_close(struct store *st)
{
    if (st)
        st->ops->close(st);
}

int store_begin(struct store *st)
{
    BUG_ON(st->in_tx);
    st->ndeferred = 0;
    int rc = st->ops->begin(st);
    st->in_tx = rc == RC_OK;
    return rc;
}

int store_commit(struct store *st)
{
    BUG_ON(!st->in_tx);
    int rc = st->ops->commit(st);
    if (rc != RC_OK) {
        st->ops->rollback(st);
        st->in_tx = false;
        st->ndeferred = 0;
        return rc;
    }
    st->in_tx = false;
    if (st->on_commit)
        st->on_commit(st->on_commit_ud);
    /* Taken out first: an action may itself use the store. */
    struct store_deferred run[STORE_DEFERRED_MAX];
    size_t n = st->ndeferred;
    memcpy(run, st->deferred, n * sizeof run[0]);
    st->ndeferred = 0;
    for (size_t i = 0; i < n; i++)
        run[i].fn(run[i].ud, run[i].v);
    return RC_OK;
}

void store_rollback(struct store *st)
{
    st->ndeferred = 0;
    if (!st->in_tx)
        return;
    st->ops->rollback(st);
    st->in_tx = false;
}

int store_savepoint(struct store *st, struct store_mark *mark)
{
    BUG_ON(!st->in_tx);
    mark->ndeferred = st->ndeferred;
    return st->ops->exec_script(st, "SAVEPOINT unit");
}

int store_release(struct store *st)
{
    BUG_ON(!st->in_tx);
    return st->ops->exec_script(st, "RELEASE SAVEPOINT unit");
}

int store_rollback_to(struct store *st, const struct store_mark *mark)
{
    BUG_ON(!st->in_tx || mark->ndeferred > st->ndeferred);
    st->ndeferred = mark->ndeferred;
    /* Rolling back to a savepoint keeps it: released too, so the next
     * unit starts a fresh one. */
    return st->ops->exec_script(st, "ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit");
}

size_t store_deferred_room(const struct store *st) { return STORE_DEFERRED_MAX - st->ndeferred; }

int store_after_commit(struct store *st, void (*fn)(void *ud, int64_t v), void *ud, int64_t v)
{
    if (!st->in_tx) {
        fn(ud, v);
        return RC_OK;
    }
    if (st->ndeferred == STORE_DEFERRED_MAX)
        return RC_NOMEM;
    st->deferred[st->ndeferred++] = (struct store_deferred){fn, ud, v};
    return RC_OK;
}

int store_exec(struct store *st, const char *sql, const struct store_val *args, size_t nargs,
               store_row_cb cb, void *ud, int64_t *changes)
{
    return st->ops->exec(st, sql, args, nargs, cb, ud, changes);
}

void store_row_text(char *dst, size_t len, const struct store_val *v)
{
    snprintf(dst, len, "%s", v->type == STORE_T_TEXT ? v->s : "");
}

int64_t store_row_int(const struct store_val *v, int64_t if_null)
{
    return v->type == STORE_T_INT ? v->i : if_null;
}

struct store_int_result {
    int64_t value;
    bool found;
};

static int store_take_int(void *ud, const struct store_row *row)
{
    struct store_int_result *res = ud;
    res->found = true;
    res->value = row->ncols > 0 && row->cols[0].type == STORE_T_INT ? row->cols[0].i : 0;
    return 0;
}

int store_query_int(struct store *st, const char *sql, const struct store_val *args, size_t nargs,
                    int64_t *out, bool *found)
{
    struct store_int_result res = {0};
    int rc = store_exec(st, sql, args, nargs, store_take_int, &res, NULL);
    *out = res.value;
    if (found)
        *found = res.found;
    return rc;
}

struct store_texts {
    char *out;
    size_t width, max, n;
};

static int store_take_text(void *ud, const struct store_row *row)
{
    struct store_texts *t = ud;
    if (t->n < t->max && row->ncols > 0 && row->cols[0].type == STORE_T_TEXT)
        snprintf(t->out + t->width * t->n++, t->width, "%s", row->cols[0].s);
    return 0;
}

int store_query_texts(struct store *st, const char *sql, const struct store_val *args, size_t nargs,
                      char *out, size_t width, size_t max, size_t *n)
{
    struct store_texts t = {out, width, max, 0};
    int rc = store_exec(st, sql, args, nargs, store_take_text, &t, NULL);
    *n = t.n;
    return rc;
}

int store_run_tx(struct store *st, int attempts, int (*fn)(struct store *st, void *ud), void *ud)
{
    int rc = RC_RETRY;
    for (int attempt = 0; attempt < attempts && rc == RC_RETRY; attempt++) {
        if (attempt > 0)
            clock_sleep_ms(attempt + clock_mono_us() % (2 * attempt + 1));
        if ((rc = store_begin(st)) != RC_OK)
            continue;
        if ((rc = fn(st, ud)) == RC_OK && (rc = store_commit(st)) == RC_OK)
            break;
        store_rollback(st);
    }
    return rc;
}

bool store_ping(struct store *st)
{
    int64_t one = 0;
    return store_query_int(st, "SELECT 1", NULL, 0, &one, NULL) == RC_OK && one == 1;
}

const char *store_error(const struct store *st) { return st->errmsg; }

bool store_is_postgres(const struct store *st) { return st->ops == &store_pg_ops; }

int store_set_durable(struct store *st, bool durable)
{
    BUG_ON(st->in_tx);
    if (store_is_postgres(st))
        return st->ops->exec_script(st, durable ? "SET synchronous_commit = on"
                                                : "SET synchronous_commit = off");
    return st->ops->exec_script(st,
                                durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

void store_set_commit_hook(struct store *st, void (*fn)(void *ud), void *ud)
{
    st->on_commit = fn;
    st->on_commit_ud = ud;
}

/* Runs the SQL of one step, this backend's half of a STORE_SQL_BY_BACKEND. */
static int store_migration_script(struct store *st, const char *sql)
{
    if (sql[0] != '\x1e')
        return st->ops->exec_script(st, sql);
    const char *sqlite = sql + 1, *pg = sqlite + strlen(sqlite) + 1;
    return st->ops->exec_script(st, store_is_postgres(st) ? pg : sqlite);
}

/* Applies the steps; see store_migrate. */
static int store_migrate_locked(struct store *st, const char *component,
                                const struct store_migration *steps, size_t n)
{
    int rc = store_exec(st,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " component TEXT NOT NULL, version INTEGER NOT NULL,"
                        " applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))",
                        NULL, 0, NULL, NULL, NULL);
    if (rc != RC_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct store_migration *m = &steps[i];
        BUG_ON(m->version != (int)i + 1);
        if ((rc = store_begin(st)) != RC_OK)
            return rc;
        /* Re-checked inside the write transaction: several processes of one
         * service may start at once, and only one may apply a step. */
        bool applied = false;
        int64_t ignored;
        rc = store_query_int(st,
                             "SELECT version FROM schema_migrations"
                             " WHERE component = $1 AND version = $2",
                             STORE_ARGS(STORE_TEXT(component), STORE_INT(m->version)), &ignored,
                             &applied);
        if (rc == RC_OK && !applied) {
            rc = store_migration_script(st, m->sql);
            if (rc == RC_OK)
                rc = store_exec(st,
                                "INSERT INTO schema_migrations (component, version, applied_at)"
                                " VALUES ($1, $2, $3)",
                                STORE_ARGS(STORE_TEXT(component), STORE_INT(m->version),
                                           STORE_INT(clock_wall_ms())),
                                NULL, NULL, NULL);
        }
        if (rc != RC_OK) {
            store_rollback(st);
            return rc;
        }
        if ((rc = store_commit(st)) != RC_OK)
            return rc;
    }
    return RC_OK;
}

int store_migrate(struct store *st, const char *component, const struct store_migration *steps,
                  size_t n)
{
    /* PostgreSQL: a second process would see "not applied" in its snapshot
     * and fail on the first one's tables; the lock makes it wait instead. */
    int rc = st->ops->schema_lock ? st->ops->schema_lock(st, true) : RC_OK;
    if (rc != RC_OK)
        return rc;
    rc = store_migrate_locked(st, component, steps, n);
    if (st->ops->schema_lock) {
        int unlocked = st->ops->schema_lock(st, false);
        if (rc == RC_OK)
            rc = unlocked;
    }
    return rc;
}
