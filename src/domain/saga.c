/* Saga outcome and duration metrics; see saga.h. */
#include "domain/saga.h"

#include <stdio.h>
#include <string.h>

#include "core/base/bug.h"
#include "core/base/clock.h"
#include "core/metrics/metrics.h"

/* Buy to final state, microseconds: 10 ms to 10 min (deadlines are a
 * minute by default, so a timed-out saga still lands in a finite bucket). */
static const int64_t domain_saga_bounds_us[] = {
    10000,   25000,    50000,    100000,   250000,   500000,    1000000,   2500000,
    5000000, 10000000, 30000000, 60000000, 90000000, 120000000, 300000000, 600000000};

/* Reason texts the services give, as the start of the text, and their slugs. */
static const struct {
    const char *text;
    const char *slug;
} domain_saga_reasons[] = {
    /* the pointer service's verdicts (pointer_verdict_reason) */
    {"not enough points", "insufficient_points"},
    {"unknown user", "unknown_user"},
    {"the account was withdrawn", "withdrawn"},
    {"the balance would exceed its maximum", "balance_overflow"},
    /* the webtoon service's refusals to cancel */
    {"the episode was already read", "already_read"},
    {"the purchase does not own the episode", "not_owned"},
    /* the payment provider's declines */
    {"card declined", "card_declined"},
    {"insufficient funds", "insufficient_funds"},
    {"expired card", "expired_card"},
    {"processing error", "processing_error"},
    {"amount over the card limit", "over_limit"},
    {"the charge was interrupted", "interrupted"},
};

const char *domain_saga_reason(const char *text)
{
    for (size_t i = 0; text && i < ARRAY_LEN(domain_saga_reasons); i++)
        if (!strncmp(text, domain_saga_reasons[i].text, strlen(domain_saga_reasons[i].text)))
            return domain_saga_reasons[i].slug;
    return "other";
}

/* True for a label value needing no escaping: [a-z_]+. */
static bool domain_saga_is_slug(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return false;
    return true;
}

/* Ends every saga can have whatever happens, so that their series exist
 * (at 0) from the start: a rate over an absent series is no answer. Ends
 * with a varying reason start at their first occurrence. */
static const struct {
    const char *saga, *outcome, *reason;
} domain_saga_fixed_ends[] = {
    {"purchase", "approved", "none"},         {"purchase", "timed_out", "deadline"},
    {"purchase", "rejected", NULL},           {"cancel", "cancelled", "none"},
    {"cancel", "timed_out", "deadline"},      {"cancel", "refused", NULL},
    {"payment", "approved", "none"},          {"payment", "declined", NULL},
    {"payment", "refunded", "credit_failed"}, {"refund", "refunded", "none"},
    {"refund", "timed_out", "deadline"},      {"refund", "refused", NULL},
};

/* The series of one end: its counter (NULL when <reason> is NULL) and its
 * histogram. */
static void domain_saga_series(const char *saga, const char *outcome, const char *reason,
                               struct metrics_counter **ended, struct metrics_histogram **took)
{
    char labels[160];
    *ended = NULL;
    if (reason) {
        snprintf(labels, sizeof labels, "saga=\"%s\",outcome=\"%s\",reason=\"%s\"", saga, outcome,
                 reason);
        *ended = metrics_counter("webtoon_saga_outcomes_total",
                                 "Sagas that reached a final state, by outcome and reason", labels);
    }
    snprintf(labels, sizeof labels, "saga=\"%s\",outcome=\"%s\"", saga, outcome);
    *took = metrics_histogram_bounds("webtoon_saga_duration_seconds",
                                     "Time from a saga's start to its final state", labels,
                                     domain_saga_bounds_us, ARRAY_LEN(domain_saga_bounds_us));
}

static void domain_saga_count(void *ud, int64_t n) { metrics_counter_add(ud, (uint64_t)n); }

static void domain_saga_observe(void *ud, int64_t us) { metrics_histogram_observe_us(ud, us); }

void domain_saga_ended(struct store *st, const char *saga, const char *outcome, const char *reason,
                       int64_t started_ms)
{
    BUG_ON(!domain_saga_is_slug(saga) || !domain_saga_is_slug(outcome) ||
           !domain_saga_is_slug(reason));
    char labels[160];
    snprintf(labels, sizeof labels, "saga=\"%s\",outcome=\"%s\",reason=\"%s\"", saga, outcome,
             reason);
    struct metrics_counter *ended =
        metrics_counter("webtoon_saga_outcomes_total",
                        "Sagas that reached a final state, by outcome and reason", labels);
    snprintf(labels, sizeof labels, "saga=\"%s\",outcome=\"%s\"", saga, outcome);
    struct metrics_histogram *took = metrics_histogram_bounds(
        "webtoon_saga_duration_seconds", "Time from a saga's start to its final state", labels,
        domain_saga_bounds_us, ARRAY_LEN(domain_saga_bounds_us));
    int64_t ms = clock_wall_ms() - started_ms;
    /* Metrics only: a full list of waiting actions loses a count, nothing else. */
    (void)store_after_commit(st, domain_saga_count, ended, 1);
    (void)store_after_commit(st, domain_saga_observe, took, ms > 0 ? ms * 1000 : 0);
}

void domain_saga_measure(const char *saga, int64_t in_progress, int64_t overdue)
{
    BUG_ON(!domain_saga_is_slug(saga));
    for (size_t i = 0; i < ARRAY_LEN(domain_saga_fixed_ends); i++) {
        struct metrics_counter *ended;
        struct metrics_histogram *took;
        if (!strcmp(domain_saga_fixed_ends[i].saga, saga))
            domain_saga_series(saga, domain_saga_fixed_ends[i].outcome,
                               domain_saga_fixed_ends[i].reason, &ended, &took);
    }
    char labels[64];
    snprintf(labels, sizeof labels, "saga=\"%s\"", saga);
    metrics_gauge_set(metrics_gauge("webtoon_sagas_in_progress",
                                    "Sagas started and not yet in a final state", labels),
                      in_progress);
    metrics_gauge_set(metrics_gauge("webtoon_sagas_overdue",
                                    "Sagas still under way past their deadline after the sweeper "
                                    "tried to end them",
                                    labels),
                      overdue);
}
