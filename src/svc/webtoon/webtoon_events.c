/*
 * Policies of the webtoon service: ownership follows the points.
 *   CheckCorrected  (points taken for a purchase) → the buyer owns the episode
 *                                                    → AccessGranted
 *   CancelRequested → not read yet? revoke it → PurchaseCancelComplete
 *                     already read?             → PurchaseCancelFailed
 * Opens and revocations happen in this one database, so an episode is
 * either read or cancelled, never both. It also keeps its user view.
 */
#include <string.h>

#include "core/base/rc.h"
#include "core/domain/users.h"
#include "core/json/jx.h"
#include "core/outbox/outbox.h"
#include "svc/webtoon/webtoon.h"

int webtoon_emit_item(struct store *st, const struct webtoon_item *w, const char *type)
{
    json_t *fields =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "webtoonId", w->webtoon_id, "title", w->title,
                  "author", w->author, "point", (json_int_t)w->point, "episode",
                  (json_int_t)w->episode, "status", w->status);
    /* Catalog events are keyed by webtoon: one episode's updates stay in order. */
    int rc = fields ? outbox_add(st, w->webtoon_id, type, fields, NULL) : RC_NOMEM;
    json_decref(fields);
    return rc;
}

struct webtoon_purchase_ref {
    const char *purchase;
    const char *user;
    const char *webtoon;
};

static int webtoon_read_purchase(const json_t *payload, struct webtoon_purchase_ref *p)
{
    struct jx_reader r;
    jx_reader_init(&r, payload);
    p->purchase = jx_str(&r, "purchaseId", JX_REQUIRED, 64);
    p->user = jx_str(&r, "userId", JX_REQUIRED, DOMAIN_ID_MAX);
    p->webtoon = jx_str(&r, "webtoonId", JX_REQUIRED, DOMAIN_ID_MAX);
    return r.rc ? RC_BAD_EVENT : RC_OK;
}

static int webtoon_on_check_corrected(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct webtoon_purchase_ref p;
    int rc = webtoon_read_purchase(payload, &p);
    if (rc == RC_OK)
        rc = webtoon_store_grant(st, p.user, p.webtoon, p.purchase);
    if (rc != RC_OK)
        return rc;
    /* The purchase is approved only now, so "approved" means "readable". */
    json_t *fields = json_deep_copy(payload);
    if (fields) {
        json_object_del(fields, "eventType");
        json_object_del(fields, "eventId");
        json_object_del(fields, "timestamp");
    }
    rc = fields ? outbox_add(st, p.user, EV_ACCESS_GRANTED, fields, NULL) : RC_NOMEM;
    json_decref(fields);
    return rc;
}

static int webtoon_on_cancel_requested(void *ctx, struct store *st, const struct bus_event *ev,
                                       const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct webtoon_purchase_ref p;
    struct webtoon_ownership own;
    int rc = webtoon_read_purchase(payload, &p);
    if (rc == RC_OK)
        rc = webtoon_store_ownership(st, p.user, p.webtoon, &own);
    if (rc != RC_OK)
        return rc;
    const char *refusal = !own.found || strcmp(own.purchase_id, p.purchase) != 0
                              ? "the purchase does not own the episode"
                          : own.read ? "the episode was already read"
                                     : NULL;
    if (!refusal && (rc = webtoon_store_revoke(st, p.user, p.webtoon)) != RC_OK)
        return rc;
    json_t *fields = json_pack("{s:s, s:s, s:s, s:b}", "purchaseId", p.purchase, "userId", p.user,
                               "webtoonId", p.webtoon, "read", own.found && own.read);
    if (fields && refusal)
        json_object_set_new(fields, "reason", json_string(refusal));
    rc = fields ? outbox_add(st, p.user,
                             refusal ? EV_PURCHASE_CANCEL_FAILED : EV_PURCHASE_CANCEL_COMPLETE,
                             fields, NULL)
                : RC_NOMEM;
    json_decref(fields);
    return rc;
}

const struct inbox_handler webtoon_handlers[] = {
    {EV_JOINED, domain_users_on_joined},
    {EV_WITHDRAWN, domain_users_on_withdrawn},
    {EV_CHECK_CORRECTED, webtoon_on_check_corrected},
    {EV_CANCEL_REQUESTED, webtoon_on_cancel_requested},
    {0},
};
