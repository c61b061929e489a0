/* Balance decisions of the pointer service, cell by cell: every check ×
 * every kind of account × every amount that matters. */
#include "support/test_machine.h"

#include "core/base/bug.h"
#include "svc/pointer/pointer.h"

enum check { CHECK_PURCHASE, CHECK_REFUND, CHECK_CREDIT, CHECK_WITHDRAW, CHECKS };
enum account { ACCOUNT_UNKNOWN, ACCOUNT_JOINED, ACCOUNT_WITHDRAWN, ACCOUNTS };
enum amount {
    AMOUNT_ALL,      /* exactly the balance */
    AMOUNT_MORE,     /* one more than the balance */
    AMOUNT_TO_MAX,   /* what fills the balance to its maximum */
    AMOUNT_PAST_MAX, /* one more than that */
    AMOUNTS,
};

#define BALANCE 100

static const char *const check_names[CHECKS] = {"purchase", "refund", "credit", "withdraw"};
static const char *const account_names[ACCOUNTS] = {"unknown", "joined", "withdrawn"};
static const char *const amount_names[AMOUNTS] = {"all", "more", "to max", "past max"};

static int64_t amount_of(enum amount a)
{
    switch (a) {
    case AMOUNT_ALL:
        return BALANCE;
    case AMOUNT_MORE:
        return BALANCE + 1;
    case AMOUNT_TO_MAX:
        return POINTER_BALANCE_MAX - BALANCE;
    case AMOUNT_PAST_MAX:
    case AMOUNTS:
        break;
    }
    return POINTER_BALANCE_MAX - BALANCE + 1;
}

static enum pointer_verdict decide(enum check c, enum account acc, enum amount am)
{
    struct pointer_account a = {.found = acc != ACCOUNT_UNKNOWN,
                                .point = acc == ACCOUNT_UNKNOWN ? 0 : BALANCE,
                                .withdrawn = acc == ACCOUNT_WITHDRAWN};
    switch (c) {
    case CHECK_PURCHASE:
        return pointer_check_purchase(&a, amount_of(am));
    case CHECK_REFUND:
        return pointer_check_refund(&a, amount_of(am));
    case CHECK_CREDIT:
        return pointer_check_credit(&a, amount_of(am));
    case CHECK_WITHDRAW:
    case CHECKS:
        break;
    }
    return pointer_check_withdraw(&a);
}

#define OK POINTER_OK
#define UNKNOWN POINTER_UNKNOWN_USER
#define GONE POINTER_WITHDRAWN
#define SHORT POINTER_INSUFFICIENT
#define FULL POINTER_OVERFLOW

/* Withdrawn accounts buy nothing but can still be refunded and credited
 * (the money goes back to the person); a purchase or refund needs the
 * points, a credit room under the maximum; withdrawing happens once.
 * Withdraw reads no amount: its four columns agree. (A row with a column
 * missing does not compile: -Wmissing-field-initializers.) */
static const struct {
    enum check check;
    enum account account;
    enum pointer_verdict all, more, to_max, past_max; /* by enum amount */
} rows[] = {
    /* check           account            all      more     to max   past max */
    {CHECK_PURCHASE, ACCOUNT_UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN},
    {CHECK_PURCHASE, ACCOUNT_JOINED, OK, SHORT, SHORT, SHORT},
    {CHECK_PURCHASE, ACCOUNT_WITHDRAWN, GONE, GONE, GONE, GONE},
    {CHECK_REFUND, ACCOUNT_UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN},
    {CHECK_REFUND, ACCOUNT_JOINED, OK, SHORT, SHORT, SHORT},
    {CHECK_REFUND, ACCOUNT_WITHDRAWN, OK, SHORT, SHORT, SHORT},
    {CHECK_CREDIT, ACCOUNT_UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN},
    {CHECK_CREDIT, ACCOUNT_JOINED, OK, OK, OK, FULL},
    {CHECK_CREDIT, ACCOUNT_WITHDRAWN, OK, OK, OK, FULL},
    {CHECK_WITHDRAW, ACCOUNT_UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN},
    {CHECK_WITHDRAW, ACCOUNT_JOINED, OK, OK, OK, OK},
    {CHECK_WITHDRAW, ACCOUNT_WITHDRAWN, GONE, GONE, GONE, GONE},
};

static void cell(size_t i, int *check, int *account)
{
    *check = (int)rows[i].check;
    *account = (int)rows[i].account;
}

static void test_every_verdict(void **state)
{
    (void)state;
    test_cells_once(ARRAY_LEN(rows), CHECKS, ACCOUNTS, cell);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        const enum pointer_verdict want[AMOUNTS] = {rows[i].all, rows[i].more, rows[i].to_max,
                                                    rows[i].past_max};
        for (int am = 0; am < AMOUNTS; am++) {
            enum pointer_verdict got = decide(rows[i].check, rows[i].account, am);
            if (got != want[am])
                fail_msg("%s on a %s account, amount %s: %s, expected %s",
                         check_names[rows[i].check], account_names[rows[i].account],
                         amount_names[am], pointer_verdict_reason(got),
                         pointer_verdict_reason(want[am]));
        }
    }
}

/* Every refusal has its own plain-words reason; none is the fallback. */
static void test_reasons(void **state)
{
    (void)state;
    static const enum pointer_verdict all[] = {POINTER_OK, POINTER_UNKNOWN_USER, POINTER_WITHDRAWN,
                                               POINTER_INSUFFICIENT, POINTER_OVERFLOW};
    assert_string_equal(pointer_verdict_reason(POINTER_OK), "ok");
    for (size_t i = 0; i < ARRAY_LEN(all); i++) {
        assert_string_not_equal(pointer_verdict_reason(all[i]), "refused");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(pointer_verdict_reason(all[i]), pointer_verdict_reason(all[j]));
    }
    assert_string_equal(pointer_verdict_reason(POINTER_INSUFFICIENT), "not enough points");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_verdict),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
