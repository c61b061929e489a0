/*
 * The ledger invariant, checked periodically by the pointer service's
 * sweeper: every balance equals the sum of its ledger lines and is never
 * below 0. Nothing is repaired here: a violation is a bug or a hand-edited
 * database, for an operator (webtoon_ledger_violations, an error line
 * naming the first account, the LedgerInvariantViolated alert).
 */
#include <stdio.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"
#include "svc/pointer/pointer.h"

static int64_t pointer_next_check_ms; /* monotonic; the sweeper thread only */

static void pointer_check_ledger(struct store *st)
{
    int64_t violations = 0;
    char first[DOMAIN_ID_MAX + 1];
    int rc = pointer_store_check_ledger(st, &violations, first, sizeof first);
    const char *result = rc != RC_OK ? "failed" : violations ? "violated" : "ok";
    char labels[32];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    metrics_counter_add(metrics_counter("webtoon_ledger_checks_total",
                                        "Checks of the ledger invariant, by result", labels),
                        1);
    if (rc != RC_OK) {
        log_warn("the ledger check could not run: %s", store_error(st));
        return;
    }
    metrics_gauge_set(metrics_gauge("webtoon_ledger_violations",
                                    "Accounts whose balance is not the sum of their ledger lines "
                                    "(or is negative), at the last check",
                                    ""),
                      violations);
    if (violations)
        log_write(
            LOG_ERROR, NULL,
            json_pack("{s:I, s:s}", "violations", (json_int_t)violations, "firstUserId", first),
            "ledger invariant violated: a balance is not the sum of its ledger lines");
}

void pointer_sweep(struct service_ctx *ctx, struct store *st)
{
    int64_t now = clock_mono_ms();
    if (now < pointer_next_check_ms)
        return;
    pointer_next_check_ms = now + config_int(ctx->cfg, CONFIG_LEDGER_CHECK_INTERVAL_MS);
    pointer_check_ledger(st);
}
