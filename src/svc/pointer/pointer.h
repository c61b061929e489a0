/*
 * The pointer service: accounts and point balances. The only writer of a
 * balance: it joins users, withdraws them, adds points after a payment or a
 * cancelled purchase, and takes points for a purchase or a refund, each
 * atomically with its ledger line and never below 0.
 *
 * Files: pointer.c (decisions, pure), pointer_store.c (SQL),
 * pointer_api.c (routes), pointer_events.c (policies), pointer_check.c
 * (the ledger invariant, checked periodically).
 */
#ifndef WEBTOON_SVC_POINTER_H
#define WEBTOON_SVC_POINTER_H

#include <stdbool.h>
#include <stdint.h>

#include "domain/events.h"
#include "core/hal/hal.h"
#include "core/service/service.h"

extern const struct service_def pointer_service;

#define POINTER_BALANCE_MAX 1000000000000LL /* no balance grows past this */

/* --- decisions (pointer.c) ------------------------------------------------ */

enum pointer_verdict {
    POINTER_OK,
    POINTER_UNKNOWN_USER,
    POINTER_WITHDRAWN,
    POINTER_INSUFFICIENT,
    POINTER_OVERFLOW,
};

struct pointer_account {
    bool found;
    char user_id[DOMAIN_ID_MAX + 1];
    int64_t point; /* balance, >= 0 */
    bool withdrawn;
};

/* May <amount> points be taken from <a> for a purchase? Withdrawn accounts
 * buy nothing. */
enum pointer_verdict pointer_check_purchase(const struct pointer_account *a, int64_t amount);
/* May <amount> points be taken back for a refund? (Withdrawn accounts can
 * still be refunded: the money goes back to the person.) */
enum pointer_verdict pointer_check_refund(const struct pointer_account *a, int64_t amount);
/* May <amount> points be added? */
enum pointer_verdict pointer_check_credit(const struct pointer_account *a, int64_t amount);
/* May <a> withdraw? Once only. */
enum pointer_verdict pointer_check_withdraw(const struct pointer_account *a);
/* Plain-words reason for a refused verdict, for events and the timeline. */
const char *pointer_verdict_reason(enum pointer_verdict v);

/* --- storage (pointer_store.c) ------------------------------------------- */

/* The service's schema components (zero-terminated). */
extern const struct service_schema pointer_schemas[];

int pointer_store_get(struct store *st, const char *user, struct pointer_account *out /* OUT */);
/* Creates a joined account with 0 points; <created> false when it exists. */
int pointer_store_create(struct store *st, const char *user, bool *created /* OUT */);
int pointer_store_withdraw(struct store *st, const char *user);
/*
 * Moves the balance of <user> by <delta> and writes the ledger line
 * (<reason>, <ref>); the caller checked the verdict first. The ledger's
 * unique (reason, ref) refuses a second application with RC_CONFLICT.
 */
int pointer_store_apply(struct store *st, const char *user, int64_t delta, const char *reason,
                        const char *ref, int64_t *balance /* OUT */);
/* How many accounts break the ledger invariant (balance = the sum of its
 * ledger lines, and >= 0), into <violations>; the first such user in
 * <first> (<len> bytes, "" when none). */
int pointer_store_check_ledger(struct store *st, int64_t *violations /* OUT */, char *first,
                               size_t len);
/* A row of (user_id, point, status) as its JSON item (hal_item_cb). */
json_t *pointer_item(const struct store_row *row);

/* The JSON representation of an account (new reference). */
json_t *pointer_json(const struct pointer_account *a);

/* --- event policies (pointer_events.c) ----------------------------------- */

/* Zero-terminated. */
extern const struct inbox_handler pointer_handlers[];

/* Emits <type> with <fields> (stolen, NULL: out of memory) keyed by <user>:
 * every event of the service goes out here. */
int pointer_emit(struct store *st, const char *user, const char *type, json_t *fields);

/* --- the ledger check (pointer_check.c) ------------------------------------ */

/* The service's sweep: every WEBTOON_LEDGER_CHECK_INTERVAL_MS (and at
 * start) checks the ledger invariant, for the metrics and the log. */
void pointer_sweep(struct service_ctx *ctx, struct store *st);

#endif
