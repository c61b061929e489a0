/* Transactional, idempotent commands; see command.h. */
#include "core/service/command.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/auth/policy.h"
#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/outbox/outbox.h"
#include "core/service/service_internal.h"
#include "core/store/store_group.h"
#include "core/trace/trace.h"

#define COMMAND_KEY_MAX 64
#define COMMAND_RETENTION_MS (24LL * 3600 * 1000) /* keys are honoured for a day */
#define COMMAND_ATTEMPTS 10 /* runs of a command that keeps losing races (RC_RETRY) */
/* A command waits this long for the writer at most; the writer's groups
 * take milliseconds, so only a stuck database gets there. */
#define COMMAND_WAIT_MS 30000

const struct store_migration service_idempotency_schema[] = {
    {1, "CREATE TABLE idempotency ("
        " idem_key TEXT PRIMARY KEY,"
        " request_hash TEXT NOT NULL,"
        " status INTEGER NOT NULL,"
        " content_type TEXT NOT NULL,"
        " location TEXT NOT NULL,"
        " body TEXT NOT NULL,"
        " created_at BIGINT NOT NULL);"
        "CREATE INDEX idempotency_created_at ON idempotency (created_at);"},
};
const size_t service_idempotency_schema_len = ARRAY_LEN(service_idempotency_schema);

/* Hex SHA-256 of method, path and body: what "the same request" means. */
static void command_hash(struct http_req *req, char out[65])
{
    size_t len;
    const char *body = http_req_body(req, &len);
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(md, http_req_method(req), strlen(http_req_method(req)) + 1) &&
        EVP_DigestUpdate(md, http_req_path(req), strlen(http_req_path(req)) + 1) &&
        EVP_DigestUpdate(md, body, len) && EVP_DigestFinal_ex(md, digest, &dlen)) {
        for (unsigned i = 0; i < dlen; i++)
            snprintf(out + 2 * i, 3, "%02x", digest[i]);
    } else {
        snprintf(out, 65, "unhashable");
    }
    EVP_MD_CTX_free(md);
}

struct command_stored {
    bool found;
    char hash[65];
    int status;
    char content_type[64];
    char location[256];
    char *body; /* owned */
};

static int command_take_stored(void *ud, const struct store_row *row)
{
    struct command_stored *s = ud;
    s->found = true;
    snprintf(s->hash, sizeof s->hash, "%s", row->cols[0].s);
    s->status = (int)row->cols[1].i;
    snprintf(s->content_type, sizeof s->content_type, "%s", row->cols[2].s);
    snprintf(s->location, sizeof s->location, "%s", row->cols[3].s);
    s->body = mem_strdup(row->cols[4].s);
    return s->body ? 0 : RC_NOMEM;
}

static int command_replay(struct http_req *req, const struct command_stored *s, const char *hash)
{
    if (strcmp(s->hash, hash) != 0)
        return http_fail(req, RC_NOT_IDEMPOTENT,
                         "this Idempotency-Key was used for a different request");
    if (*s->location)
        http_reply_header(req, "Location", s->location);
    http_reply_header(req, "Idempotent-Replayed", "true");
    return http_reply(req, s->status, s->content_type, s->body, strlen(s->body));
}

void service__command_purge(struct store *st)
{
    if (store_exec(st, "DELETE FROM idempotency WHERE created_at < $1",
                   STORE_ARGS(STORE_INT(clock_wall_ms() - COMMAND_RETENTION_MS)), NULL, NULL,
                   NULL) != RC_OK)
        log_warn("cannot forget the Idempotency-Keys past their day: %s", store_error(st));
}

/* One command's journey: its transaction (on the process's command
 * writer, in a group), then its answer waiting for its events to be
 * published. Lives in the request's pool. */
