/*
 * Group commit: one writer thread with its own connection takes every unit
 * of work waiting and runs them in one transaction, each in a savepoint of
 * its own, then commits once. With synchronous=FULL a commit is an fsync,
 * so units that arrive together share one instead of queueing for one
 * each. A unit's outcome is known only after the commit: a unit that
 * succeeded counts once it is on disk.
 *
 * A unit that fails is undone alone and the others stand. A unit that
 * loses a race (RC_RETRY, PostgreSQL), and every unit of a group whose
 * commit fails, is run again alone, in a transaction of its own
 * (store_run_tx), so a conflict is retried per unit, never per group.
 *
 * The submitter owns the unit's memory and must not touch what <run> uses
 * until store_group_done says so; before that memory goes away it calls
 * store_group_forget.
 */
#ifndef WEBTOON_STORE_GROUP_H
#define WEBTOON_STORE_GROUP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/store/store.h"

struct store_group;

struct store_group_unit {
    /* Runs inside the group's open transaction of <st>, on the writer
     * thread; RC_OK keeps its work, any other code undoes it (RC_RETRY:
     * run it again alone). May run more than once: it starts from scratch
     * each time. */
    int (*run)(struct store *st, void *ud);
    void *ud;
    /* Optional: called on the writer thread once the unit is done (e.g. to
     * wake whoever waits for it); <on_done_ud> must outlive the unit. */
    void (*on_done)(void *ud);
    void *on_done_ud;
    int rc; /* the outcome, once store_group_done */
    /* the group's own */
    atomic_int state;
    struct store_group_unit *next;
};

/* Opens the writer's connection to <url> (with <commit_hook> on it, as
 * store_set_commit_hook; may be NULL) and starts its thread. */
int store_group_start(const char *url, void (*commit_hook)(void *ud), void *hook_ud,
                      struct store_group **out /* OUT */, char *err, size_t errlen);
/* Runs what is queued, then stops and frees. NULL does nothing. */
void store_group_stop(struct store_group *g);

/* Queues <u> for the next group. */
void store_group_submit(struct store_group *g, struct store_group_unit *u);
/* Units queued for the next group (not yet running). */
size_t store_group_waiting(struct store_group *g);
/* True once <u> ran and its outcome (u->rc) is final. Never blocks. */
bool store_group_done(const struct store_group_unit *u);
/* Blocks until <u> is done (from another thread than the writer's). */
void store_group_wait(struct store_group *g, struct store_group_unit *u);
/* <u> is going away: takes it off the queue if it has not started (then
 * u->rc is RC_UNAVAILABLE), else waits until it is done. */
void store_group_forget(struct store_group *g, struct store_group_unit *u);

#endif
