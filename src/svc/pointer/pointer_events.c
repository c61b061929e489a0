/*
 * Policies of the pointer service: the owner of balances reacts to other
 * services' facts and decides.
 *   PaymentComplete  → add the points bought      → Increased | IncreaseFailed (refund it)
 *   RefundRequested  → take them back if unspent  → DecreasedComplete | DecreaseFailed
 *   RefundFailed     → points taken for it? back  → Increased
 *   BuyComplete      → take the price if affordable → CheckCorrected | CheckRejected
 *   BuyFailed        → points taken for it? back  → Increased
 *   CancelComplete   → give the price back        → Increased
 * Each runs inside the inbox transaction, so it applies once per event id;
 * and each first records its decision under the business id it is about
 * (table effects), so the same payment, refund or purchase is never decided
 * twice, even when its events come back after their inbox ids were purged.
 */
#include <string.h>

#include "core/base/rc.h"
#include "domain/users.h"
#include "core/inbox/inbox.h"
#include "core/json/jx.h"
#include "core/outbox/outbox.h"
#include "svc/pointer/pointer.h"

#define POINTER_AMOUNT_MAX 1000000000LL

/* The fields every policy reads: who, how much, and the causing entity. */
struct pointer_request {
    const char *user;
    int64_t amount;
    const char *ref;     /* paymentId or purchaseId */
    const char *webtoon; /* purchases only */
};

static int pointer_read(const json_t *payload, const char *ref_field, bool with_webtoon,
                        struct pointer_request *out)
{
    struct jx_reader r;
    jx_reader_init(&r, payload);
    out->user = jx_str(&r, "userId", JX_REQUIRED, DOMAIN_ID_MAX);
    out->amount = jx_int(&r, "point", JX_REQUIRED, 0, POINTER_AMOUNT_MAX);
    out->ref = jx_str(&r, ref_field, JX_REQUIRED, 64);
    out->webtoon = with_webtoon ? jx_str(&r, "webtoonId", JX_REQUIRED, DOMAIN_ID_MAX) : NULL;
    return r.rc ? inbox_reject(RC_BAD_EVENT, "%s", r.detail) : RC_OK;
}

int pointer_emit(struct store *st, const char *user, const char *type, json_t *fields)
{
    return outbox_emit(st, user, type, fields);
}

/* Adds <amount> to <user> for ledger line (<reason>, <ref>) and emits
 * Increased naming <ref_field>: <ref>. The caller checked the verdict. */
static int pointer_add(struct store *st, const char *user, int64_t amount, const char *reason,
                       const char *ref_field, const char *ref)
{
    int64_t balance;
    int rc = pointer_store_apply(st, user, amount, reason, ref, &balance);
    if (rc != RC_OK)
        return rc;
    return pointer_emit(st, user, EV_INCREASED,
                        json_pack("{s:s, s:I, s:I, s:s, s:s}", "userId", user, "point",
                                  (json_int_t)balance, "amount", (json_int_t)amount, "reason",
                                  reason, ref_field, ref));
}

/* The account of <user> and whether <amount> may be added to it. */
static int pointer_may_credit(struct store *st, const char *user, int64_t amount,
                              enum pointer_verdict *v)
{
    struct pointer_account a;
    int rc = pointer_store_get(st, user, &a);
    *v = rc == RC_OK ? pointer_check_credit(&a, amount) : POINTER_OK;
    return rc;
}

/* Points bought: credited, or, when they cannot be (an unknown user, a
 * balance at its maximum), IncreaseFailed, so that the payment service
 * gives the money back instead of keeping it for points nobody got. */
static int pointer_on_payment_complete(void *ctx, struct store *st, const struct bus_event *ev,
                                       const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct pointer_request q;
    enum pointer_verdict v;
    int rc = pointer_read(payload, "paymentId", false, &q);
    if (rc == RC_OK)
        rc = pointer_may_credit(st, q.user, q.amount, &v);
    if (rc == RC_OK)
        rc = domain_effect_decide(st, "credit", q.ref, v == POINTER_OK ? "credited" : "refused");
    if (rc != RC_OK)
        return rc;
    if (v == POINTER_OK)
        return pointer_add(st, q.user, q.amount, "payment", "paymentId", q.ref);
    return pointer_emit(st, q.user, EV_INCREASE_FAILED,
                        json_pack("{s:s, s:I, s:s, s:s}", "userId", q.user, "amount",
                                  (json_int_t)q.amount, "paymentId", q.ref, "reason",
                                  pointer_verdict_reason(v)));
}

static int pointer_on_cancel_complete(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct pointer_request q;
    enum pointer_verdict v;
    int rc = pointer_read(payload, "purchaseId", true, &q);
    if (rc == RC_OK)
        rc = pointer_may_credit(st, q.user, q.amount, &v);
    if (rc == RC_OK && v != POINTER_OK)
        return inbox_reject(RC_INVALID_STATE,
                            "cannot give %lld points back to %s for cancel %s: %s",
                            (long long)q.amount, q.user, q.ref, pointer_verdict_reason(v));
    if (rc == RC_OK)
        rc = domain_effect_decide(st, "cancel", q.ref, "credited");
    return rc == RC_OK ? pointer_add(st, q.user, q.amount, "cancel", "purchaseId", q.ref) : rc;
}

/* The refund attempt an event is about: its refundId (events from before
 * refund ids existed name only the payment, which then stands for it). */
static const char *pointer_refund_id(const json_t *payload, const char *payment)
{
    const char *id = json_string_value(json_object_get(payload, "refundId"));
    return id && strlen(id) <= 64 ? id : payment;
}