struct command_run {
    struct service_rw rw; /* first: what http_req_state points at */
    service_command_cb fn;
    const char *key; /* Idempotency-Key, or NULL */
    char hash[65];
    struct http_req *req;
    json_t *body;                 /* the request's, borrowed; or <input> */
    json_t *input;                /* owned: service_command_input's, or NULL */
    const char *actor;            /* the caller's user name, or NULL */
    struct trace_ctx trace;       /* the request's span, current while the command runs */
    bool traced;                  /* trace is set */
    struct store_group_unit unit; /* the transaction, when a writer runs it */
    struct store_group *writer;   /* NULL: the loop thread runs it */
    /* what the transaction found or made */
    struct command_stored stored; /* the key's stored answer, when replayed */
    struct service_reply reply;   /* owned body */
    bool key_raced;               /* another process stored the same key first */
    char *text;                   /* the reply's body, in the pool */
    /* the second step, once the transaction committed */
    struct service_then then;   /* its data owned, once back from the call */
    struct service_reply final; /* what recording its outcome answers; owned body */
    /* the answer, once committed */
    uint64_t epoch;
    int status;
    char content_type[64];
    char location[256];
    size_t text_len;
};

static int command_send(struct http_req *req, struct command_run *run)
{
    if (*run->location)
        http_reply_header(req, "Location", run->location);
    return http_reply(req, run->status, run->content_type, run->text, run->text_len);
}

static int command_publish_check(struct http_req *req, void *ud, bool expired)
{
    struct command_run *run = ud;
    struct service_ctx *ctx = http_req_ctx(req);
    struct outbox_relay_status relay;
    outbox_relay_status(ctx->app->relay, &relay);
    if (!expired && relay.publishing && !outbox_relay_published(ctx->app->relay, run->epoch))
        return HTTP_PARKED;
    if (!outbox_relay_published(ctx->app->relay, run->epoch))
        /* Safe in the outbox, but a service that reads the log may not see
         * them yet (a charge, then a buy, may find the points missing). */
        log_write(LOG_WARN, http_req_id(req),
                  json_pack("{s:b, s:s}", "expired", expired, "relay",
                            relay.publishing ? "slow" : relay.error),
                  "answered before its events were on the bus (%s)",
                  expired ? "WEBTOON_PUBLISH_WAIT_MS passed" : "the relay stopped publishing");
    return command_send(req, run);
}

/* Answers once the events the command committed are on the bus, so that
 * whatever the client does next, anywhere, finds them in the log. The wait
 * is bounded, and skipped while the relay cannot publish: the events stay
 * safe in the outbox either way. */
static int command_publish(struct http_req *req, struct command_run *run)
{
    struct service_ctx *ctx = http_req_ctx(req);
    struct outbox_relay *relay = ctx->app ? ctx->app->relay : NULL;
    if (!relay)
        return command_send(req, run);
    run->epoch = outbox_relay_epoch(relay); /* our commit's hook has run */
    struct outbox_relay_status status;
    outbox_relay_status(relay, &status);
    if (!status.publishing || outbox_relay_published(relay, run->epoch))
        return command_send(req, run);
    return http_req_park(req, (int)config_int(ctx->cfg, CONFIG_PUBLISH_WAIT_MS),
                         command_publish_check, run);
}

/* Keeps the committed answer in the request's pool. */
static int command_keep_answer(struct http_req *req, struct command_run *run, const char *text)
{
    const struct service_reply *reply = &run->reply;
    size_t len = strlen(text);
    if (text != run->text) {
        char *copy = http_req_alloc(req, len + 1);
        if (!copy)
            return RC_NOMEM; /* what was kept before stays whole */
        memcpy(copy, text, len);
        run->text = copy;
    }
    run->text_len = len;
    run->status = reply->status;
    snprintf(run->content_type, sizeof run->content_type, "%s",
             reply->content_type ? reply->content_type : "application/hal+json");
    snprintf(run->location, sizeof run->location, "%s", reply->location);
    return RC_OK;
}

/* Forgets what an earlier run of the transaction found or made. */
static void command_reset(struct command_run *run)
{
    json_decref(run->reply.body);
    mem_free(run->reply.then.data);
    run->reply = (struct service_reply){0};
    MEM_FREE_NULL(run->stored.body);
    run->stored = (struct command_stored){0};
    run->text = NULL;
}

