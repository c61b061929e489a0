/*
 * Policies of the payment service: finishing refunds once the pointer
 * service decided.
 *   DecreasedComplete (a refund's points taken) → money back → RefundComplete
 *   DecreaseFailed    (points already spent)     → stays approved → RefundFailed
 * It also keeps its view of users (Joined, Withdrawn).
 */
#include <stdio.h>
#include <string.h>

#include "core/base/rc.h"
#include "core/domain/users.h"
#include "core/json/jx.h"
#include "core/outbox/outbox.h"
#include "svc/payment/payment.h"

int payment_emit(struct store *st, const struct payment_record *p, const char *type,
                 const char *reason)
{
    json_t *fields = json_pack("{s:s, s:s, s:I, s:I, s:s}", "paymentId", p->payment_id, "userId",
                               p->user_id, "price", (json_int_t)p->price, "point",
                               (json_int_t)p->point, "status", p->status);
    if (fields && reason)
        json_object_set_new(fields, "reason", json_string(reason));
    int rc = fields ? outbox_add(st, p->user_id, type, fields, NULL) : RC_NOMEM;
    json_decref(fields);
    return rc;
}

/* The refunding payment an event refers to, or RC_BAD_EVENT. Events for
 * other purposes (a purchase's decrease) carry no paymentId and are not
 * ours: *<p>.found stays false. */
static int payment_of_event(struct store *st, const json_t *payload, struct payment_record *p)
{
    *p = (struct payment_record){0};
    const json_t *id = json_object_get(payload, "paymentId");
    if (!id)
        return RC_OK;
    if (!json_is_string(id) || json_string_length(id) > 40)
        return RC_BAD_EVENT;
    return payment_store_get(st, json_string_value(id), p);
}

/* Ends the refund a DecreasedComplete (<points_taken>) or DecreaseFailed
 * event is about: money back and refunded, or approved again with the
 * pointer service's reason. Anything else (a late duplicate, another
 * purpose) changes nothing. */
static int payment_finish_refund(struct store *st, const json_t *payload, bool points_taken)
{
    struct payment_record p;
    int rc = payment_of_event(st, payload, &p);
    if (rc != RC_OK || !p.found || strcmp(p.status, "refunding") != 0)
        return rc;
    const char *reason = NULL;
    if (points_taken) {
        if ((rc = payment_provider_simulated.refund(p.payment_id, p.price)) != RC_OK)
            return rc; /* retried: the points are taken, the money must follow */
    } else {
        struct jx_reader r;
        jx_reader_init(&r, payload);
        reason = jx_str(&r, "reason", JX_OPTIONAL, 120);
        if (!reason)
            reason = "the points could not be taken back";
    }
    const char *to = points_taken ? "refunded" : "approved";
    bool changed;
    if ((rc = payment_store_transition(st, p.payment_id, "refunding", to, reason, &changed)) !=
        RC_OK)
        return rc;
    snprintf(p.status, sizeof p.status, "%s", to);
    return payment_emit(st, &p, points_taken ? EV_REFUND_COMPLETE : EV_REFUND_FAILED, reason);
}

static int payment_on_decreased(void *ctx, struct store *st, const struct bus_event *ev,
                                const json_t *payload)
{
    (void)ctx;
    (void)ev;
    return payment_finish_refund(st, payload, true);
}

static int payment_on_decrease_failed(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ctx;
    (void)ev;
    return payment_finish_refund(st, payload, false);
}

const struct inbox_handler payment_handlers[] = {
    {EV_JOINED, domain_users_on_joined},
    {EV_WITHDRAWN, domain_users_on_withdrawn},
    {EV_DECREASED_COMPLETE, payment_on_decreased},
    {EV_DECREASE_FAILED, payment_on_decrease_failed},
    {0},
};
