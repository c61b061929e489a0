/* Work handed off the event loop (http_req_offload): it runs on another
 * thread while the loop serves others, then the request resumes on its
 * loop; neither a client that leaves nor a wait that runs out frees what
 * the work still uses; work that must run runs on the loop when no thread
 * can take it; and routes may take bodies above the server's limit. */
#include "support/test_support.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/http/http.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"

/* Work waits at the gate until the test opens it, so the order of events
 * is the test's, not the scheduler's. */
static sem_t gate;
static atomic_int cleanups, resumes;

struct job {
    bool gated;
    int rounds; /* hand off again until 0 */
    int done;
    pthread_t ran_on;
};

static void job_run(void *data)
{
    struct job *j = data;
    if (j->gated)
        sem_wait(&gate);
    j->ran_on = pthread_self();
    j->done++;
}

static void job_cleanup(void *data)
{
    atomic_fetch_add(&cleanups, 1);
    mem_free(data);
}

static int job_resume(struct http_req *req, void *data);

static const struct http_work job_work = {
    .run = job_run, .resume = job_resume, .cleanup = job_cleanup, .timeout_ms = 5000};

static int job_resume(struct http_req *req, void *data)
{
    struct job *j = data;
    atomic_fetch_add(&resumes, 1);
    bool off_loop = !pthread_equal(j->ran_on, pthread_self());
    if (--j->rounds > 0) {
        struct job *next = mem_calloc(1, sizeof *next);
        *next = *j;
        next->gated = false;
        return http_req_offload(req, &job_work, next);
    }
    return http_reply_json(req, 200, json_pack("{s:i, s:b}", "done", j->done, "offLoop", off_loop),
                           NULL);
}

/* What a request whose work ran out of time answers instead of 503. */
static int job_expired(struct http_req *req)
{
    return http_reply_json(req, 202, json_pack("{s:b}", "provisional", true), NULL);
}

static int handle_work(struct http_req *req)
{
    struct job *j = mem_calloc(1, sizeof *j);
    if (!j)
        return RC_NOMEM;
    j->gated = http_req_param(req, "how")[0] == 'g';
    j->rounds = http_req_param(req, "how")[0] == 't' ? 2 : 1;
    struct http_work w = job_work;
    if (!strcmp(http_req_param(req, "how"), "gated-short"))
        w.timeout_ms = 50;
    if (!strcmp(http_req_param(req, "how"), "gated-expiring")) {
        w.timeout_ms = 50;
        w.expired = job_expired;
    }
    w.inline_when_busy = !strcmp(http_req_param(req, "how"), "must");
    return http_req_offload(req, &w, j);
}

static int handle_fast(struct http_req *req)
{
    return http_reply_json(req, 200, json_pack("{s:s}", "fast", "yes"), NULL);
}

static int handle_upload(struct http_req *req)
{
    return http_reply_json(req, 200, json_pack("{s:s}", "took", "it"), NULL);
}

static const struct http_route routes[] = {
    {"GET", "/work/{how}", handle_work},
    {"GET", "/fast", handle_fast},
    {"POST", "/upload", handle_upload},
    {"POST", "/small", handle_upload},
};

static const struct http_body_limit limits[] = {{"POST", "/upload", 8192}, {0}};

static struct http_server *start(int offload_threads)
{
    struct http_server_options o = {
        .addr = "127.0.0.1",
        .threads = 1, /* one loop: if the work ran on it, nothing else would be served */
        .max_body = 1024,
        .body_limits = limits,
        .timeout_ms = 5000,
        .routes = routes,
        .nroutes = ARRAY_LEN(routes),
        .offload_threads = offload_threads,
    };
    struct http_server *s = NULL;
    char err[256];
    assert_int_equal(http_server_start(&o, &s, err, sizeof err), RC_OK);
    return s;
}

static int setup(void **state)
{
    log_init("test", LOG_ERROR);
    sem_init(&gate, 0, 0);
    atomic_store(&cleanups, 0);
    atomic_store(&resumes, 0);
    *state = start(1);
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < 4; i++)
        sem_post(&gate); /* a failed test may leave work at the gate */
    http_server_stop(*state, 1000);
    sem_destroy(&gate);
    metrics_cleanup();
    return 0;
}

#define PORT(state) http_server_port(*(state))

static int send_get(int port, const char *path)
{
    int fd = test_connect(port);
    char req[128];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    return fd;
}

