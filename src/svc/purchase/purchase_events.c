/*
 * Policies of the purchase service: every purchase reaches a final state.
 *   AccessGranted          → approved (points taken, episode readable)
 *   CheckRejected          → rejected, nothing taken        → BuyFailed
 *   PurchaseCancelComplete → cancelled                       → CancelComplete (points back)
 *   PurchaseCancelFailed   → approved again, with the reason → CancelFailed
 *   OpenApproved           → remembers the episode was read
 * plus its copies of the catalog (Uploaded, Updated) and users.
 */
#include <string.h>

#include "core/base/rc.h"
#include "domain/saga.h"
#include "domain/users.h"
#include "core/inbox/inbox.h"
#include "core/json/jx.h"
#include "core/outbox/outbox.h"
#include "svc/purchase/purchase.h"

int purchase_emit(struct store *st, const struct purchase_record *p, const char *type,
                  const char *reason)
{
    json_t *fields =
        json_pack("{s:s, s:s, s:s, s:I, s:s}", "purchaseId", p->purchase_id, "userId", p->user_id,
                  "webtoonId", p->webtoon_id, "point", (json_int_t)p->point, "status", p->status);
    if (fields && p->my_point >= 0)
        json_object_set_new(fields, "myPoint", json_integer(p->my_point));
    if (fields && *p->cancel_id)
        json_object_set_new(fields, "cancelId", json_string(p->cancel_id));
    if (fields && reason)
        json_object_set_new(fields, "reason", json_string(reason));
    return outbox_emit(st, p->user_id, type, fields);
}

/* Applies <step> to the purchase named in <payload>. <out> receives the
 * purchase after the move; *<moved> false when the step did not apply. */
static int purchase_step_event(struct store *st, const json_t *payload, enum purchase_step step,
                               struct purchase_record *out, bool *moved)
{
    *moved = false;
    struct jx_reader r;
    jx_reader_init(&r, payload);
    const char *id = jx_str(&r, "purchaseId", JX_REQUIRED, 64);
    int64_t my_point = jx_int(&r, "myPoint", JX_OPTIONAL, 0, INT64_MAX);
    bool has_my_point = jx_has(&r, "myPoint");
    const char *reason = jx_str(&r, "reason", JX_OPTIONAL, 120);
    if (r.rc)
        return inbox_reject(RC_BAD_EVENT, "%s", r.detail);
    int rc = purchase_store_get(st, id, out);
    if (rc != RC_OK || !out->found)
        return rc;
    const char *next = purchase_next(out->status, step);
    if (!next)
        return RC_OK; /* already moved on: nothing to do */
    bool is_cancel_step = step == PURCHASE_CANCEL_OK || step == PURCHASE_CANCEL_REFUSED;
    /* Only the answer to the cancel attempt under way counts: one that
     * passed its deadline was already ended. */
    const char *cancel = json_string_value(json_object_get(payload, "cancelId"));
    if (is_cancel_step && (!cancel || strcmp(cancel, out->cancel_id) != 0))
        return RC_OK;
    rc = purchase_store_transition(st, id, out->status, next, has_my_point ? &my_point : NULL,
                                   is_cancel_step ? NULL : reason,
                                   step == PURCHASE_CANCEL_REFUSED ? reason : NULL, moved);
    if (rc != RC_OK || !*moved)
        return rc;
    return purchase_store_get(st, id, out);
}

static int purchase_on_access_granted(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct purchase_record p;
    bool moved;
    int rc = purchase_step_event(st, payload, PURCHASE_POINTS_TAKEN, &p, &moved);
    if (rc == RC_OK && moved)
        domain_saga_ended(st, "purchase", "approved", "none", p.created_at);
    return rc;
}

static int purchase_on_check_rejected(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct purchase_record p;
    bool moved;
    int rc = purchase_step_event(st, payload, PURCHASE_POINTS_REFUSED, &p, &moved);
    if (rc != RC_OK || !moved)
        return rc;
    domain_saga_ended(st, "purchase", "rejected", domain_saga_reason(p.reason), p.created_at);
    return purchase_emit(st, &p, EV_BUY_FAILED, p.reason);
}

static int purchase_on_cancel_complete(void *ctx, struct store *st, const struct bus_event *ev,
                                       const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct purchase_record p;
    bool moved;
    int rc = purchase_step_event(st, payload, PURCHASE_CANCEL_OK, &p, &moved);
    if (rc != RC_OK || !moved)
        return rc;
    domain_saga_ended(st, "cancel", "cancelled", "none", p.cancel_requested_at);
    return purchase_emit(st, &p, EV_CANCEL_COMPLETE, NULL);
}

static int purchase_on_cancel_failed(void *ctx, struct store *st, const struct bus_event *ev,
                                     const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct purchase_record p;
    bool moved;
    int rc = purchase_step_event(st, payload, PURCHASE_CANCEL_REFUSED, &p, &moved);
    if (rc != RC_OK || !moved)
        return rc;
    domain_saga_ended(st, "cancel", "refused", domain_saga_reason(p.cancel_error),
                      p.cancel_requested_at);
    /* The usual refusal: the episode was read meanwhile. */
    if (json_is_true(json_object_get(payload, "read")) &&
        (rc = purchase_store_mark_read(st, p.purchase_id)) != RC_OK)
        return rc;
    return purchase_emit(st, &p, EV_CANCEL_FAILED, p.cancel_error);
}

static int purchase_on_open_approved(void *ctx, struct store *st, const struct bus_event *ev,
                                     const json_t *payload)
{
    (void)ctx;
    (void)ev;
    const char *id = json_string_value(json_object_get(payload, "purchaseId"));
    return id ? purchase_store_mark_read(st, id) : RC_OK; /* free episodes have none */
}

static int purchase_on_catalog(void *ctx, struct store *st, const struct bus_event *ev,
                               const json_t *payload)
{
    (void)ctx;
    struct jx_reader r;
    jx_reader_init(&r, payload);
    const char *webtoon = jx_str(&r, "webtoonId", JX_REQUIRED, DOMAIN_ID_MAX);
    int64_t point = jx_int(&r, "point", JX_REQUIRED, 0, INT64_MAX);
    const char *status = jx_str(&r, "status", JX_REQUIRED, 16);
    if (r.rc)
        return inbox_reject(RC_BAD_EVENT, "%s", r.detail);
    return purchase_store_catalog_put(st, webtoon, point, status, ev->offset);
}

const struct inbox_handler purchase_handlers[] = {
    {EV_JOINED, domain_users_on_joined},
    {EV_WITHDRAWN, domain_users_on_withdrawn},
    {EV_UPLOADED, purchase_on_catalog},
    {EV_UPDATED, purchase_on_catalog},
    {EV_ACCESS_GRANTED, purchase_on_access_granted},
    {EV_CHECK_REJECTED, purchase_on_check_rejected},
    {EV_PURCHASE_CANCEL_COMPLETE, purchase_on_cancel_complete},
    {EV_PURCHASE_CANCEL_FAILED, purchase_on_cancel_failed},
    {EV_OPEN_APPROVED, purchase_on_open_approved},
    {0},
};