/* Stores the answer under the command's key, in its transaction. */
static int command_store_answer(struct store *st, struct command_run *run)
{
    const struct service_reply *reply = &run->reply;
    int rc = store_exec(
        st,
        "INSERT INTO idempotency (idem_key, request_hash, status, content_type,"
        " location, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        STORE_ARGS(STORE_TEXT(run->key), STORE_TEXT(run->hash), STORE_INT(reply->status),
                   STORE_TEXT(reply->content_type ? reply->content_type : "application/hal+json"),
                   STORE_TEXT(reply->location), STORE_TEXT(run->text), STORE_INT(clock_wall_ms())),
        NULL, NULL, NULL);
    if (rc == RC_CONFLICT && !run->key_raced) {
        /* A concurrent request with this key won: run again, to answer as
         * it did. */
        run->key_raced = true;
        return RC_RETRY;
    }
    return rc;
}

/* The command's transaction, inside a transaction of <st> that the caller
 * opens and commits: the stored answer of its key, or its work and its
 * answer stored under its key. Runs on the writer thread (or the loop's),
 * under the request's trace and as its caller; it may run more than once,
 * each time from scratch. */
static int command_tx(struct store *st, void *ud)
{
    struct command_run *run = ud;
    command_reset(run);
    int rc = RC_OK;
    if (run->key) {
        rc = store_exec(st,
                        "SELECT request_hash, status, content_type, location, body"
                        " FROM idempotency WHERE idem_key = $1",
                        STORE_ARGS(STORE_TEXT(run->key)), command_take_stored, &run->stored, NULL);
        if (rc != RC_OK || run->stored.found)
            return rc;
    }
    const struct trace_ctx *was = trace_current(); /* the loop's, when it runs here */
    struct trace_ctx outer = was ? *was : (struct trace_ctx){0};
    trace_set_current(run->traced ? &run->trace : NULL);
    outbox_set_actor(run->actor);
    run->rw.unseen = false;
    rc = run->fn(run->req, st, run->body, &run->reply);
    outbox_set_actor(NULL);
    trace_set_current(was ? &outer : NULL);
    if (rc != RC_OK)
        return rc;
    char *text = jx_dump(run->reply.body);
    if (!text)
        return RC_NOMEM;
    size_t len = strlen(text);
    if ((run->text = http_req_alloc(run->req, len + 1)))
        memcpy(run->text, text, len);
    mem_free(text);
    if (!run->text)
        return RC_NOMEM;
    return run->key ? command_store_answer(st, run) : RC_OK;
}

/* The request is going away: the writer must be done with it first. */
static void command_dispose(void *ud)
{
    struct command_run *run = ud;
    if (run->writer)
        store_group_forget(run->writer, &run->unit);
    command_reset(run);
    json_decref(run->input);
    mem_free(run->then.data);
    json_decref(run->final.body);
}

/* ---- the second step: the call off the loop, its outcome on the writer ---- */

/* The call, handed to an offload thread; owns the step's data until the
 * request takes it back (a request that went away leaves it to cleanup). */
struct command_call {
    struct service_then then;
    bool called; /* the call has an outcome */
};

static void command_call_run(void *ud)
{
    struct command_call *c = ud;
    c->called = c->then.call(c->then.data);
}

static void command_call_free(void *ud)
{
    struct command_call *c = ud;
    mem_free(c->then.data);
    mem_free(c);
}

/* The step ended without a final answer: the provisional one stands (the
 * step's own sweeper finishes it later), never an error after a commit,
 * which would invite a retry of a command that took effect. */
static int command_then_provisional(struct http_req *req, struct command_run *run, const char *why)
{
    log_write(LOG_WARN, http_req_id(req), json_pack("{s:s}", "reason", why),
              "answered a command's provisional result: %s", why);
    return command_publish(req, run);
}

static int command_then_expired(struct http_req *req)
{
    return command_then_provisional(req, http_req_state(req), "its call took too long");
}

/* Records the call's outcome, in a transaction of its own; as the
 * command's transaction, under the request's trace and as its caller. */
