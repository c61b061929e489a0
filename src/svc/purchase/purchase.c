/* The purchase state machine: pure functions, no I/O.
 *
 *   pending ──points taken──▶ approved ──cancel──▶ cancelling ──ok──▶ cancelled
 *      │                          ▲                    │
 *      └─points refused─▶ rejected └──────refused──────┘
 */
#include <string.h>

#include "svc/purchase/purchase.h"

const char *purchase_next(const char *status, enum purchase_step step)
{
    static const struct {
        const char *from;
        enum purchase_step step;
        const char *to;
    } moves[] = {
        {"pending", PURCHASE_POINTS_TAKEN, "approved"},
        {"pending", PURCHASE_POINTS_REFUSED, "rejected"},
        {"approved", PURCHASE_CANCEL, "cancelling"},
        {"cancelling", PURCHASE_CANCEL_OK, "cancelled"},
        {"cancelling", PURCHASE_CANCEL_REFUSED, "approved"},
    };
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
        if (moves[i].step == step && !strcmp(moves[i].from, status))
            return moves[i].to;
    return NULL;
}

bool purchase_is_final(const char *status)
{
    return !strcmp(status, "approved") || !strcmp(status, "rejected") ||
           !strcmp(status, "cancelled");
}
