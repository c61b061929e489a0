/* Transactional, idempotent commands; see command.h. */
#include "core/service/command.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"
#include "core/service/service.h"

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
    char hash[65] = "";
    if (key)
        command_hash(req, hash);

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
                    rc = command_replay(req, &stored, hash);
                goto out;
            }
        }
        if ((rc = fn(req, st, body, &reply)) != RC_OK) {
            store_rollback(st);
            if (rc == RC_RETRY)
                continue;
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
                            STORE_ARGS(STORE_TEXT(key), STORE_TEXT(hash), STORE_INT(reply.status),
                                       STORE_TEXT(content_type), STORE_TEXT(reply.location),
                                       STORE_TEXT(text), STORE_INT(clock_wall_ms())),
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
        if (*reply.location)
            http_reply_header(req, "Location", reply.location);
        rc = http_reply(req, reply.status, content_type, text, strlen(text));
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
