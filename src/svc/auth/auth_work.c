/*
 * Password hashing off the event loop. Argon2id with the INTERACTIVE
 * limits takes tens of milliseconds and 64 MiB: done on a loop thread it
 * would stall every connection of that thread (ENGINEERING.md section 9).
 * One worker thread takes jobs from a bounded queue; a handler submits one
 * and parks its request (http_req_park) until auth_work_collect says it is
 * done.
 *
 * Jobs are named by id, never by pointer, so a request whose client went
 * away (its check never runs again) leaves nothing dangling: a finished job
 * nobody collected is dropped once its deadline is AUTH_WORK_GRACE_MS past.
 * Passwords are wiped as soon as the job is done.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/log/log.h"
#include "svc/auth/auth.h"

#define AUTH_WORK_QUEUE_MAX 64  /* jobs waiting or done, beyond which submit refuses */
#define AUTH_WORK_GRACE_MS 5000 /* after its deadline, a finished job is dropped */

struct auth_job {
    struct auth_job *next;
    uint64_t id;
    enum auth_work_kind kind;
    char *password;   /* owned, wiped when done */
    char hash[160];   /* VERIFY: the stored hash ("" for the dummy); HASH: the result */
    int64_t deadline; /* monotonic ms */
    bool done;        /* under lock */
    bool ok;          /* VERIFY: matched; HASH: made */
    bool abandoned;   /* nobody will collect it */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool running, stopping;
    struct auth_job *jobs; /* oldest first */
    size_t njobs;
    uint64_t next_id;
    char dummy[160]; /* worker thread only */
} auth_work = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void auth_job_free(struct auth_job *j)
{
    if (!j)
        return;
    if (j->password) {
        sodium_memzero(j->password, strlen(j->password));
        mem_free(j->password);
    }
    mem_free(j);
}

/* Unlinks and frees the jobs no one will collect: given up, or finished
 * and long past their deadline. Under lock, and only by the worker while
 * it holds no job, so none of them is being worked on. */
static void auth_work_drop_stale(void)
{
    int64_t now = clock_mono_ms();
    for (struct auth_job **p = &auth_work.jobs; *p;) {
        struct auth_job *j = *p;
        if (j->abandoned || (j->done && now > j->deadline + AUTH_WORK_GRACE_MS)) {
            *p = j->next;
            auth_work.njobs--;
            auth_job_free(j);
        } else {
            p = &j->next;
        }
    }
}

static void auth_work_run(struct auth_job *j)
{
    if (j->kind == AUTH_WORK_HASH) {
        j->ok = auth_password_hash(j->password, j->hash, sizeof j->hash) == RC_OK;
        return;
    }
    const char *hash = j->hash;
    if (!*hash) {
        /* An unknown account costs the same time as a known one. */
        if (!*auth_work.dummy &&
            auth_password_hash("not a password", auth_work.dummy, sizeof auth_work.dummy) != RC_OK)
            auth_work.dummy[0] = '\0';
        hash = auth_work.dummy;
        j->ok = false;
        bool never = *hash && crypto_pwhash_str_verify(hash, j->password, strlen(j->password)) == 0;
        (void)never;
        return;
    }
    j->ok = crypto_pwhash_str_verify(hash, j->password, strlen(j->password)) == 0;
}

static void *auth_work_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&auth_work.lock);
    while (!auth_work.stopping) {
        struct auth_job *j = auth_work.jobs;
        while (j && (j->done || j->abandoned))
            j = j->next;
        if (!j) {
            auth_work_drop_stale();
            struct timespec until = clock_mono_after(AUTH_WORK_GRACE_MS);
            pthread_cond_timedwait(&auth_work.cond, &auth_work.lock, &until);
            continue;
        }
        pthread_mutex_unlock(&auth_work.lock);
        auth_work_run(j); /* only this thread touches a job that is not done */
        sodium_memzero(j->password, strlen(j->password));
        pthread_mutex_lock(&auth_work.lock);
        j->done = true;
        auth_work_drop_stale();
    }
    pthread_mutex_unlock(&auth_work.lock);
    return NULL;
}

int auth_work_start(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&auth_work.cond);
    pthread_cond_init(&auth_work.cond, &attr);
    pthread_condattr_destroy(&attr);
    auth_work.stopping = false;
    if (thread_start(&auth_work.thread, "auth-work", auth_work_main, NULL) != 0)
        return RC_INTERNAL;
    auth_work.running = true;
    return RC_OK;
}

void auth_work_stop(void)
{
    if (!auth_work.running)
        return;
    pthread_mutex_lock(&auth_work.lock);
    auth_work.stopping = true;
    pthread_cond_signal(&auth_work.cond);
    pthread_mutex_unlock(&auth_work.lock);
    pthread_join(auth_work.thread, NULL);
    auth_work.running = false;
    while (auth_work.jobs) {
        struct auth_job *j = auth_work.jobs;
        auth_work.jobs = j->next;
        auth_job_free(j);
    }
    auth_work.njobs = 0;
    sodium_memzero(auth_work.dummy, sizeof auth_work.dummy);
}

uint64_t auth_work_submit(enum auth_work_kind kind, const char *password, const char *hash,
                          int64_t deadline_ms)
{
    struct auth_job *j = mem_calloc(1, sizeof *j);
    if (!j || !(j->password = mem_strdup(password))) {
        auth_job_free(j);
        return 0;
    }
    j->kind = kind;
    snprintf(j->hash, sizeof j->hash, "%s", hash ? hash : "");
    j->deadline = deadline_ms;
    uint64_t id = 0;
    pthread_mutex_lock(&auth_work.lock);
    if (auth_work.running && auth_work.njobs < AUTH_WORK_QUEUE_MAX) {
        id = j->id = ++auth_work.next_id;
        struct auth_job **p = &auth_work.jobs;
        while (*p)
            p = &(*p)->next;
        *p = j;
        auth_work.njobs++;
        pthread_cond_signal(&auth_work.cond);
    }
    pthread_mutex_unlock(&auth_work.lock);
    if (!id)
        auth_job_free(j);
    return id;
}

enum auth_work_state auth_work_collect(uint64_t id, bool abandon, bool *ok, char *hash, size_t len)
{
    enum auth_work_state state = AUTH_WORK_GONE;
    pthread_mutex_lock(&auth_work.lock);
    for (struct auth_job **p = &auth_work.jobs; *p; p = &(*p)->next) {
        struct auth_job *j = *p;
        if (j->id != id)
            continue;
        if (!j->done) {
            state = abandon ? AUTH_WORK_GONE : AUTH_WORK_PENDING;
            j->abandoned |= abandon;
            break;
        }
        state = AUTH_WORK_DONE;
        *ok = j->ok;
        if (hash)
            snprintf(hash, len, "%s", j->kind == AUTH_WORK_HASH ? j->hash : "");
        *p = j->next;
        auth_work.njobs--;
        auth_job_free(j);
        break;
    }
    pthread_mutex_unlock(&auth_work.lock);
    return state;
}
