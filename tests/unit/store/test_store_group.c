/* Group commit (store_group): units waiting together share one commit;
 * a failing unit is undone alone and the others stand; a unit that loses
 * a race runs again alone; every outcome is known only once it is
 * committed; a unit forgotten before it ran never runs. */
#include "support/test_support.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/base/rc.h"
#include "core/metrics/metrics.h"
#include "core/store/store.h"
#include "core/store/store_group.h"

#define WAIT_MS 10000 /* safety net */

struct fixture {
    char dir[256];
    char url[320];
    struct store *st; /* the test's own view */
    struct store_group *g;
    atomic_int commits; /* the writer's commit hook */
};

static void count_commit(void *ud) { atomic_fetch_add(&((struct fixture *)ud)->commits, 1); }

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s/test.db", f->dir);
    char err[256] = "";
    assert_int_equal(store_open(f->url, &f->st, err, sizeof err), RC_OK);
    assert_int_equal(
        store_exec(f->st, "CREATE TABLE rows (v INTEGER PRIMARY KEY)", NULL, 0, NULL, NULL, NULL),
        RC_OK);
    assert_int_equal(store_group_start(f->url, count_commit, f, &f->g, err, sizeof err), RC_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_group_stop(f->g);
    store_close(f->st);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

/* What a unit does: inserts its value; <fail> makes it fail after the
 * insert (undone), <races> makes it lose that many races first. */
struct job {
    struct store_group_unit unit;
    int64_t v;
    int fail;
    atomic_int races;
    atomic_int runs;
    pthread_mutex_t *gate; /* held by the test: the unit waits for it */
};

static int job_run(struct store *st, void *ud)
{
    struct job *j = ud;
    atomic_fetch_add(&j->runs, 1);
    if (j->gate) {
        pthread_mutex_lock(j->gate);
        pthread_mutex_unlock(j->gate);
    }
    int rc = store_exec(st, "INSERT INTO rows (v) VALUES ($1)", STORE_ARGS(STORE_INT(j->v)), NULL,
                        NULL, NULL);
    if (rc == RC_OK && atomic_fetch_sub(&j->races, 1) > 0)
        return RC_RETRY;
    return rc == RC_OK && j->fail ? j->fail : rc;
}

static void job_init(struct job *j, int64_t v)
{
    *j = (struct job){.unit = {.run = job_run, .ud = j}, .v = v};
}

static bool all_done(struct job *jobs, size_t n)
{
    int64_t deadline = test_now_ms() + WAIT_MS;
    for (size_t i = 0; i < n; i++)
        while (!store_group_done(&jobs[i].unit))
            if (test_now_ms() > deadline)
                return false;
            else
                usleep(1000);
    return true;
}

static int64_t rows(struct fixture *f, const char *sql)
{
    int64_t n = -1;
    assert_int_equal(store_query_int(f->st, sql, NULL, 0, &n, NULL), RC_OK);
    return n;
}

static uint64_t counter(const char *name)
{
    return metrics_counter_value(metrics_counter(name, "", ""));
}

/* Units queued while the writer is busy all go into its next group. */
static void test_waiting_units_share_a_commit(void **state)
{
    struct fixture *f = *state;
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    struct job first, jobs[50];
    job_init(&first, 1000);
    first.gate = &gate;
    store_group_submit(f->g, &first.unit);
    while (atomic_load(&first.runs) == 0) /* the writer is in it */
        usleep(1000);
    uint64_t commits = counter("webtoon_store_group_commits_total");
    for (int i = 0; i < 50; i++) {
        job_init(&jobs[i], i);
        jobs[i].fail = i == 25 ? RC_INVALID : 0;
        store_group_submit(f->g, &jobs[i].unit);
    }
    assert_false(store_group_done(&jobs[0].unit)); /* no outcome before its commit */
    pthread_mutex_unlock(&gate);
    assert_true(all_done(&first, 1) && all_done(jobs, 50));
    assert_int_equal(first.unit.rc, RC_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(jobs[i].unit.rc, i == 25 ? RC_INVALID : RC_OK);
    assert_int_equal(rows(f, "SELECT COUNT(*) FROM rows"), 50);
    assert_int_equal(rows(f, "SELECT COUNT(*) FROM rows WHERE v = 25"), 0);
    /* the first unit's group, then one for the fifty */
    assert_int_equal(atomic_load(&f->commits), 2);
    assert_int_equal(counter("webtoon_store_group_commits_total") - commits, 2);
    for (int i = 0; i < 50; i++)
        assert_int_equal(atomic_load(&jobs[i].runs), 1);
}

/* A unit that loses a race runs again alone until it wins. */
static void test_lost_race_runs_again_alone(void **state)
{
    struct fixture *f = *state;
    struct job j;
    job_init(&j, 7);
    atomic_store(&j.races, 2);
    store_group_submit(f->g, &j.unit);
    assert_true(all_done(&j, 1));
    assert_int_equal(j.unit.rc, RC_OK);
    assert_int_equal(atomic_load(&j.runs), 3);
    assert_int_equal(rows(f, "SELECT COUNT(*) FROM rows WHERE v = 7"), 1);
}

/* Two units of one group that clash: the second is refused, the first
 * stands (the second saw the first's uncommitted row). */
static void test_clash_inside_a_group(void **state)
{
    struct fixture *f = *state;
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    struct job hold, a, b;
    job_init(&hold, 100);
    hold.gate = &gate;
    store_group_submit(f->g, &hold.unit);
    while (atomic_load(&hold.runs) == 0)
        usleep(1000);
    job_init(&a, 5);
    job_init(&b, 5);
    store_group_submit(f->g, &a.unit);
    store_group_submit(f->g, &b.unit);
    pthread_mutex_unlock(&gate);
    assert_true(all_done(&hold, 1) && all_done(&a, 1) && all_done(&b, 1));
    assert_int_equal(a.unit.rc, RC_OK);
    assert_int_equal(b.unit.rc, RC_CONFLICT);
    assert_int_equal(rows(f, "SELECT COUNT(*) FROM rows WHERE v = 5"), 1);
}

/* A unit forgotten while queued never runs; one forgotten while running
 * is waited for. */
static void test_forget(void **state)
{
    struct fixture *f = *state;
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    struct job running, queued;
    job_init(&running, 1);
    running.gate = &gate;
    job_init(&queued, 2);
    store_group_submit(f->g, &running.unit);
    while (atomic_load(&running.runs) == 0)
        usleep(1000);
    store_group_submit(f->g, &queued.unit);
    store_group_forget(f->g, &queued.unit);
    assert_true(store_group_done(&queued.unit));
    assert_int_equal(queued.unit.rc, RC_UNAVAILABLE);
    pthread_mutex_unlock(&gate);
    store_group_forget(f->g, &running.unit); /* returns once it is done */
    assert_true(store_group_done(&running.unit));
    assert_int_equal(running.unit.rc, RC_OK);
    assert_int_equal(atomic_load(&queued.runs), 0);
    assert_int_equal(rows(f, "SELECT COUNT(*) FROM rows"), 1);
}

/* Stopping runs what is queued first. */
static void test_stop_runs_the_queue(void **state)
{
    struct fixture *f = *state;
    struct job jobs[20];
    for (int i = 0; i < 20; i++) {
        job_init(&jobs[i], i);
        store_group_submit(f->g, &jobs[i].unit);
    }
    store_group_stop(f->g);
    f->g = NULL;
    for (int i = 0; i < 20; i++)
        assert_true(store_group_done(&jobs[i].unit));
    assert_int_equal(rows(f, "SELECT COUNT(*) FROM rows"), 20);
}

static void test_start_failure(void **state)
{
    (void)state;
    struct store_group *g = NULL;
    char err[256] = "";
    assert_int_equal(
        store_group_start("sqlite:/nonexistent/dir/x.db", NULL, NULL, &g, err, sizeof err),
        RC_STORE);
    assert_null(g);
    assert_true(err[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_waiting_units_share_a_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_race_runs_again_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clash_inside_a_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_runs_the_queue, setup, teardown),
        cmocka_unit_test(test_start_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