/* For test_wait_until: <ud> cleanups happened. */
static bool cleaned(void *ud) { return atomic_load(&cleanups) == (int)(intptr_t)ud; }

static void test_work_runs_off_the_loop(void **state)
{
    int port = PORT(state);
    int slow = send_get(port, "/work/gated");
    struct test_response r;
    /* The only loop answers while the work waits at the gate. */
    assert_int_equal(test_http(port, "GET", "/fast", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    sem_post(&gate);
    assert_int_equal(test_exchange(slow, NULL, 0, &r), 0);
    close(slow);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"done\":1"));
    assert_non_null(strstr(r.body, "\"offLoop\":true"));
    assert_true(test_wait_until(cleaned, (void *)1, 3000)); /* by whichever let go last */
}

static void test_resume_may_hand_off_again(void **state)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", "/work/twice", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(atomic_load(&resumes), 2);
    assert_true(test_wait_until(cleaned, (void *)2, 3000));
}

/* h2o notices a client that left only when it answers: the work finishes,
 * its answer goes nowhere, and everything is freed once. */
static void test_client_leaving_is_harmless(void **state)
{
    int port = PORT(state);
    int fd = send_get(port, "/work/gated");
    struct test_response r;
    assert_int_equal(test_http(port, "GET", "/fast", NULL, NULL, &r), 0); /* it was taken */
    close(fd);
    sem_post(&gate);
    assert_true(test_wait_until(cleaned, (void *)1, 3000));
    assert_true(test_wait_until(test_nothing_in_flight, &port, 3000));
    assert_int_equal(test_http(port, "GET", "/work/now", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
}

/* Work at the gate past its deadline: <path> answers <status> saying
 * <says>, and the work still runs and frees its data, never resumed. */
static void check_late_work(void **state, const char *path, int status, const char *says)
{
    struct test_response r;
    assert_int_equal(test_http(PORT(state), "GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, status);
    assert_non_null(strstr(r.body, says));
    assert_int_equal(atomic_load(&cleanups), 0); /* the work still holds its data */
    sem_post(&gate);
    assert_true(test_wait_until(cleaned, (void *)1, 3000));
    assert_int_equal(atomic_load(&resumes), 0);
}

static void test_work_past_its_deadline_is_503(void **state)
{
    check_late_work(state, "/work/gated-short", 503, "took too long");
}

static void test_expired_work_answers_what_it_is_told(void **state)
{
    check_late_work(state, "/work/gated-expiring", 202, "\"provisional\":true");
}

/* GET <path> from a server without offload threads: the answer. */
static struct test_response get_without_threads(const char *path)
{
    struct http_server *s = start(0);
    struct test_response r;
    assert_int_equal(test_http(http_server_port(s), "GET", path, NULL, NULL, &r), 0);
    http_server_stop(s, 1000);
    assert_int_equal(atomic_load(&cleanups), 1);
    return r;
}

static void test_without_offload_threads_it_is_503(void **state)
{
    (void)state;
    assert_int_equal(get_without_threads("/work/now").status, 503);
}

/* Work that must happen once its request got there (a charge after its
 * payment committed) runs on the loop rather than being refused. */
static void test_work_that_must_run_runs_inline_without_threads(void **state)
{
    (void)state;
    struct test_response r = get_without_threads("/work/must");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"done\":1"));
    assert_non_null(strstr(r.body, "\"offLoop\":false"));
    assert_int_equal(atomic_load(&resumes), 1);
}

static void test_routes_may_take_larger_bodies(void **state)
{
    static char body[9000];
    memset(body, 'a', sizeof body - 1);
    const char *json = "Content-Type: application/json\r\n";
    struct test_response r;
    body[3000] = '\0';
    assert_int_equal(test_http(PORT(state), "POST", "/upload", json, body, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(test_http(PORT(state), "POST", "/small", json, body, &r), 0);
    assert_int_equal(r.status, 413);
    body[3000] = 'a';
    assert_int_equal(test_http(PORT(state), "POST", "/upload", json, body, &r), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "the limit is 8192"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_work_runs_off_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_may_hand_off_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_leaving_is_harmless, setup, teardown),
        cmocka_unit_test_setup_teardown(test_work_past_its_deadline_is_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_work_answers_what_it_is_told, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_offload_threads_it_is_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_work_that_must_run_runs_inline_without_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_routes_may_take_larger_bodies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
