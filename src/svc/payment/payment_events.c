/*
 * Policies of the payment service: finishing what the pointer service
 * decided, for the current refund attempt only.
 *   DecreasedComplete (a refund's points taken) → money back → RefundComplete
 *   DecreaseFailed    (points already spent)     → stays approved → RefundFailed
 *   IncreaseFailed    (points bought not credited) → money back → RefundComplete
 * It also keeps its view of users (Joined, Withdrawn), and settles charges
 * (payment_settle) for the charge command and the sweeper.
 */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "domain/saga.h"
#include "domain/users.h"
#include "core/inbox/inbox.h"
#include "core/json/jx.h"
#include "core/outbox/outbox.h"
#include "svc/payment/payment.h"

int payment_emit(struct store *st, const struct payment_record *p, const char *type,
                 const char *reason)
{
    json_t *fields = json_pack("{s:s, s:s, s:I, s:I, s:s}", "paymentId", p->payment_id, "userId",
                               p->user_id, "price", (json_int_t)p->price, "point",
                               (json_int_t)p->point, "status", p->status);
    if (fields && *p->refund_id)
        json_object_set_new(fields, "refundId", json_string(p->refund_id));
    if (fields && reason)
        json_object_set_new(fields, "reason", json_string(reason));
    return outbox_emit(st, p->user_id, type, fields);
}

void payment_answer(const struct payment_record *p, struct service_reply *reply)
{
    *reply = (struct service_reply){0};
    snprintf(reply->location, sizeof reply->location, "/payments/%s", p->payment_id);
    if (strcmp(p->status, "declined") != 0) {
        /* approved (and whatever happened after it) is a created charge */
        reply->status = !strcmp(p->status, "pending") ? 202 : 201;
        reply->body = payment_json(p);
        return;
    }
    /* Declined, but recorded: a problem that still names the payment. */
    char detail[256];
    snprintf(detail, sizeof detail, "the payment provider said: %s; nothing was charged",
             p->reason);
    reply->status = 402;
    reply->content_type = "application/problem+json";
    reply->body = http_problem_body(RC_PAYMENT_DECLINED, detail, "/payments", NULL);
    if (reply->body) {
        json_object_set_new(reply->body, "paymentId", json_string(p->payment_id));
        json_object_set_new(reply->body, "reason", json_string(p->reason));
    }
}

int payment_settle(struct store *st, const char *id, enum payment_outcome outcome,
                   const char *reason, struct service_reply *reply)
{
    struct payment_record p;
    int rc = payment_store_get(st, id, &p);
    if (rc != RC_OK)
        return rc;
    if (!p.found)
        return RC_NOT_FOUND;
    bool approved = outcome == PAYMENT_APPROVED;
    const char *to = payment_next(p.status, approved ? PAYMENT_CHARGED : PAYMENT_CHARGE_REFUSED);
    if (to) {
        bool changed;
        rc = payment_store_transition(st, id, "pending", to, approved ? NULL : reason, NULL,
                                      &changed);
        if (rc == RC_OK && changed) {
            snprintf(p.status, sizeof p.status, "%s", to);
            if (!approved)
                snprintf(p.reason, sizeof p.reason, "%s", reason);
            domain_saga_ended(st, "payment", to, approved ? "none" : domain_saga_reason(reason),
                              p.created_at);
            rc = payment_emit(st, &p, approved ? EV_PAYMENT_COMPLETE : EV_PAYMENT_FAILED,
                              approved ? NULL : p.reason);
        }
        if (rc != RC_OK)
            return rc;
    }
    struct service_reply answer;
    payment_answer(&p, &answer);
    if (!answer.body)
        return RC_NOMEM;
    if (*p.idem_key)
        rc = service_reply_record_key(st, p.idem_key, &answer);
    if (reply && rc == RC_OK)
        *reply = answer;
    else
        json_decref(answer.body);
    return rc;
}

/* The payment an event names, or RC_BAD_EVENT. Events for other purposes
 * (a purchase's decrease) carry no paymentId and are not ours: *<p>.found
 * stays false. */
static int payment_of_event(struct store *st, const json_t *payload, struct payment_record *p)
{
    *p = (struct payment_record){0};
    const json_t *id = json_object_get(payload, "paymentId");
    if (!id)
        return RC_OK;
    if (!json_is_string(id) || json_string_length(id) > 40)
        return inbox_reject(RC_BAD_EVENT, "paymentId must be a string of at most 40 characters");
    return payment_store_get(st, json_string_value(id), p);
}

