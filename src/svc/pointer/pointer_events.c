/*
 * Policies of the pointer service: the owner of balances reacts to other
 * services' facts and decides.
 *   PaymentComplete  → add the points bought            → Increased
 *   RefundRequested  → take them back if still unspent  → DecreasedComplete | DecreaseFailed
 *   BuyComplete      → take the price if affordable     → CheckCorrected | CheckRejected
 *   CancelComplete   → give the price back              → Increased
 * Each runs inside the inbox transaction, so it applies once.
 */
#include <string.h>

#include "core/base/rc.h"
#include "core/json/jx.h"
#include "core/log/log.h"
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
    return r.rc ? RC_BAD_EVENT : RC_OK;
}

/* Emits <type> with <fields> (stolen) keyed by the user. */
static int pointer_emit(struct store *st, const char *user, const char *type, json_t *fields)
{
    int rc = fields ? outbox_add(st, user, type, fields, NULL) : RC_NOMEM;
    json_decref(fields);
    return rc;
}

/* Adds <q>.amount for <reason>; an unknown user or an overflow cannot be
 * fixed by retrying, so they are logged and the event is skipped. */
static int pointer_credit(struct store *st, const struct pointer_request *q, const char *reason,
                          const char *ref_field)
{
    struct pointer_account a;
    int rc = pointer_store_get(st, q->user, &a);
    if (rc != RC_OK)
        return rc;
    enum pointer_verdict v = pointer_check_credit(&a, q->amount);
    if (v != POINTER_OK) {
        log_error("cannot credit %lld points to %s for %s %s: %s", (long long)q->amount, q->user,
                  reason, q->ref, pointer_verdict_reason(v));
        return RC_BAD_EVENT;
    }
    int64_t balance;
    if ((rc = pointer_store_apply(st, q->user, q->amount, reason, q->ref, &balance)) != RC_OK)
        return rc;
    return pointer_emit(st, q->user, EV_INCREASED,
                        json_pack("{s:s, s:I, s:I, s:s, s:s}", "userId", q->user, "point",
                                  (json_int_t)balance, "amount", (json_int_t)q->amount, "reason",
                                  reason, ref_field, q->ref));
}

static int pointer_on_payment_complete(void *ctx, struct store *st, const struct bus_event *ev,
                                       const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct pointer_request q;
    int rc = pointer_read(payload, "paymentId", false, &q);
    return rc == RC_OK ? pointer_credit(st, &q, "payment", "paymentId") : rc;
}

static int pointer_on_cancel_complete(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ctx;
    (void)ev;
    struct pointer_request q;
    int rc = pointer_read(payload, "purchaseId", true, &q);
    return rc == RC_OK ? pointer_credit(st, &q, "cancel", "purchaseId") : rc;
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
    enum pointer_verdict v = pointer_check_refund(&a, q.amount);
    if (v != POINTER_OK)
        return pointer_emit(st, q.user, EV_DECREASE_FAILED,
                            json_pack("{s:s, s:I, s:I, s:s, s:s}", "userId", q.user, "point",
                                      (json_int_t)a.point, "amount", (json_int_t)q.amount,
                                      "paymentId", q.ref, "reason", pointer_verdict_reason(v)));
    int64_t balance;
    if ((rc = pointer_store_apply(st, q.user, -q.amount, "refund", q.ref, &balance)) != RC_OK)
        return rc;
    return pointer_emit(st, q.user, EV_DECREASED_COMPLETE,
                        json_pack("{s:s, s:I, s:I, s:s, s:s}", "userId", q.user, "point",
                                  (json_int_t)balance, "amount", (json_int_t)q.amount, "reason",
                                  "refund", "paymentId", q.ref));
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
    {EV_BUY_COMPLETE, pointer_on_buy_complete},
    {EV_CANCEL_COMPLETE, pointer_on_cancel_complete},
    {0},
};
