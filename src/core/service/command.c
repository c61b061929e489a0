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
#include "core/outbox/outbox.h"
#include "core/service/service_internal.h"

#define COMMAND_KEY_MAX 64
#define COMMAND_RETENTION_MS (24LL * 3600 * 1000) /* keys are honoured for a day */
#define COMMAND_PURGE_EVERY_MS 60000
#define COMMAND_ATTEMPTS 10 /* runs of a command that keeps losing races (RC_RETRY) */

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

/* Deletes keys past their retention, at most once a minute per thread. */
static void command_purge(struct store *st)
{
    static _Thread_local int64_t next_purge;
    int64_t now = clock_mono_ms();
    if (now < next_purge)
        return;
    next_purge = now + COMMAND_PURGE_EVERY_MS;
    (void)store_exec(st, "DELETE FROM idempotency WHERE created_at < $1",
                     STORE_ARGS(STORE_INT(clock_wall_ms() - COMMAND_RETENTION_MS)), NULL, NULL,
                     NULL);
}

/* One command's journey: its attempts, then its answer waiting for its
 * events to be published. Lives in the request's pool. */
struct command_run {
    struct service_rw rw; /* first: what http_req_state points at */
    service_command_cb fn;
    enum service_body want_body;
    const char *key; /* Idempotency-Key, or NULL */
    char hash[65];
    /* the answer, once committed */
    uint64_t epoch;
    int status;
    char content_type[64];
    char location[256];
    char *text; /* in the pool */
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
static int command_keep_answer(struct http_req *req, struct command_run *run,
                               const struct service_reply *reply, const char *text)
{
    run->status = reply->status;
    snprintf(run->content_type, sizeof run->content_type, "%s",
             reply->content_type ? reply->content_type : "application/hal+json");
    snprintf(run->location, sizeof run->location, "%s", reply->location);
    run->text_len = strlen(text);
    if (!(run->text = http_req_alloc(req, run->text_len + 1)))
        return RC_NOMEM;
    memcpy(run->text, text, run->text_len);
    return RC_OK;
}

/* One run of the command from the start: its transaction, retried while it
 * loses races (RC_RETRY), then its second step if it has one. */
static int command_attempt(struct http_req *req, void *ud)
{
    struct command_run *run = ud;
    json_t *body = NULL;
    int rc;
    if (run->want_body == SERVICE_BODY_JSON && (rc = http_req_json(req, &body)) != RC_OK)
        return rc;
    const char *key = run->key;
    struct store *st = service_store(req);
    struct service_reply reply = {0};
    struct command_stored stored = {0};
    char *text = NULL;
    bool key_raced = false;
    for (int attempt = 0; attempt < COMMAND_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            /* RC_RETRY: a concurrent transaction won (PostgreSQL). Start
             * over after a short, jittered pause. */
            json_decref(reply.body);
            MEM_FREE_NULL(text);
            reply = (struct service_reply){0};
            clock_sleep_ms(attempt + clock_mono_us() % (2 * attempt + 1));
        }
        run->rw.unseen = false;
        if ((rc = store_begin(st)) != RC_OK) {
            if (rc == RC_RETRY)
                continue;
            goto out;
        }
        if (key) {
            rc = store_exec(st,
                            "SELECT request_hash, status, content_type, location, body"
                            " FROM idempotency WHERE idem_key = $1",
                            STORE_ARGS(STORE_TEXT(key)), command_take_stored, &stored, NULL);
            if (rc != RC_OK || stored.found) {
                store_rollback(st);
                if (rc == RC_RETRY)
                    continue;
                if (rc == RC_OK)
                    rc = command_replay(req, &stored, run->hash);
                goto out;
            }
        }
        const struct auth_identity *caller = auth_caller(req);
        outbox_set_actor(caller ? caller->user : NULL);
        rc = run->fn(req, st, body, &reply);
        outbox_set_actor(NULL);
        if (rc != RC_OK) {
            store_rollback(st);
            if (rc == RC_RETRY)
                continue;
            if (run->rw.unseen && !run->rw.caught_up)
                rc = service__catch_up(req, &run->rw, rc);
            goto out;
        }
        const char *content_type = reply.content_type ? reply.content_type : "application/hal+json";
        if (!(text = jx_dump(reply.body))) {
            rc = RC_NOMEM;
            goto rollback;
        }
        if (key) {
            rc = store_exec(st,
                            "INSERT INTO idempotency (idem_key, request_hash, status, content_type,"
                            " location, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            STORE_ARGS(STORE_TEXT(key), STORE_TEXT(run->hash),
                                       STORE_INT(reply.status), STORE_TEXT(content_type),
                                       STORE_TEXT(reply.location), STORE_TEXT(text),
                                       STORE_INT(clock_wall_ms())),
                            NULL, NULL, NULL);
            if ((rc == RC_CONFLICT && !key_raced) || rc == RC_RETRY) {
                /* A concurrent request with this key won: answer as it did. */
                key_raced |= rc == RC_CONFLICT;
                store_rollback(st);
                continue;
            }
            if (rc != RC_OK)
                goto rollback;
        }
        if ((rc = store_commit(st)) != RC_OK) {
            if (rc == RC_RETRY)
                continue;
            goto out;
        }
        if (key)
            command_purge(st);
        if (reply.then) {
            /* Outside any transaction and past the retries: a step that
             * must happen once (a charge) happens once. */
            outbox_set_actor(caller ? caller->user : NULL);
            rc = reply.then(req, st, reply.then_ud, &reply);
            outbox_set_actor(NULL);
            if (rc != RC_OK)
                goto out;
            MEM_FREE_NULL(text);
            if (!(text = jx_dump(reply.body))) {
                rc = RC_NOMEM;
                goto out;
            }
        }
        if ((rc = command_keep_answer(req, run, &reply, text)) == RC_OK)
            rc = command_publish(req, run);
        goto out;
    }
    /* Every attempt lost a race (RC_RETRY): 503, and the client may retry. */
    http_reply_header(req, "Retry-After", "1");
    goto out;
rollback:
    store_rollback(st);
out:
    json_decref(reply.body);
    mem_free(stored.body);
    mem_free(text);
    return rc;
}

const char *service_command_key(struct http_req *req)
{
    const struct command_run *run = http_req_state(req);
    return run ? run->key : NULL;
}

int service_command(struct http_req *req, enum service_body want_body, service_command_cb fn)
{
    json_t *body = NULL;
    int rc;
    if (want_body == SERVICE_BODY_JSON && (rc = http_req_json(req, &body)) != RC_OK)
        return rc;
    const char *key = http_req_header(req, "Idempotency-Key");
    if (key && !id_is_token(key, strlen(key), COMMAND_KEY_MAX))
        return http_fail(req, RC_INVALID,
                         "Idempotency-Key must be 1 to %d characters of A-Z a-z 0-9 . _ : -",
                         COMMAND_KEY_MAX);
    struct command_run *run = http_req_alloc(req, sizeof *run);
    if (!run)
        return RC_NOMEM;
    run->fn = fn;
    run->want_body = want_body;
    if (key) {
        /* Keys are the caller's own: the same key from two users is two
         * commands. (A space is in neither a key nor a user name.) */
        const struct auth_identity *caller = auth_caller(req);
        size_t len = (caller ? strlen(caller->user) + 1 : 0) + strlen(key) + 1;
        char *scoped = http_req_alloc(req, len);
        if (!scoped)
            return RC_NOMEM;
        snprintf(scoped, len, "%s%s%s", caller ? caller->user : "", caller ? " " : "", key);
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
