/*
 * How events shape the history view: one table, no I/O. A payment or a
 * purchase is one timeline entry that moves through its states (a pending
 * purchase becomes approved or rejected in place); reads, joins and
 * withdrawals are entries of their own. Balances come only from the pointer
 * service's events, which carry the balance after each change.
 */
#include <string.h>

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