/* True when <payload> is about <p>'s refund attempt. */
static bool payment_is_current_refund(const struct payment_record *p, const json_t *payload)
{
    const char *refund = json_string_value(json_object_get(payload, "refundId"));
    return p->found && refund && !strcmp(refund, p->refund_id);
}

/* Ends the refund a DecreasedComplete (<points_taken>) or DecreaseFailed
 * event is about: money back and refunded, or approved again with the
 * pointer service's reason. Anything else (a late duplicate, an attempt
 * that timed out, another purpose) changes nothing. */
static int payment_finish_refund(void *ctx, struct store *st, const json_t *payload,
                                 bool points_taken)
{
    const struct service_ctx *sctx = ctx;
    struct payment_record p;
    int rc = payment_of_event(st, payload, &p);
    const char *to =
        payment_next(p.status, points_taken ? PAYMENT_REFUND_TAKEN : PAYMENT_REFUND_REFUSED);
    if (rc != RC_OK || !to || !payment_is_current_refund(&p, payload))
        return rc;
    const char *reason = NULL;
    if (points_taken) {
        /* Idempotent at the provider by refund id: a retry gives money back once. */
        if ((rc = payment_provider_refund(sctx->ext, p.refund_id, p.payment_id, p.price)) != RC_OK)
            return rc; /* retried: the points are taken, the money must follow */
    } else {
        struct jx_reader r;
        jx_reader_init(&r, payload);
        reason = jx_str(&r, "reason", JX_OPTIONAL, 120);
        if (!reason)
            reason = "the points could not be taken back";
    }
    bool changed;
    if ((rc = payment_store_transition(st, p.payment_id, p.status, to, NULL, reason, &changed)) !=
        RC_OK)
        return rc;
    if (changed)
        domain_saga_ended(st, "refund", points_taken ? "refunded" : "refused",
                          points_taken ? "none" : domain_saga_reason(reason),
                          p.refund_requested_at);
    snprintf(p.status, sizeof p.status, "%s", to);
    return payment_emit(st, &p, points_taken ? EV_REFUND_COMPLETE : EV_REFUND_FAILED, reason);
}

static int payment_on_decreased(void *ctx, struct store *st, const struct bus_event *ev,
                                const json_t *payload)
{
    (void)ev;
    return payment_finish_refund(ctx, st, payload, true);
}

static int payment_on_decrease_failed(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ev;
    return payment_finish_refund(ctx, st, payload, false);
}

/* The pointer service could not credit the points bought: the money goes
 * back and the payment ends refunded, with the reason. */
static int payment_on_increase_failed(void *ctx, struct store *st, const struct bus_event *ev,
                                      const json_t *payload)
{
    (void)ev;
    const struct service_ctx *sctx = ctx;
    struct payment_record p;
    int rc = payment_of_event(st, payload, &p);
    const char *to = payment_next(p.status, PAYMENT_CREDIT_FAILED);
    if (rc != RC_OK || !p.found || !to)
        return rc; /* a replay: already refunded */
    const char *why = json_string_value(json_object_get(payload, "reason"));
    snprintf(p.refund_id, sizeof p.refund_id, "credit-%s", p.payment_id);
    if ((rc = payment_provider_refund(sctx->ext, p.refund_id, p.payment_id, p.price)) != RC_OK)
        return rc;
    char reason[160];
    snprintf(reason, sizeof reason,
             "the points could not be credited (%s); the money was given back",
             why ? why : "refused");
    int64_t changed = 0;
    rc = store_exec(st,
                    "UPDATE payments SET status = 'refunded', refund_id = $2, refund_error = $3,"
                    " updated_at = $4 WHERE payment_id = $1 AND status = 'approved'",
                    STORE_ARGS(STORE_TEXT(p.payment_id), STORE_TEXT(p.refund_id),
                               STORE_TEXT(reason), STORE_INT(clock_wall_ms())),
                    NULL, NULL, &changed);
    if (rc != RC_OK)
        return rc;
    if (changed)
        domain_saga_ended(st, "payment", "refunded", "credit_failed", p.created_at);
    snprintf(p.status, sizeof p.status, "%s", to);
    return payment_emit(st, &p, EV_REFUND_COMPLETE, reason);
}

const struct inbox_handler payment_handlers[] = {
    {EV_JOINED, domain_users_on_joined},
    {EV_WITHDRAWN, domain_users_on_withdrawn},
    {EV_DECREASED_COMPLETE, payment_on_decreased},
    {EV_DECREASE_FAILED, payment_on_decrease_failed},
    {EV_INCREASE_FAILED, payment_on_increase_failed},
    {0},
};
