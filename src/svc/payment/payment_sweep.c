/*
 * The payment service's periodic work, so that every payment ends:
 *   - a charge left pending by a process that died between the provider and
 *     the second transaction is settled from the provider's record of that
 *     key (voided when the charge never happened, so it never will);
 *   - a refund the pointer service has not answered within
 *     WEBTOON_REFUND_DEADLINE_MS fails: the payment is approved again with
 *     a reason, and RefundFailed makes the pointer service give back any
 *     points it took for that attempt.
 * Every replica sweeps; each change is conditional on the status it found,
 * so two sweepers (or a sweeper and a late event) never both act.
 */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "domain/saga.h"
#include "core/log/log.h"
#include "svc/payment/payment.h"

#define PAYMENT_SWEEP_BATCH 64
#define PAYMENT_TX_ATTEMPTS 5 /* runs of a transaction that keeps losing races */

struct payment_resolution {
    const char *id;
    enum payment_outcome outcome;
    char reason[160];
};

static int payment_settle_tx(struct store *st, void *ud)
{
    struct payment_resolution *r = ud;
    return payment_settle(st, r->id, r->outcome, r->reason, NULL);
}

static void payment_reconcile(struct service_ctx *ctx, struct store *st)
{
    char ids[PAYMENT_SWEEP_BATCH][40];
    size_t n = 0;
    int64_t before = clock_wall_ms() - config_int(ctx->cfg, CONFIG_PAYMENT_RECONCILE_MS);
    if (!ctx->ext ||
        payment_store_due(st, "pending", before, ids, PAYMENT_SWEEP_BATCH, &n) != RC_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        struct payment_resolution r = {.id = ids[i]};
        if (payment_provider_resolve(ctx->ext, ids[i], &r.outcome, r.reason, sizeof r.reason) !=
            RC_OK)
            return; /* the provider is away: next sweep */
        if (r.outcome == PAYMENT_VOIDED)
            r.outcome = PAYMENT_DECLINED; /* never charged: declined with the provider's reason */
        int rc = store_run_tx(st, PAYMENT_TX_ATTEMPTS, payment_settle_tx, &r);
        log_write(rc == RC_OK ? LOG_INFO : LOG_WARN, NULL,
                  json_pack("{s:s, s:s, s:s}", "paymentId", ids[i], "outcome",
                            r.outcome == PAYMENT_APPROVED ? "approved" : "declined", "result",
                            rc_name(rc)),
                  "settled a payment left pending by an interrupted charge");
    }
}

static int payment_expire_refund(struct store *st, void *ud)
{
    const char *id = ud;
    struct payment_record p;
    int rc = payment_store_get(st, id, &p);
    const char *to = rc == RC_OK ? payment_next(p.status, PAYMENT_REFUND_DEADLINE) : NULL;
    if (rc != RC_OK || !p.found || !to)
        return rc == RC_OK ? RC_NOT_FOUND : rc; /* moved on meanwhile */
    static const char why[] = "the refund was not confirmed in time; nothing was refunded";
    bool changed;
    if ((rc = payment_store_transition(st, id, p.status, to, NULL, why, &changed)) != RC_OK)
        return rc;
    if (!changed)
        return RC_NOT_FOUND;
    domain_saga_ended(st, "refund", "timed_out", "deadline", p.refund_requested_at);
    snprintf(p.status, sizeof p.status, "%s", to);
    return payment_emit(st, &p, EV_REFUND_FAILED, why);
}

static void payment_expire_refunds(struct service_ctx *ctx, struct store *st)
{
    char ids[PAYMENT_SWEEP_BATCH][40];
    size_t n = 0;
    int64_t before = clock_wall_ms() - config_int(ctx->cfg, CONFIG_REFUND_DEADLINE_MS);
    if (payment_store_due(st, "refunding", before, ids, PAYMENT_SWEEP_BATCH, &n) != RC_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (store_run_tx(st, PAYMENT_TX_ATTEMPTS, payment_expire_refund, ids[i]) == RC_OK)
            log_warn("refund of payment %s passed its deadline; it failed", ids[i]);
}

/* The gauges of saga <saga>: payments in <status>, and those of them
 * still past <deadline> once the sweep above is done. */
static void payment_measure(struct service_ctx *ctx, struct store *st, const char *saga,
                            const char *status, enum config_id deadline)
{
    int64_t all = 0, overdue = 0;
    if (payment_store_count(st, status, clock_wall_ms() - config_int(ctx->cfg, deadline), &all,
                            &overdue) == RC_OK)
        domain_saga_measure(saga, all, overdue);
}

void payment_sweep(struct service_ctx *ctx, struct store *st)
{
    payment_reconcile(ctx, st);
    payment_expire_refunds(ctx, st);
    payment_measure(ctx, st, "payment", "pending", CONFIG_PAYMENT_RECONCILE_MS);
    payment_measure(ctx, st, "refund", "refunding", CONFIG_REFUND_DEADLINE_MS);
}