static int pointer_on_refund_requested(void *ctx, struct store *st, const struct bus_event *ev,
                                       const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct pointer_request q;
    struct pointer_account a;
    int rc = pointer_read(payload, "paymentId", false, &q);
    if (rc == RC_OK)
        rc = pointer_store_get(st, q.user, &a);
    if (rc != RC_OK)
        return rc;
    const char *refund = pointer_refund_id(payload, q.ref);
    enum pointer_verdict v = pointer_check_refund(&a, q.amount);
    if ((rc = domain_effect_decide(st, "refund", refund, v == POINTER_OK ? "taken" : "refused")) !=
        RC_OK)
        return rc;
    if (v != POINTER_OK)
        return pointer_emit(st, q.user, EV_DECREASE_FAILED,
                            json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "userId", q.user, "point",
                                      (json_int_t)a.point, "amount", (json_int_t)q.amount,
                                      "paymentId", q.ref, "refundId", refund, "reason",
                                      pointer_verdict_reason(v)));
    int64_t balance;
    if ((rc = pointer_store_apply(st, q.user, -q.amount, "refund", refund, &balance)) != RC_OK)
        return rc;
    return pointer_emit(st, q.user, EV_DECREASED_COMPLETE,
                        json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "userId", q.user, "point",
                                  (json_int_t)balance, "amount", (json_int_t)q.amount, "reason",
                                  "refund", "paymentId", q.ref, "refundId", refund));
}

/* A saga that ended without its effect (<kind> about <ref>, a refund or a
 * purchase): points taken for it come back, once (ledger <back_reason>);
 * if it was never decided here, it never will be. */
static int pointer_undo(struct store *st, const struct pointer_request *q, const char *kind,
                        const char *ref, const char *back_reason, const char *ref_field)
{
    char outcome[16];
    int rc = domain_effect_get(st, kind, ref, outcome, sizeof outcome);
    if (rc != RC_OK)
        return rc;
    if (!*outcome)
        return domain_effect_decide(st, kind, ref, "closed");
    if (strcmp(outcome, "taken") != 0)
        return RC_OK; /* nothing was taken */
    char back[40];
    snprintf(back, sizeof back, "%s-back", kind);
    if ((rc = domain_effect_decide(st, back, ref, "credited")) != RC_OK)
        return rc;
    enum pointer_verdict v;
    if ((rc = pointer_may_credit(st, q->user, q->amount, &v)) != RC_OK)
        return rc;
    if (v != POINTER_OK)
        return inbox_reject(RC_INVALID_STATE, "cannot give %lld points back to %s for %s %s: %s",
                            (long long)q->amount, q->user, kind, ref, pointer_verdict_reason(v));
    return pointer_add(st, q->user, q->amount, back_reason, ref_field, ref);
}

static int pointer_on_refund_failed(void *ctx, struct store *st, const struct bus_event *ev,
                                    const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct pointer_request q;
    int rc = pointer_read(payload, "paymentId", false, &q);
    if (rc != RC_OK)
        return rc;
    const char *refund = pointer_refund_id(payload, q.ref);
    return pointer_undo(st, &q, "refund", refund, "refund-back", "refundId");
}

static int pointer_on_buy_failed(void *ctx, struct store *st, const struct bus_event *ev,
                                 const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct pointer_request q;
    int rc = pointer_read(payload, "purchaseId", true, &q);
    return rc == RC_OK ? pointer_undo(st, &q, "buy", q.ref, "purchase-back", "purchaseId") : rc;
}

static int pointer_on_buy_complete(void *ctx, struct store *st, const struct bus_event *ev,
                                   const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct pointer_request q;
    struct pointer_account a;
    int rc = pointer_read(payload, "purchaseId", true, &q);
    if (rc == RC_OK)
        rc = pointer_store_get(st, q.user, &a);
    if (rc != RC_OK)
        return rc;
    enum pointer_verdict v = pointer_check_purchase(&a, q.amount);
    if ((rc = domain_effect_decide(st, "buy", q.ref, v == POINTER_OK ? "taken" : "refused")) !=
        RC_OK)
        return rc;
    if (v != POINTER_OK)
        return pointer_emit(st, q.user, EV_CHECK_REJECTED,
                            json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "purchaseId", q.ref,
                                      "userId", q.user, "webtoonId", q.webtoon, "point",
                                      (json_int_t)q.amount, "myPoint", (json_int_t)a.point,
                                      "reason", pointer_verdict_reason(v)));
    int64_t balance;
    if ((rc = pointer_store_apply(st, q.user, -q.amount, "purchase", q.ref, &balance)) != RC_OK)
        return rc;
    return pointer_emit(st, q.user, EV_CHECK_CORRECTED,
                        json_pack("{s:s, s:s, s:s, s:I, s:I}", "purchaseId", q.ref, "userId",
                                  q.user, "webtoonId", q.webtoon, "point", (json_int_t)q.amount,
                                  "myPoint", (json_int_t)balance));
}

const struct inbox_handler pointer_handlers[] = {
    {EV_PAYMENT_COMPLETE, pointer_on_payment_complete},
    {EV_REFUND_REQUESTED, pointer_on_refund_requested},
    {EV_REFUND_FAILED, pointer_on_refund_failed},
    {EV_BUY_COMPLETE, pointer_on_buy_complete},
    {EV_BUY_FAILED, pointer_on_buy_failed},
    {EV_CANCEL_COMPLETE, pointer_on_cancel_complete},
    {0},
};
