/*
 * Domain commands over HTTP: one transaction per command, and the
 * Idempotency-Key header honoured on every command.
 *
 * service_command() opens a write transaction, replays the stored response
 * when the request's Idempotency-Key was seen before (same method, path and
 * body; a different request with the same key is 422), else runs the
 * command, stores its response under the key in the same transaction, and
 * commits. So a client retrying after a timeout gets the first answer and
 * the command takes effect once. A command that fails with an error code is
 * rolled back and not stored: the client may fix the request and retry with
 * the same key. A transaction refused because a concurrent one won
 * (RC_RETRY: PostgreSQL's serialization failures and deadlocks) is run
 * again from the start, a few times, before the client gets a 503.
 */
#ifndef WEBTOON_SERVICE_COMMAND_H
#define WEBTOON_SERVICE_COMMAND_H

#include <jansson.h>

#include "core/http/http.h"
#include "core/store/store.h"

/* The Idempotency-Key table; every service database applies it as
 * component "idempotency". */
extern const struct store_migration service_idempotency_schema[];
extern const size_t service_idempotency_schema_len;

struct service_reply;

/* A second step of a command, after its transaction committed and outside
 * it (e.g. calling a payment provider, then recording the outcome). The
 * command's answer until then is provisional: it is what the client gets
 * when the step has no outcome, takes too long, or cannot be recorded. */
struct service_then {
    /* Off the event loop (an offload thread; the loop itself only when no
     * thread can take it): the call, once. True when it has an outcome to
     * record. */
    bool (*call)(void *data);
    /* In a transaction of its own on the command writer (retried as
     * transactions are): records the outcome in <st> and puts the final
     * answer in <reply>, recording it for the request's Idempotency-Key
     * with service_reply_record_key. */
    int (*record)(struct store *st, void *data, struct service_reply *reply);
    void *data; /* mem_alloc'd; the command frees it with mem_free */
};

/* What a command answers when it succeeds (or fails but was recorded, e.g.
 * a declined payment). */
struct service_reply {
    int status;               /* 200, 201, 202, 402… */
    json_t *body;             /* owned; sent as JSON */
    const char *content_type; /* NULL: application/hal+json */
    char location[256];       /* Location header when not empty */
    struct service_then then; /* optional second step; <body> is then provisional */
};

enum service_body { SERVICE_BODY_NONE, SERVICE_BODY_JSON };

/* Runs inside the open transaction of <st>. <body> is the parsed request
 * object (borrowed) or NULL. Returns RC_OK after filling <reply>, or an
 * error code (usually through http_fail) to roll back. */
typedef int (*service_command_cb)(struct http_req *req, struct store *st, const json_t *body,
                                  struct service_reply *reply);

/* Runs <fn> as an idempotent command of <req>; see above. */
int service_command(struct http_req *req, enum service_body body, service_command_cb fn);
/* The same with <input> (stolen on every path) as the body <fn> sees: for a
 * command whose request body was turned into something else first (an
 * image upload into the record of its stored variants). The
 * Idempotency-Key still compares the request's own body. */
int service_command_input(struct http_req *req, json_t *input, service_command_cb fn);

/* Inside a command: the Idempotency-Key it is recorded under (the
 * caller's user name and the client's key), or NULL without one. */
const char *service_command_key(struct http_req *req);

/* Inside the open transaction of <st>: replaces the stored answer of
 * Idempotency-Key <key> (a provisional one) with <reply>; used by second
 * steps and by a sweeper finishing a command whose process died. */
int service_reply_record_key(struct store *st, const char *key, const struct service_reply *reply);

#endif
