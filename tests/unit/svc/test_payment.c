/* Payment rules: the payment state machine cell by cell, the price of
 * points and the card check. */
#include "support/test_machine.h"

#include "core/base/rc.h"
#include "svc/payment/payment.h"

static const char *const steps[PAYMENT_STEPS] = {
    [PAYMENT_CHARGED] = "charged",
    [PAYMENT_CHARGE_REFUSED] = "charge refused",
    [PAYMENT_REFUND] = "refund",
    [PAYMENT_REFUND_TAKEN] = "refund taken",
    [PAYMENT_REFUND_REFUSED] = "refund refused",
    [PAYMENT_REFUND_DEADLINE] = "refund deadline",
    [PAYMENT_CREDIT_FAILED] = "credit failed",
};

/* A charge ends approved or declined; only an approved payment is
 * refunded, and a refund ends refunded or approved again; points that
 * could not be credited refund an approved payment at once; declined and
 * refunded are final. */
static const struct machine_move moves[] = {
    {"pending", PAYMENT_CHARGED, "approved"},
    {"pending", PAYMENT_CHARGE_REFUSED, "declined"},
    {"pending", PAYMENT_REFUND, NULL},
    {"pending", PAYMENT_REFUND_TAKEN, NULL},
    {"pending", PAYMENT_REFUND_REFUSED, NULL},
    {"pending", PAYMENT_REFUND_DEADLINE, NULL},
    {"pending", PAYMENT_CREDIT_FAILED, NULL},
    {"approved", PAYMENT_CHARGED, NULL},
    {"approved", PAYMENT_CHARGE_REFUSED, NULL},
    {"approved", PAYMENT_REFUND, "refunding"},
    {"approved", PAYMENT_REFUND_TAKEN, NULL},
    {"approved", PAYMENT_REFUND_REFUSED, NULL},
    {"approved", PAYMENT_REFUND_DEADLINE, NULL},
    {"approved", PAYMENT_CREDIT_FAILED, "refunded"},
    {"declined", PAYMENT_CHARGED, NULL},
    {"declined", PAYMENT_CHARGE_REFUSED, NULL},
    {"declined", PAYMENT_REFUND, NULL},
    {"declined", PAYMENT_REFUND_TAKEN, NULL},
    {"declined", PAYMENT_REFUND_REFUSED, NULL},
    {"declined", PAYMENT_REFUND_DEADLINE, NULL},
    {"declined", PAYMENT_CREDIT_FAILED, NULL},
    {"refunding", PAYMENT_CHARGED, NULL},
    {"refunding", PAYMENT_CHARGE_REFUSED, NULL},
    {"refunding", PAYMENT_REFUND, NULL},
    {"refunding", PAYMENT_REFUND_TAKEN, "refunded"},
    {"refunding", PAYMENT_REFUND_REFUSED, "approved"},
    {"refunding", PAYMENT_REFUND_DEADLINE, "approved"},
    {"refunding", PAYMENT_CREDIT_FAILED, NULL},
    {"refunded", PAYMENT_CHARGED, NULL},
    {"refunded", PAYMENT_CHARGE_REFUSED, NULL},
    {"refunded", PAYMENT_REFUND, NULL},
    {"refunded", PAYMENT_REFUND_TAKEN, NULL},
    {"refunded", PAYMENT_REFUND_REFUSED, NULL},
    {"refunded", PAYMENT_REFUND_DEADLINE, NULL},
    {"refunded", PAYMENT_CREDIT_FAILED, NULL},
};

static const char *next(const char *status, int step)
{
    return payment_next(status, (enum payment_step)step);
}

static void test_every_transition(void **state)
{
    (void)state;
    test_machine_check(payment_statuses, PAYMENT_STEPS, steps, moves, ARRAY_LEN(moves), next);
}

/* The price is point x rate; a stated price must be that, and -1 states
 * none. The price comes back either way, for the problem's detail. */
static void test_price(void **state)
{
    (void)state;
    static const struct {
        int64_t point, rate, given;
        int rc;
        int64_t price;
    } cases[] = {
        {1, 100, -1, RC_OK, 100},
        {10, 100, 1000, RC_OK, 1000},
        {10, 100, 999, RC_INVALID, 1000},
        {10, 100, 1001, RC_INVALID, 1000},
        {10, 100, 0, RC_INVALID, 1000},
        {3, 0, 0, RC_OK, 0}, /* a free rate: a stated 0 matches */
        {PAYMENT_POINT_MAX, 1000000, -1, RC_OK, 1000000000000LL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int64_t price = -7;
        assert_int_equal(payment_price(cases[i].point, cases[i].rate, cases[i].given, &price),
                         cases[i].rc);
        assert_int_equal(price, cases[i].price);
    }
}

static void test_card(void **state)
{
    (void)state;
    assert_true(payment_card_is_valid("424242424242"));        /* 12 digits */
    assert_true(payment_card_is_valid("4242424242424242424")); /* 19 */
    assert_false(payment_card_is_valid("42424242424"));        /* 11 */
    assert_false(payment_card_is_valid("42424242424242424242"));
    assert_false(payment_card_is_valid(""));
    assert_false(payment_card_is_valid("4242 4242 4242"));
    assert_false(payment_card_is_valid("4242424242a2"));
    assert_false(payment_card_is_valid("-42424242424"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_transition),
        cmocka_unit_test(test_price),
        cmocka_unit_test(test_card),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
