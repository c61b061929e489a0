/*
 * Policies of the webtoon service: ownership follows the points.
 *   CheckCorrected  (points taken for a purchase) → the buyer owns the episode
 *                                                    → AccessGranted
 *   CancelRequested → not read yet? revoke it → PurchaseCancelComplete
 *                     already read?             → PurchaseCancelFailed
 *   BuyFailed       (a purchase that timed out) → an episode it granted is revoked
 *   CancelFailed    (a cancel that timed out)   → an episode it revoked is granted again
 * Opens and revocations happen in this one database, so an episode is
 * either read or cancelled, never both. Each decision is recorded under the
 * purchase or cancel it is about (table effects): replayed events grant,
 * revoke or answer nothing twice, and a purchase closed before its
 * CheckCorrected arrived is never granted. It also keeps its user view.
 */
#include <string.h>

#include "core/base/rc.h"
#include "domain/users.h"
#include "core/inbox/inbox.h"
#include "core/json/jx.h"
#include "core/outbox/outbox.h"
#include "svc/webtoon/webtoon.h"

int webtoon_emit(struct store *st, const char *key, const char *type, json_t *fields)
{
    return outbox_emit(st, key, type, fields);
}

int webtoon_emit_item(struct store *st, const struct webtoon_item *w, const char *type)
{
    json_t *fields =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:o}", "webtoonId", w->webtoon_id, "title",
                  w->title, "author", w->author, "point", (json_int_t)w->point, "episode",
                  (json_int_t)w->episode, "status", w->status, "seriesId", w->series_id, "freeFrom",
                  w->free_from >= 0 ? webtoon_time_json(w->free_from) : json_null());
    /* Catalog events are keyed by webtoon: one episode's updates stay in order. */
    return webtoon_emit(st, w->webtoon_id, type, fields);
}

int webtoon_emit_series(struct store *st, const struct webtoon_series *s, const char *type)
{
    json_t *fields = webtoon_series_json(s);
    if (fields) {
        /* The series' own fields: counts read from its episodes change
         * with their events, not with these. */
        static const char *const derived[] = {"_links", "episodes", "freeEpisodes",
                                              "latestEpisodeAt", "popularity"};
        for (size_t i = 0; i < sizeof derived / sizeof derived[0]; i++)
            json_object_del(fields, derived[i]);
    }
    return webtoon_emit(st, s->series_id, type, fields);
}

int webtoon_emit_pages(struct store *st, const char *webtoon, int64_t pages)
{
    return webtoon_emit(st, webtoon, EV_PAGES_CHANGED,
                        json_pack("{s:s, s:I}", "webtoonId", webtoon, "pages", (json_int_t)pages));
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
    return r.rc ? inbox_reject(RC_BAD_EVENT, "%s", r.detail) : RC_OK;
}

static int webtoon_on_check_corrected(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct webtoon_purchase_ref p;
    char closed[16];
    int rc = webtoon_read_purchase(payload, &p);
    if (rc == RC_OK)
        rc = domain_effect_get(st, "closed", p.purchase, closed, sizeof closed);
    if (rc == RC_OK && *closed)
        return RC_ALREADY_APPLIED; /* the purchase ended before its points arrived */
    if (rc == RC_OK)
        rc = domain_effect_decide(st, "grant", p.purchase, "granted");
    if (rc == RC_OK)
        rc = webtoon_store_grant(st, p.user, p.webtoon, p.purchase);
    struct webtoon_item w;
    if (rc == RC_OK)
        rc = webtoon_store_get(st, p.webtoon, &w);
    /* A purchase counts in its series' popularity. */
    if (rc == RC_OK && w.found)
        rc = webtoon_store_count_popularity(st, w.series_id);
    if (rc != RC_OK)
        return rc;
    /* The purchase is approved only now, so "approved" means "readable". */
    json_t *fields = json_deep_copy(payload);
    if (fields) {
        json_object_del(fields, "eventType");
        json_object_del(fields, "eventId");
        json_object_del(fields, "timestamp");
    }
    return webtoon_emit(st, p.user, EV_ACCESS_GRANTED, fields);
}

/* The cancel attempt an event is about (older events name the purchase). */
static const char *webtoon_cancel_id(const json_t *payload, const char *purchase)
{
    const char *id = json_string_value(json_object_get(payload, "cancelId"));
    return id && strlen(id) <= 64 ? id : purchase;
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
    const char *cancel = webtoon_cancel_id(payload, p.purchase);
    const char *refusal = webtoon_cancel_refusal(&own, p.purchase);
    if ((rc = domain_effect_decide(st, "cancel", cancel, refusal ? "refused" : "revoked")) != RC_OK)
        return rc;
    if (!refusal && (rc = webtoon_store_revoke(st, p.user, p.webtoon)) != RC_OK)
        return rc;
    json_t *fields =
        json_pack("{s:s, s:s, s:s, s:s, s:b}", "purchaseId", p.purchase, "userId", p.user,
                  "webtoonId", p.webtoon, "cancelId", cancel, "read", own.found && own.read);
    if (fields && refusal)
        json_object_set_new(fields, "reason", json_string(refusal));
    return webtoon_emit(st, p.user,
                        refusal ? EV_PURCHASE_CANCEL_FAILED : EV_PURCHASE_CANCEL_COMPLETE, fields);
}

/* A purchase ended without being approved: an episode it was granted goes,
 * and one still on its way will not come. */
static int webtoon_on_buy_failed(void *ctx, struct store *st, const struct bus_event *ev,
                                 const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct webtoon_purchase_ref p;
    struct webtoon_ownership own;
    int rc = webtoon_read_purchase(payload, &p);
    if (rc == RC_OK)
        rc = domain_effect_decide(st, "closed", p.purchase, "closed");
    if (rc == RC_OK)
        rc = webtoon_store_ownership(st, p.user, p.webtoon, &own);
    if (rc == RC_OK && own.found && !strcmp(own.purchase_id, p.purchase))
        rc = webtoon_store_revoke(st, p.user, p.webtoon);
    return rc;
}

/* A cancel ended without being confirmed: the purchase stands, so an
 * episode revoked for it is granted again. */
static int webtoon_on_cancel_failed(void *ctx, struct store *st, const struct bus_event *ev,
                                    const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct webtoon_purchase_ref p;
    char outcome[16];
    int rc = webtoon_read_purchase(payload, &p);
    const char *cancel = rc == RC_OK ? webtoon_cancel_id(payload, p.purchase) : NULL;
    if (rc == RC_OK)
        rc = domain_effect_get(st, "cancel", cancel, outcome, sizeof outcome);
    if (rc != RC_OK || strcmp(outcome, "revoked") != 0)
        return rc;
    if ((rc = domain_effect_decide(st, "regrant", cancel, "granted")) != RC_OK)
        return rc;
    return webtoon_store_grant(st, p.user, p.webtoon, p.purchase);
}

const struct inbox_handler webtoon_handlers[] = {
    {EV_JOINED, domain_users_on_joined},
    {EV_WITHDRAWN, domain_users_on_withdrawn},
    {EV_CHECK_CORRECTED, webtoon_on_check_corrected},
    {EV_CANCEL_REQUESTED, webtoon_on_cancel_requested},
    {EV_BUY_FAILED, webtoon_on_buy_failed},
    {EV_CANCEL_FAILED, webtoon_on_cancel_failed},
    {0},
};
