/* The purchase state machine: pure functions, no I/O.
 *
 *   pending ──points taken──▶ approved ──cancel──▶ cancelling ──ok──▶ cancelled
 *      │                          ▲                    │
 *      └─points refused─▶ rejected └──────refused──────┘
 *
 * A deadline ends a pending purchase rejected and a cancelling one
 * approved again, as a refusal would.
 */
#include "core/base/bug.h"
#include "core/base/machine.h"
#include "svc/purchase/purchase.h"

const char *const purchase_statuses[] = {"pending",    "approved",  "rejected",
                                         "cancelling", "cancelled", NULL};

static const struct machine_move purchase_moves[] = {
    {"pending", PURCHASE_POINTS_TAKEN, "approved"},
    {"pending", PURCHASE_POINTS_REFUSED, "rejected"},
    {"pending", PURCHASE_DEADLINE, "rejected"},
    {"approved", PURCHASE_CANCEL, "cancelling"},
    {"cancelling", PURCHASE_CANCEL_OK, "cancelled"},
    {"cancelling", PURCHASE_CANCEL_REFUSED, "approved"},
    {"cancelling", PURCHASE_DEADLINE, "approved"},
};

const char *purchase_next(const char *status, enum purchase_step step)
{
    return machine_next(purchase_moves, ARRAY_LEN(purchase_moves), status, (int)step);
}
