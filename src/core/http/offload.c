/*
 * Offload threads: blocking work a request hands off (http_req_offload)
 * runs here while its loop serves others. A bounded queue feeds a few
 * threads; each job is shared by the request and the thread that runs it
 * and freed by whichever lets go last, so a client that leaves (or a
 * request that gives up waiting) never frees memory a thread still uses.
 * A finished job wakes its loop, whose park check then resumes the request.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/base/bug.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/http/http_internal.h"

#define HTTP__OFFLOAD_QUEUE_MAX 256 /* jobs waiting, beyond which a request gets 503 */

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct http__job {
    struct http__job *next; /* in the queue */
    struct http_work work;
    void *data;
    struct http_waker *waker; /* the request's loop */
    atomic_int state;
    atomic_int refs;       /* the request's and the queue's (then the thread's) */
    atomic_bool abandoned; /* nobody resumes it: skip the work if not started */
};

struct http_offload {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct http__job *head, *tail;
    size_t queued;
    bool stopping;
    int nthreads;
    pthread_t threads[];
};

static void http__job_release(struct http__job *job)
{
    if (atomic_fetch_sub(&job->refs, 1) != 1)
        return;
    if (job->work.cleanup)
        job->work.cleanup(job->data);
    else
        mem_free(job->data);
    mem_free(job);
}

void http__job_abandon(struct http__job *job)
{
    atomic_store(&job->abandoned, true);
    http__job_release(job);
}

static void *http__offload_main(void *arg)
{
    struct http_offload *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->head && !o->stopping)
            pthread_cond_wait(&o->cond, &o->lock);
        struct http__job *job = o->head;
        if (!job)
            break; /* stopping, and nothing left */
        if (!(o->head = job->next))
            o->tail = NULL;
        o->queued--;
        pthread_mutex_unlock(&o->lock);
        if (!atomic_load(&job->abandoned)) {
            atomic_store(&job->state, JOB_RUNNING);
            job->work.run(job->data);
        }
        struct http_waker *waker = job->waker; /* the job may go once done */
        atomic_store(&job->state, JOB_DONE);
        http_waker_wake(waker);
        http__job_release(job);
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

int http__offload_start(int threads, struct http_offload **out, char *err, size_t errlen)
{
    struct http_offload *o = mem_calloc(1, sizeof *o + (size_t)threads * sizeof o->threads[0]);
    if (!o)
        return RC_NOMEM;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->cond, NULL);
    for (; o->nthreads < threads; o->nthreads++)
        if (thread_start(&o->threads[o->nthreads], "offload", http__offload_main, o) != 0) {
            snprintf(err, errlen, "cannot start an offload thread");
            http__offload_stop(o);
            return RC_IO;
        }
    *out = o;
    return RC_OK;
}

void http__offload_stop(struct http_offload *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = true;
    /* The loops are gone: what has not started is nobody's any more. */
    for (struct http__job *j = o->head; j; j = j->next)
        atomic_store(&j->abandoned, true);
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->lock);
    for (int i = 0; i < o->nthreads; i++)
        pthread_join(o->threads[i], NULL);
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->lock);
    mem_free(o);
}

static int http__offload_check(struct http_req *req, void *ud, bool expired)
{
    (void)ud;
    struct http__job *job = req->job;
    if (atomic_load(&job->state) != JOB_DONE) {
        if (!expired)
            return HTTP_PARKED;
        int (*late)(struct http_req *) = job->work.expired; /* the job may go now */
        req->job = NULL;
        http__job_abandon(job);
        return late ? late(req)
                    : http_fail(req, RC_UNAVAILABLE, "the work took too long; try again");
    }
    req->job = NULL; /* <resume> may hand off again */
    int rc = job->work.resume(req, job->data);
    http__job_release(job);
    return rc;
}

static void http__work_free(const struct http_work *work, void *data)
{
    if (work->cleanup)
        work->cleanup(data);
    else
        mem_free(data);
}

/* <work> on the loop, start to end: no thread can take it. */
static int http__work_inline(struct http_req *req, const struct http_work *work, void *data)
{
    work->run(data);
    int rc = work->resume(req, data);
    http__work_free(work, data);
    return rc;
}

int http_req_offload(struct http_req *req, const struct http_work *work, void *data)
{
    BUG_ON(req->job);
    struct http_offload *o = http__offload_of(req);
    struct http__job *job = o ? mem_calloc(1, sizeof *job) : NULL;
    if (!job) {
        if (work->inline_when_busy)
            return http__work_inline(req, work, data);
        http__work_free(work, data);
        return o ? RC_NOMEM : http_fail(req, RC_UNAVAILABLE, "this server does no offloaded work");
    }
    job->work = *work;
    job->data = data;
    job->waker = http_req_waker(req);
    atomic_init(&job->state, JOB_QUEUED);
    atomic_init(&job->refs, 2);
    pthread_mutex_lock(&o->lock);
    bool full = o->queued >= HTTP__OFFLOAD_QUEUE_MAX;
    if (!full) {
        if (o->tail)
            o->tail->next = job;
        else
            o->head = job;
        o->tail = job;
        o->queued++;
        pthread_cond_signal(&o->cond);
    }
    pthread_mutex_unlock(&o->lock);
    if (full) {
        mem_free(job);
        if (work->inline_when_busy)
            return http__work_inline(req, work, data);
        http__work_free(work, data);
        http_reply_header(req, "Retry-After", "1");
        return http_fail(req, RC_UNAVAILABLE, "too much work is waiting; try again in a moment");
    }
    req->job = job;
    return http_req_park(req, work->timeout_ms, http__offload_check, NULL);
}
