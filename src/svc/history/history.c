/*
 * How events shape the history view: one table, no I/O. A payment or a
 * purchase is one timeline entry that moves through its states (a pending
 * purchase becomes approved or rejected in place); reads, joins and
 * withdrawals are entries of their own. Balances come only from the pointer
 * service's events, which carry the balance after each change.
 */
#include <string.h>

#include "core/auth/verify.h"
#include "core/base/rc.h"
#include "core/json/jx.h"
#include "svc/history/history.h"

const struct history_change history_changes[] = {
    /* event type                 kind        ref field     status       user status  balance */
    {EV_JOINED, "account", NULL, "joined", "joined", "point"},
    {EV_WITHDRAWN, "account", NULL, "withdrawn", "withdrawn", NULL},
    {EV_INCREASED, NULL, NULL, NULL, NULL, "point"},
    {EV_DECREASED_COMPLETE, NULL, NULL, NULL, NULL, "point"},
    {EV_PAYMENT_COMPLETE, "payment", "paymentId", "approved", NULL, NULL},
    {EV_PAYMENT_FAILED, "payment", "paymentId", "declined", NULL, NULL},
    {EV_REFUND_REQUESTED, "payment", "paymentId", "refunding", NULL, NULL},
    {EV_REFUND_COMPLETE, "payment", "paymentId", "refunded", NULL, NULL},
    {EV_REFUND_FAILED, "payment", "paymentId", "approved", NULL, NULL},
    {EV_BUY_COMPLETE, "purchase", "purchaseId", "pending", NULL, NULL},
    {EV_CHECK_CORRECTED, NULL, NULL, NULL, NULL, "myPoint"},
    {EV_ACCESS_GRANTED, "purchase", "purchaseId", "approved", NULL, NULL},
    {EV_BUY_FAILED, "purchase", "purchaseId", "rejected", NULL, NULL},
    {EV_CANCEL_REQUESTED, "purchase", "purchaseId", "cancelling", NULL, NULL},
    {EV_CANCEL_COMPLETE, "purchase", "purchaseId", "cancelled", NULL, NULL},
    {EV_CANCEL_FAILED, "purchase", "purchaseId", "approved", NULL, NULL},
    {EV_OPEN_APPROVED, "read", NULL, "approved", NULL, NULL},
    {EV_OPEN_REJECTED, "read", NULL, "rejected", NULL, NULL},
    {0},
};

const struct history_change *history_change_for(const char *event_type)
{
    for (const struct history_change *c = history_changes; c->event_type; c++)
        if (!strcmp(c->event_type, event_type))
            return c;
    return NULL;
}

/* The actor of the event in <payload> (borrowed from it), or NULL. Read
 * as leniently as the inbox passes it on: an actor that cannot be a user
 * name (not a string, empty, longer than a token's user name, holding a
 * NUL) is unknown, never a reason to leave the event out of the view. */
static const char *history_actor(const json_t *payload)
{
    const json_t *v = json_object_get(payload, "actor");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    return s && len > 0 && len <= AUTH_USER_MAX && !memchr(s, '\0', len) ? s : NULL;
}

int history_read_fields(const struct history_change *c, const json_t *payload,
                        struct history_fields *f)
{
    struct jx_reader r;
    jx_reader_init(&r, payload);
    f->user = jx_str(&r, "userId", JX_REQUIRED, DOMAIN_ID_MAX);
    f->ref = c->ref_field ? jx_str(&r, c->ref_field, JX_REQUIRED, 64) : NULL;
    f->webtoon = jx_str(&r, "webtoonId", JX_OPTIONAL, DOMAIN_ID_MAX);
    f->reason = jx_str(&r, "reason", JX_OPTIONAL, 200);
    f->actor = history_actor(payload);
    f->has_point = jx_has(&r, "point");
    f->point = jx_int(&r, "point", JX_OPTIONAL, 0, INT64_MAX);
    f->has_price = jx_has(&r, "price");
    f->price = jx_int(&r, "price", JX_OPTIONAL, 0, INT64_MAX);
    f->has_balance = c->balance_field && jx_has(&r, c->balance_field);
    f->balance = c->balance_field ? jx_int(&r, c->balance_field, JX_OPTIONAL, 0, INT64_MAX) : 0;
    return r.rc ? RC_BAD_EVENT : RC_OK;
}

const struct history_view_ops *history_view(const struct service_ctx *ctx)
{
    return ctx->ext ? &history_redis_view : &history_store_view;
}