static int command_then_tx(struct store *st, void *ud)
{
    struct command_run *run = ud;
    json_decref(run->final.body); /* an earlier attempt's */
    run->final = (struct service_reply){0};
    const struct trace_ctx *was = trace_current();
    struct trace_ctx outer = was ? *was : (struct trace_ctx){0};
    trace_set_current(run->traced ? &run->trace : NULL);
    outbox_set_actor(run->actor);
    int rc = run->then.record(st, run->then.data, &run->final);
    outbox_set_actor(NULL);
    trace_set_current(was ? &outer : NULL);
    return rc;
}

/* The outcome is recorded (or not): the final answer, or the provisional. */
static int command_then_recorded(struct http_req *req, struct command_run *run)
{
    if (run->unit.rc != RC_OK)
        return command_then_provisional(req, run, "its outcome could not be recorded yet");
    char *text = jx_dump(run->final.body);
    if (!text)
        return command_then_provisional(req, run, "out of memory");
    run->reply.status = run->final.status;
    run->reply.content_type = run->final.content_type;
    memcpy(run->reply.location, run->final.location, sizeof run->reply.location);
    int rc = command_keep_answer(req, run, text);
    mem_free(text);
    return rc == RC_OK ? command_publish(req, run)
                       : command_then_provisional(req, run, "out of memory");
}

static int command_then_wait(struct http_req *req, void *ud, bool expired)
{
    struct command_run *run = ud;
    if (!store_group_done(&run->unit)) {
        if (!expired)
            return HTTP_PARKED;
        store_group_forget(run->writer, &run->unit);
    }
    return command_then_recorded(req, run);
}

/* Back on the loop after the call. */
static int command_then_called(struct http_req *req, void *ud)
{
    struct command_call *c = ud;
    struct command_run *run = http_req_state(req);
    run->then = c->then; /* the data is the request's now */
    c->then.data = NULL;
    if (!c->called)
        return command_then_provisional(req, run, "its call had no outcome");
    run->unit.run = command_then_tx;
    if (run->writer) {
        store_group_submit(run->writer, &run->unit);
        return http_req_park(req, COMMAND_WAIT_MS, command_then_wait, run);
    }
    run->unit.rc = store_run_tx(service_store(req), COMMAND_ATTEMPTS, command_then_tx, run);
    return command_then_recorded(req, run);
}

/* After the commit and past its retries, a step that must happen once (a
 * charge) starts, off the loop. */
static int command_then_start(struct http_req *req, struct command_run *run)
{
    struct command_call *c = mem_calloc(1, sizeof *c);
    if (!c)
        return command_then_provisional(req, run, "out of memory");
    c->then = run->reply.then;
    run->reply.then = (struct service_then){0};
    static const struct http_work work = {.run = command_call_run,
                                          .resume = command_then_called,
                                          .cleanup = command_call_free,
                                          .timeout_ms = COMMAND_WAIT_MS,
                                          .expired = command_then_expired,
                                          .inline_when_busy = true};
    return http_req_offload(req, &work, c);
}

/* After the transaction, on the loop thread: the answer. */
static int command_decided(struct http_req *req, struct command_run *run)
{
    int rc = run->unit.rc;
    if (rc == RC_RETRY) {
        /* Every attempt lost a race: 503, and the client may retry. */
        http_reply_header(req, "Retry-After", "1");
        return http_fail(req, rc, "the command kept conflicting with concurrent ones");
    }
    if (rc == RC_OK && run->stored.found)
        return command_replay(req, &run->stored, run->hash);
    if (rc != RC_OK) {
        if (run->rw.unseen && !run->rw.caught_up)
            return service__catch_up(req, &run->rw, rc);
        return rc;
    }
    if ((rc = command_keep_answer(req, run, run->text)) != RC_OK)
        return rc;
    if (run->reply.then.call)
        return command_then_start(req, run);
    return command_publish(req, run);
}

/* The writer is done with a command: its loop decides it now. */
static void command_wake(void *waker) { http_waker_wake(waker); }

