/* Payment rules: pure functions, no I/O.
 *
 * A charge is pending until the provider answers (approved or declined); an
 * approved payment is refunded in two steps (refunding until the pointer
 * service took the points back, approved again when it could not or did
 * not answer in time), or at once when the points bought could not be
 * credited. payment_moves is the whole machine.
 */
#include <string.h>

#include "core/base/bug.h"
#include "core/base/machine.h"
#include "core/base/rc.h"
#include "svc/payment/payment.h"

const char *const payment_statuses[] = {"pending",   "approved", "declined",
                                        "refunding", "refunded", NULL};

static const struct machine_move payment_moves[] = {
    {"pending", PAYMENT_CHARGED, "approved"},
    {"pending", PAYMENT_CHARGE_REFUSED, "declined"},
    {"approved", PAYMENT_REFUND, "refunding"},
    {"approved", PAYMENT_CREDIT_FAILED, "refunded"},
    {"refunding", PAYMENT_REFUND_TAKEN, "refunded"},
    {"refunding", PAYMENT_REFUND_REFUSED, "approved"},
    {"refunding", PAYMENT_REFUND_DEADLINE, "approved"},
};

const char *payment_next(const char *status, enum payment_step step)
{
    return machine_next(payment_moves, ARRAY_LEN(payment_moves), status, (int)step);
}

int payment_price(int64_t point, int64_t rate, int64_t given, int64_t *price)
{
    *price = point * rate; /* both bounded by validation: no overflow */
    return given < 0 || given == *price ? RC_OK : RC_INVALID;
}

bool payment_card_is_valid(const char *card)
{
    size_t len = strlen(card);
    if (len < PAYMENT_CARD_MIN || len > PAYMENT_CARD_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (card[i] < '0' || card[i] > '9')
            return false;
    return true;
}
