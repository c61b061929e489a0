/*
 * Deadlines of the purchase saga, kept by its owner so that every purchase
 * ends in a final state with a reason the reader can see:
 *   - pending past WEBTOON_PURCHASE_DEADLINE_MS (the pointer or the webtoon
 *     service did not answer): rejected, and BuyFailed tells the pointer
 *     service to give back points it took for it and the webtoon service to
 *     revoke an episode it granted;
 *   - cancelling past WEBTOON_CANCEL_DEADLINE_MS: approved again with the
 *     reason, and CancelFailed tells the webtoon service to grant the episode
 *     again if it had already revoked it.
 * A late answer finds the purchase moved on and changes nothing. Every
 * replica sweeps; each move is conditional on the status it found.
 */
#include <stdio.h>
#include <string.h>

#include "core/base/bug.h"
#include "core/base/clock.h"
#include "core/base/rc.h"
#include "domain/saga.h"
#include "core/log/log.h"
#include "svc/purchase/purchase.h"

#define PURCHASE_SWEEP_BATCH 64

struct purchase_expiry {
    const char *id, *from, *to, *why, *type;
};

/* Moves the purchase from <from> to <to> with <why> and emits <type>. */
static int purchase_expire(struct store *st, void *ud)
{
    const struct purchase_expiry *x = ud;
    const char *id = x->id, *from = x->from, *to = x->to, *why = x->why, *type = x->type;
    struct purchase_record p;
    int rc = purchase_store_get(st, id, &p);
    if (rc != RC_OK || !p.found || strcmp(p.status, from) != 0)
        return rc == RC_OK ? RC_NOT_FOUND : rc;
    bool cancel = !strcmp(from, "cancelling"), changed;
    rc = purchase_store_transition(st, id, from, to, NULL, cancel ? NULL : why, cancel ? why : NULL,
                                   &changed);
    if (rc != RC_OK || !changed)
        return rc == RC_OK ? RC_NOT_FOUND : rc;
    if ((rc = purchase_store_get(st, id, &p)) != RC_OK)
        return rc;
    domain_saga_ended(st, cancel ? "cancel" : "purchase", "timed_out", "deadline",
                      cancel ? p.cancel_requested_at : p.created_at);
    return purchase_emit(st, &p, type, why);
}

/* Ends the purchases in <from> past <deadline> as purchase_next says. */
static void purchase_expire_all(struct service_ctx *ctx, struct store *st, const char *from,
                                enum config_id deadline, const char *why, const char *type)
{
    const char *to = purchase_next(from, PURCHASE_DEADLINE);
    BUG_ON(!to); /* the sweeper only looks where a deadline applies */
    char ids[PURCHASE_SWEEP_BATCH][40];
    size_t n = 0;
    int64_t before = clock_wall_ms() - config_int(ctx->cfg, deadline);
    if (purchase_store_due(st, from, before, ids, PURCHASE_SWEEP_BATCH, &n) != RC_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        struct purchase_expiry x = {ids[i], from, to, why, type};
        int rc = store_run_tx(st, 5, purchase_expire, &x);
        if (rc == RC_OK)
            log_warn("purchase %s was %s past its deadline: now %s", ids[i], from, to);
    }
}

/* The gauges of saga <saga>: purchases in <status>, and those of them
 * still past <deadline> once the sweep above is done. */
static void purchase_measure(struct service_ctx *ctx, struct store *st, const char *saga,
                             const char *status, enum config_id deadline)
{
    int64_t all = 0, overdue = 0;
    if (purchase_store_count(st, status, clock_wall_ms() - config_int(ctx->cfg, deadline), &all,
                             &overdue) == RC_OK)
        domain_saga_measure(saga, all, overdue);
}

void purchase_sweep(struct service_ctx *ctx, struct store *st)
{
    purchase_expire_all(ctx, st, "pending", CONFIG_PURCHASE_DEADLINE_MS,
                        "not confirmed in time; any points taken are given back", EV_BUY_FAILED);
    purchase_expire_all(ctx, st, "cancelling", CONFIG_CANCEL_DEADLINE_MS,
                        "the cancellation was not confirmed in time; the purchase stands",
                        EV_CANCEL_FAILED);
    purchase_measure(ctx, st, "purchase", "pending", CONFIG_PURCHASE_DEADLINE_MS);
    purchase_measure(ctx, st, "cancel", "cancelling", CONFIG_CANCEL_DEADLINE_MS);
}
