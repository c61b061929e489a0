/*
 * The history service: read models only (CQRS). From events alone it keeps
 * a summary per user (status, myPoint) and a timeline of payments,
 * purchases, cancellations, refunds and reads. It never decides anything
 * and can be rebuilt by replaying the log (`webtoon history rebuild`).
 *
 * Files: history.c (which event changes what, pure), history_store.c (SQL),
 * history_api.c (routes), history_events.c (the one event handler).
 */
#ifndef WEBTOON_SVC_HISTORY_H
#define WEBTOON_SVC_HISTORY_H

#include <jansson.h>
#include <stdbool.h>

#include "domain/events.h"
#include "domain/listing.h"
#include "core/hal/hal.h"
#include "core/service/service.h"

extern const struct service_def history_service;

/* --- what each event changes (history.c) ------------------------------------ */

/* The effect of one event type on the view. */
struct history_change {
    const char *event_type;
    const char *kind;          /* timeline entry kind, or NULL: no entry */
    const char *ref_field;     /* payload field naming the entry (paymentId,
                                 * purchaseId); NULL: every event is a new entry */
    const char *status;        /* the entry's status after the event */
    const char *user_status;   /* summary status to set (joined, withdrawn), or NULL */
    const char *balance_field; /* payload field holding the new balance, or NULL */
};

/* The change for <event_type>, or NULL when the view ignores it. */
const struct history_change *history_change_for(const char *event_type);
/* Every change, zero-terminated (the consumed event types). */
extern const struct history_change history_changes[];

/* The fields of an event the view may use, read once from its payload. */
struct history_fields {
    const char *user;
    const char *ref;     /* the entry's payment or purchase id, or NULL */
    const char *webtoon; /* or NULL */
    const char *reason;  /* or NULL */
    const char *actor;   /* the user whose command led to the event, or NULL:
                          * unknown (older events) or nobody (a sweeper) */
    bool has_point, has_price, has_balance;
    int64_t point, price, balance;
};

/* Reads what <c> needs from <payload>; RC_BAD_EVENT when it is unusable.
 * The strings in <f> are borrowed from <payload>. */
int history_read_fields(const struct history_change *c, const json_t *payload,
                        struct history_fields *f /* OUT */);

/* --- the view: in the service's store, or in Redis ------------------------------ */

/*
 * Where the view lives. Queries build the API's JSON: summaries() a
 * collection (of one user when <user> is not NULL), summary() one user's
 * summary (*out NULL when unknown), timeline() a page of entries, newest
 * first. apply() is called inside the inbox transaction on <st>.
 */
struct history_view_ops {
    int (*apply)(struct service_ctx *ctx, struct store *st, const struct history_change *c,
                 const struct bus_event *ev, const struct history_fields *f);
    int (*summaries)(struct service_ctx *ctx, const char *user, const struct hal_page *page,
                     json_t **out);
    int (*summary)(struct service_ctx *ctx, const char *user, json_t **out);
    int (*timeline)(struct service_ctx *ctx, const char *user, const struct hal_page *page,
                    json_t **out);
    /* Empties the view (and, in the store, the inbox) for a rebuild. */
    int (*clear)(struct service_ctx *ctx);
};

/* The view in the history service's own store (history_store.c). */
extern const struct history_view_ops history_store_view;
extern const struct service_schema history_schemas[];
/* The view in Redis (history_redis.c), shared by every replica. */
extern const struct history_view_ops history_redis_view;

/* The view of <ctx>: Redis when WEBTOON_HISTORY_REDIS_URL is set. */
const struct history_view_ops *history_view(const struct service_ctx *ctx);

/* service_def hooks opening, closing and checking a thread's Redis
 * connection when one is configured. */
int history_redis_open(struct service_ctx *ctx);
void history_redis_close(struct service_ctx *ctx);
bool history_redis_is_ready(struct service_ctx *ctx);

/* --- events and rebuild (history_events.c) ----------------------------------- */

extern const struct inbox_handler history_handlers[];

/* `webtoon history rebuild`: with the history service stopped, drops the
 * view and replays the whole log into it. Returns an exit status. */
int history_rebuild(const struct config *cfg);

#endif
