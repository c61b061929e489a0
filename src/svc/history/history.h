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

#include "core/domain/events.h"
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

/* --- storage (history_store.c) --------------------------------------------- */

extern const struct service_schema history_schemas[];

/* Applies <c> for <ev>/<payload> to the view inside the open transaction. */
int history_store_apply(struct store *st, const struct history_change *c,
                        const struct bus_event *ev, const json_t *payload);
/* Empties the view (summaries, timeline) and the inbox, for a rebuild. */
int history_store_clear(struct store *st);

json_t *history_summary_item(const struct store_row *row);
json_t *history_entry_item(const struct store_row *row);
#define HISTORY_SUMMARY_COLUMNS "user_id, status, my_point"
#define HISTORY_ENTRY_COLUMNS                                                                      \
    "entry_id, kind, ref_id, webtoon_id, point, price, status, reason, occurred_at, updated_at"

/* --- events and rebuild (history_events.c) ----------------------------------- */

extern const struct inbox_handler history_handlers[];

/* `webtoon history rebuild`: with the history service stopped, drops the
 * view and replays the whole log into it. Returns an exit status. */
int history_rebuild(const struct config *cfg);

#endif
