/*
 * Saga metrics: how every saga a service owns ends, why, and how long it
 * took from its start; and how many are under way or past their deadline.
 * The operator's questions "are purchases going through?", "why are they
 * rejected?", "how long does a purchase take from buy to its final state?"
 * are answered by these series alone.
 *
 * An end is counted once the transaction that decided it commits
 * (store_after_commit): a transaction rolled back and run again counts
 * once, one rolled back for good not at all. Label values are bounded:
 * sagas and outcomes are constants of the callers, and reasons are slugs
 * from one table here (domain_saga_reason), never ids or free text.
 *
 * Sagas and their outcomes:
 *   purchase  approved | rejected (reason) | timed_out     from the buy
 *   cancel    cancelled | refused (reason) | timed_out     from the cancel request
 *   payment   approved | declined (reason) | refunded (credit_failed)  from the charge
 *   refund    refunded | refused (reason) | timed_out      from the refund request
 */
#ifndef WEBTOON_DOMAIN_SAGA_H
#define WEBTOON_DOMAIN_SAGA_H

#include <stdint.h>

#include "core/store/store.h"

/* Counts that saga <saga> ended with <outcome> for <reason> (a slug:
 * lower-case letters and '_'; "none" when there is nothing to say), having
 * started at <started_ms> (wall clock ms), once the open transaction of
 * <st> commits (at once when none is open). */
void domain_saga_ended(struct store *st, const char *saga, const char *outcome, const char *reason,
                       int64_t started_ms);

/* The slug of a reason text the services give (a pointer verdict, a
 * provider's decline, a refusal to cancel): "other" for any text not in the
 * table, so that label values stay bounded whatever a payload says. */
const char *domain_saga_reason(const char *text);

/* Sets the gauges of saga <saga>: <in_progress> under way, <overdue> of
 * them past their deadline although the sweeper tried to end them; also
 * makes the series of the ends it always can have exist, at 0. */
void domain_saga_measure(const char *saga, int64_t in_progress, int64_t overdue);

#endif
