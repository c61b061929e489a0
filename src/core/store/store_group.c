/* Group commit on a writer thread; see store_group.h. */
#include "core/store/store_group.h"

#include <pthread.h>
#include <stdio.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"

#define STORE_GROUP_MAX 256     /* units in one transaction at most */
#define STORE_GROUP_ATTEMPTS 10 /* runs of a unit alone that keeps losing races */

enum { UNIT_QUEUED, UNIT_RUNNING, UNIT_DONE };

struct store_group {
    struct store *st; /* writer thread only */
    pthread_t thread;
    pthread_mutex_t lock;   /* guards the queue, stopping, and units leaving RUNNING */
    pthread_cond_t queued;  /* units queued, or stopping */
    pthread_cond_t settled; /* a group's units are done */
    struct store_group_unit *head, *tail;
    bool stopping;
    struct store_group_unit *batch[STORE_GROUP_MAX]; /* writer thread only */
    void (*done_fn[STORE_GROUP_MAX])(void *ud);      /* the batch's on_done, writer only */
    void *done_ud[STORE_GROUP_MAX];
    struct metrics_counter *commits;
    struct metrics_counter *units;
};

static int store_group_run_alone(struct store *st, void *ud)
{
    struct store_group_unit *u = ud;
    return u->run(st, u->ud);
}

/* Runs batch[0..n) in one transaction; each unit's outcome in its rc.
 * Those that must run again alone are, here, before any is done. */
static void store_group_run(struct store_group *g, size_t n)
{
    struct store *st = g->st;
    bool again[STORE_GROUP_MAX] = {false};
    int rc = store_begin(st);
    size_t ran = 0, kept = 0;
    for (; ran < n && rc == RC_OK; ran++) {
        struct store_group_unit *u = g->batch[ran];
        struct store_mark mark;
        if ((rc = store_savepoint(st, &mark)) != RC_OK)
            break;
        u->rc = u->run(st, u->ud);
        if (u->rc == RC_OK && (u->rc = store_release(st)) == RC_OK) {
            kept++;
            continue;
        }
        again[ran] = u->rc == RC_RETRY;
        rc = store_rollback_to(st, &mark); /* when this fails, the group is lost */
    }
    if (rc == RC_OK)
        rc = store_commit(st);
    else
        store_rollback(st);
    if (rc == RC_OK) {
        metrics_counter_add(g->commits, 1);
        metrics_counter_add(g->units, kept);
    } else {
        log_warn("a group of %zu commands could not commit (%s: %s); each runs again alone", n,
                 rc_name(rc), store_error(st));
    }
    /* Again alone: who lost a race, and, when the group did not commit,
     * who had succeeded in it or never ran. */
    for (size_t i = 0; i < n; i++) {
        struct store_group_unit *u = g->batch[i];
        if (again[i] || (rc != RC_OK && (i >= ran || u->rc == RC_OK)))
            u->rc = store_run_tx(st, STORE_GROUP_ATTEMPTS, store_group_run_alone, u);
    }
}

static void *store_group_main(void *arg)
{
    struct store_group *g = arg;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        while (!g->head && !g->stopping)
            pthread_cond_wait(&g->queued, &g->lock);
        if (!g->head)
            break; /* stopping, and nothing left */
        size_t n = 0;
        while (g->head && n < STORE_GROUP_MAX) {
            struct store_group_unit *u = g->head;
            g->head = u->next;
            atomic_store(&u->state, UNIT_RUNNING);
            g->batch[n++] = u;
        }
        if (!g->head)
            g->tail = NULL;
        pthread_mutex_unlock(&g->lock);
        store_group_run(g, n);
        /* Read before UNIT_DONE: from then on a unit may be gone. */
        for (size_t i = 0; i < n; i++) {
            g->done_fn[i] = g->batch[i]->on_done;
            g->done_ud[i] = g->batch[i]->on_done_ud;
        }
        pthread_mutex_lock(&g->lock);
        for (size_t i = 0; i < n; i++)
            atomic_store(&g->batch[i]->state, UNIT_DONE);
        pthread_cond_broadcast(&g->settled);
        pthread_mutex_unlock(&g->lock);
        for (size_t i = 0; i < n; i++)
            if (g->done_fn[i])
                g->done_fn[i](g->done_ud[i]);
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int store_group_start(const char *url, void (*commit_hook)(void *ud), void *hook_ud,
                      struct store_group **out, char *err, size_t errlen)
{
    *out = NULL;
    struct store_group *g = mem_calloc(1, sizeof *g);
    if (!g)
        return RC_NOMEM;
    int rc = store_open(url, &g->st, err, errlen);
    if (rc != RC_OK) {
        mem_free(g);
        return rc;
    }
    if (commit_hook)
        store_set_commit_hook(g->st, commit_hook, hook_ud);
    g->commits = metrics_counter("webtoon_store_group_commits_total",
                                 "Transactions the command writer committed", "");
    g->units = metrics_counter(
        "webtoon_store_group_commands_total",
        "Units the command writer committed in groups: commands, and groups of events", "");
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->queued, NULL);
    pthread_cond_init(&g->settled, NULL);
    if (thread_start(&g->thread, "writer", store_group_main, g) != 0) {
        snprintf(err, errlen, "cannot start the command writer thread");
        store_close(g->st);
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->queued);
        pthread_cond_destroy(&g->settled);
        mem_free(g);
        return RC_INTERNAL;
    }
    *out = g;
    return RC_OK;
}

void store_group_stop(struct store_group *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->queued);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    store_close(g->st);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->queued);
    pthread_cond_destroy(&g->settled);
    mem_free(g);
}

void store_group_submit(struct store_group *g, struct store_group_unit *u)
{
    u->next = NULL;
    u->rc = RC_OK;
    atomic_store(&u->state, UNIT_QUEUED);
    pthread_mutex_lock(&g->lock);
    if (g->tail)
        g->tail->next = u;
    else
        g->head = u;
    g->tail = u;
    pthread_cond_signal(&g->queued);
    pthread_mutex_unlock(&g->lock);
}

size_t store_group_waiting(struct store_group *g)
{
    size_t n = 0;
    pthread_mutex_lock(&g->lock);
    for (const struct store_group_unit *u = g->head; u; u = u->next)
        n++;
    pthread_mutex_unlock(&g->lock);
    return n;
}

bool store_group_done(const struct store_group_unit *u)
{
    return atomic_load(&u->state) == UNIT_DONE;
}

void store_group_wait(struct store_group *g, struct store_group_unit *u)
{
    pthread_mutex_lock(&g->lock);
    while (atomic_load(&u->state) != UNIT_DONE)
        pthread_cond_wait(&g->settled, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

void store_group_forget(struct store_group *g, struct store_group_unit *u)
{
    pthread_mutex_lock(&g->lock);
    if (atomic_load(&u->state) == UNIT_QUEUED) {
        struct store_group_unit **at = &g->head, *prev = NULL;
        while (*at && *at != u) {
            prev = *at;
            at = &(*at)->next;
        }
        if (*at) {
            *at = u->next;
            if (g->tail == u)
                g->tail = prev;
        }
        u->rc = RC_UNAVAILABLE;
        atomic_store(&u->state, UNIT_DONE);
    }
    pthread_mutex_unlock(&g->lock);
    store_group_wait(g, u);
}