static int command_wait(struct http_req *req, void *ud, bool expired)
{
    struct command_run *run = ud;
    if (!store_group_done(&run->unit)) {
        if (!expired)
            return HTTP_PARKED;
        store_group_forget(run->writer, &run->unit); /* unqueued, or waited for */
    }
    return command_decided(req, run);
}

/* Runs the command's transaction: on the process's writer, which groups
 * it with the others waiting (one commit for all), else here. */
static int command_attempt(struct http_req *req, void *ud)
{
    struct command_run *run = ud;
    const struct trace_ctx *trace = trace_current();
    if ((run->traced = trace != NULL))
        run->trace = *trace;
    if (run->writer) {
        store_group_submit(run->writer, &run->unit);
        return http_req_park(req, COMMAND_WAIT_MS, command_wait, run);
    }
    run->unit.rc = store_run_tx(service_store(req), COMMAND_ATTEMPTS, command_tx, run);
    return command_decided(req, run);
}

const char *service_command_key(struct http_req *req)
{
    const struct command_run *run = http_req_state(req);
    return run ? run->key : NULL;
}

/* service_command with <body> (<owned> when it is service_command_input's,
 * then freed with the request, or on failure here). */
static int command_start(struct http_req *req, json_t *body, json_t *owned, service_command_cb fn)
{
    const char *key = http_req_header(req, "Idempotency-Key");
    if (key && !id_is_token(key, strlen(key), COMMAND_KEY_MAX)) {
        json_decref(owned);
        return http_fail(req, RC_INVALID,
                         "Idempotency-Key must be 1 to %d characters of A-Z a-z 0-9 . _ : -",
                         COMMAND_KEY_MAX);
    }
    struct command_run *run = http_req_alloc(req, sizeof *run);
    if (!run) {
        json_decref(owned);
        return RC_NOMEM;
    }
    run->input = owned;
    run->fn = fn;
    run->body = body;
    run->req = req;
    struct service_ctx *ctx = http_req_ctx(req);
    run->writer = ctx->app ? ctx->app->writer : NULL;
    run->unit = (struct store_group_unit){
        .run = command_tx, .ud = run, .on_done = command_wake, .on_done_ud = http_req_waker(req)};
    const struct auth_identity *caller = auth_caller(req);
    run->actor = caller ? caller->user : NULL;
    http_req_on_dispose(req, command_dispose, run);
    if (key) {
        /* Keys are the caller's own: the same key from two users is two
         * commands. (A space is in neither a key nor a user name.) */
        size_t len = (run->actor ? strlen(run->actor) + 1 : 0) + strlen(key) + 1;
        char *scoped = http_req_alloc(req, len);
        if (!scoped)
            return RC_NOMEM;
        snprintf(scoped, len, "%s%s%s", run->actor ? run->actor : "", run->actor ? " " : "", key);
        key = scoped;
    }
    run->key = key;
    if (key)
        command_hash(req, run->hash);
    run->rw.rerun = command_attempt;
    run->rw.rerun_ud = run;
    http_req_set_state(req, run);
    return command_attempt(req, run);
}

int service_command(struct http_req *req, enum service_body want_body, service_command_cb fn)
{
    json_t *body = NULL;
    int rc;
    if (want_body == SERVICE_BODY_JSON && (rc = http_req_json(req, &body)) != RC_OK)
        return rc;
    return command_start(req, body, NULL, fn);
}

int service_command_input(struct http_req *req, json_t *input, service_command_cb fn)
{
    return command_start(req, input, input, fn);
}

int service_reply_record_key(struct store *st, const char *key, const struct service_reply *reply)
{
    char *text = jx_dump(reply->body);
    if (!text)
        return RC_NOMEM;
    int rc = store_exec(
        st,
        "UPDATE idempotency SET status = $2, content_type = $3, location = $4,"
        " body = $5 WHERE idem_key = $1",
        STORE_ARGS(STORE_TEXT(key), STORE_INT(reply->status),
                   STORE_TEXT(reply->content_type ? reply->content_type : "application/hal+json"),
                   STORE_TEXT(reply->location), STORE_TEXT(text)),
        NULL, NULL, NULL);
    mem_free(text);
    return rc;
}
