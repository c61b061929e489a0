/*
 * The simulated payment provider: the whole purchase flow runs offline and
 * its failures are reproducible. Declines follow well-known test cards
 * (docs/PAYMENTS.md); everything else is approved. A real provider would
 * implement the same two operations over its API.
 */
#include <stdio.h>
#include <string.h>

#include "core/base/rc.h"
#include "svc/payment/payment.h"

#define PAYMENT_SIM_LIMIT 10000000 /* larger single charges are declined */

static const struct {
    const char *card;
    const char *reason;
} payment_sim_declines[] = {
    {"4000000000000002", "card declined"},
    {"4000000000009995", "insufficient funds"},
    {"4000000000000069", "expired card"},
    {"4000000000000119", "processing error"},
};

static int payment_sim_charge(const struct payment_charge *c, bool *approved, char *reason,
                              size_t len)
{
    *approved = true;
    for (size_t i = 0; c->card && i < ARRAY_LEN(payment_sim_declines); i++) {
        if (!strcmp(c->card, payment_sim_declines[i].card)) {
            *approved = false;
            snprintf(reason, len, "%s", payment_sim_declines[i].reason);
            return RC_OK;
        }
    }
    if (c->price > PAYMENT_SIM_LIMIT) {
        *approved = false;
        snprintf(reason, len, "amount over the card limit of %d", PAYMENT_SIM_LIMIT);
    }
    return RC_OK;
}

static int payment_sim_refund(const char *payment_id, int64_t price)
{
    (void)payment_id;
    (void)price;
    return RC_OK; /* the simulated bank always gives money back */
}

const struct payment_provider_ops payment_provider_simulated = {
    .name = "simulated",
    .charge = payment_sim_charge,
    .refund = payment_sim_refund,
};
