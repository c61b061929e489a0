/* Balance decisions of the pointer service: pure functions, no I/O. */
#include "svc/pointer/pointer.h"

enum pointer_verdict pointer_check_purchase(const struct pointer_account *a, int64_t amount)
{
    if (!a->found)
        return POINTER_UNKNOWN_USER;
    if (a->withdrawn)
        return POINTER_WITHDRAWN;
    return amount > a->point ? POINTER_INSUFFICIENT : POINTER_OK;
}

enum pointer_verdict pointer_check_refund(const struct pointer_account *a, int64_t amount)
{
    if (!a->found)
        return POINTER_UNKNOWN_USER;
    return amount > a->point ? POINTER_INSUFFICIENT : POINTER_OK;
}

enum pointer_verdict pointer_check_credit(const struct pointer_account *a, int64_t amount)
{
    if (!a->found)
        return POINTER_UNKNOWN_USER;
    return amount > POINTER_BALANCE_MAX - a->point ? POINTER_OVERFLOW : POINTER_OK;
}

enum pointer_verdict pointer_check_withdraw(const struct pointer_account *a)
{
    if (!a->found)
        return POINTER_UNKNOWN_USER;
    return a->withdrawn ? POINTER_WITHDRAWN : POINTER_OK;
}

const char *pointer_verdict_reason(enum pointer_verdict v)
{
    switch (v) {
    case POINTER_OK:
        return "ok";
    case POINTER_UNKNOWN_USER:
        return "unknown user";
    case POINTER_WITHDRAWN:
        return "the account was withdrawn";
    case POINTER_INSUFFICIENT:
        return "not enough points";
    case POINTER_OVERFLOW:
        return "the balance would exceed its maximum";
    }
    return "refused";
}
