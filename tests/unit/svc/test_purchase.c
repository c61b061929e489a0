/* The purchase state machine, cell by cell: every status × every step. */
#include "support/test_machine.h"

#include "svc/purchase/purchase.h"

static const char *const steps[PURCHASE_STEPS] = {
    [PURCHASE_POINTS_TAKEN] = "points taken",
    [PURCHASE_POINTS_REFUSED] = "points refused",
    [PURCHASE_CANCEL] = "cancel",
    [PURCHASE_CANCEL_OK] = "cancel ok",
    [PURCHASE_CANCEL_REFUSED] = "cancel refused",
    [PURCHASE_DEADLINE] = "deadline",
};

/* What a reader of docs/EVENTS.md expects: pending ends approved or
 * rejected; only an approved purchase can be cancelled, and a cancel ends
 * cancelled or approved again; rejected and cancelled are final. */
static const struct machine_move moves[] = {
    {"pending", PURCHASE_POINTS_TAKEN, "approved"},
    {"pending", PURCHASE_POINTS_REFUSED, "rejected"},
    {"pending", PURCHASE_CANCEL, NULL},
    {"pending", PURCHASE_CANCEL_OK, NULL},
    {"pending", PURCHASE_CANCEL_REFUSED, NULL},
    {"pending", PURCHASE_DEADLINE, "rejected"},
    {"approved", PURCHASE_POINTS_TAKEN, NULL},
    {"approved", PURCHASE_POINTS_REFUSED, NULL},
    {"approved", PURCHASE_CANCEL, "cancelling"},
    {"approved", PURCHASE_CANCEL_OK, NULL},
    {"approved", PURCHASE_CANCEL_REFUSED, NULL},
    {"approved", PURCHASE_DEADLINE, NULL},
    {"rejected", PURCHASE_POINTS_TAKEN, NULL},
    {"rejected", PURCHASE_POINTS_REFUSED, NULL},
    {"rejected", PURCHASE_CANCEL, NULL},
    {"rejected", PURCHASE_CANCEL_OK, NULL},
    {"rejected", PURCHASE_CANCEL_REFUSED, NULL},
    {"rejected", PURCHASE_DEADLINE, NULL},
    {"cancelling", PURCHASE_POINTS_TAKEN, NULL},
    {"cancelling", PURCHASE_POINTS_REFUSED, NULL},
    {"cancelling", PURCHASE_CANCEL, NULL},
    {"cancelling", PURCHASE_CANCEL_OK, "cancelled"},
    {"cancelling", PURCHASE_CANCEL_REFUSED, "approved"},
    {"cancelling", PURCHASE_DEADLINE, "approved"},
    {"cancelled", PURCHASE_POINTS_TAKEN, NULL},
    {"cancelled", PURCHASE_POINTS_REFUSED, NULL},
    {"cancelled", PURCHASE_CANCEL, NULL},
    {"cancelled", PURCHASE_CANCEL_OK, NULL},
    {"cancelled", PURCHASE_CANCEL_REFUSED, NULL},
    {"cancelled", PURCHASE_DEADLINE, NULL},
};

static const char *next(const char *status, int step)
{
    return purchase_next(status, (enum purchase_step)step);
}

static void test_every_transition(void **state)
{
    (void)state;
    test_machine_check(purchase_statuses, PURCHASE_STEPS, steps, moves, ARRAY_LEN(moves), next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_transition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
