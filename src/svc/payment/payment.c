/* Payment rules: pure functions, no I/O. */
#include <string.h>

#include "core/base/rc.h"
#include "svc/payment/payment.h"

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
