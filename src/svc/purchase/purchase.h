/*
 * The purchase service: buying and cancelling webtoon episodes with points.
 * A purchase starts pending and ends approved or rejected by the pointer
 * service's decision (it owns the balance); approval waits until the
 * webtoon service has granted the episode, so an approved purchase can be
 * read at once; a cancel of an approved, unread
 * purchase is confirmed by the webtoon service (it knows reads) and then the
 * points come back. Prices come from this service's own copy of the
 * catalog, never from the client.
 *
 * Files: purchase.c (state machine, pure), purchase_store.c (SQL),
 * purchase_api.c (routes), purchase_events.c (policies).
 */
#ifndef WEBTOON_SVC_PURCHASE_H
#define WEBTOON_SVC_PURCHASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "domain/events.h"
#include "core/hal/hal.h"
#include "core/service/service.h"

extern const struct service_def purchase_service;

/* --- state machine (purchase.c) -------------------------------------------- */

/* The statuses a purchase moves through, NULL-terminated. */
extern const char *const purchase_statuses[];

enum purchase_step {
    PURCHASE_POINTS_TAKEN,   /* AccessGranted: points taken and episode granted */
    PURCHASE_POINTS_REFUSED, /* CheckRejected */
    PURCHASE_CANCEL,         /* the cancel command */
    PURCHASE_CANCEL_OK,      /* PurchaseCancelComplete */
    PURCHASE_CANCEL_REFUSED, /* PurchaseCancelFailed */
    PURCHASE_DEADLINE,       /* the sweeper: no answer in time */
    PURCHASE_STEPS,          /* not a step: how many there are */
};

/* The status after <step> from <status>, or NULL when <step> does not apply
 * there (a late or repeated event, or a command in the wrong state). */
const char *purchase_next(const char *status, enum purchase_step step);

/* --- storage (purchase_store.c) -------------------------------------------- */

extern const struct service_schema purchase_schemas[];

struct purchase_record {
    bool found;
    char purchase_id[40];
    char user_id[DOMAIN_ID_MAX + 1];
    char webtoon_id[DOMAIN_ID_MAX + 1];
    int64_t point;    /* price paid */
    int64_t my_point; /* balance right after; -1 unknown */
    char status[16];
    char reason[128];
    char cancel_error[128];
    bool read;
    int64_t created_at;
    char cancel_id[40];          /* the current or last cancel attempt; "" none */
    int64_t cancel_requested_at; /* wall ms; 0 none */
};

struct purchase_catalog_entry {
    bool found;
    int64_t point;
    bool published;
};

int purchase_store_get(struct store *st, const char *id, struct purchase_record *out /* OUT */);
/* Inserts a pending purchase; RC_CONFLICT when the user already has an
 * active (pending, approved or cancelling) purchase of that episode. */
int purchase_store_insert(struct store *st, const struct purchase_record *p);
/* Moves <id> from <from> to <to> with optional details (NULL keeps them);
 * <changed> false when it was not in <from>. */
int purchase_store_transition(struct store *st, const char *id, const char *from, const char *to,
                              const int64_t *my_point, const char *reason, const char *cancel_error,
                              bool *changed /* OUT */);
int purchase_store_mark_read(struct store *st, const char *id);
/* approved → cancelling with a new cancel attempt <cancel_id>. */
int purchase_store_start_cancel(struct store *st, const char *id, const char *cancel_id,
                                bool *changed /* OUT */);
/* Ids of purchases in <status> whose time (created_at, or
 * cancel_requested_at for cancelling) is before <before>: at most <max>. */
int purchase_store_due(struct store *st, const char *status, int64_t before, char (*ids)[40],
                       size_t max, size_t *n /* OUT */);
/* How many purchases are in <status> (<all>), and how many of them since
 * before <before> (created_at, or cancel_requested_at for cancelling). */
int purchase_store_count(struct store *st, const char *status, int64_t before,
                         int64_t *all /* OUT */, int64_t *overdue /* OUT */);
int purchase_store_catalog_get(struct store *st, const char *webtoon,
                               struct purchase_catalog_entry *out /* OUT */);
/* Sets the catalog entry of <webtoon> from the event at <offset>, unless
 * a later event set it already. */
int purchase_store_catalog_put(struct store *st, const char *webtoon, int64_t point,
                               const char *status, int64_t offset);

json_t *purchase_json(const struct purchase_record *p);
json_t *purchase_item(const struct store_row *row);
#define PURCHASE_COLUMNS                                                                           \
    "purchase_id, user_id, webtoon_id, point, my_point, status, reason, cancel_error, is_read,"    \
    " created_at, cancel_id, cancel_requested_at"

/* --- event policies (purchase_events.c) ------------------------------------ */

extern const struct inbox_handler purchase_handlers[];

/* Emits <type> for <p>, with <reason> when not NULL. */
int purchase_emit(struct store *st, const struct purchase_record *p, const char *type,
                  const char *reason);

/* --- deadlines (purchase_sweep.c) ------------------------------------------ */

/* Ends purchases pending past WEBTOON_PURCHASE_DEADLINE_MS (rejected; any
 * points taken come back) and cancellations unconfirmed past
 * WEBTOON_CANCEL_DEADLINE_MS (approved again; the episode stays owned). */
void purchase_sweep(struct service_ctx *ctx, struct store *st);

#endif
