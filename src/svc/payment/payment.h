/*
 * The payment service: charging points with money through a payment
 * provider, and refunds.
 *
 * A charge happens once: the payment is recorded `pending` and committed,
 * the provider is called outside any transaction with the payment id as its
 * idempotency key, and the outcome is recorded in a second transaction
 * (`approved` or `declined`). A process that dies in between leaves a
 * pending payment that the sweeper settles by asking the provider about
 * that key (which also voids a charge that never happened, so it cannot
 * happen later).
 *
 * A refund first asks the pointer service (owner of balances) to take the
 * points back; only when it could does the money go back, so a refund either
 * completes fully or changes nothing. Each attempt has its own refund id,
 * and one that the pointer service does not answer within
 * WEBTOON_REFUND_DEADLINE_MS ends failed (any points taken come back). Points
 * that cannot be credited after a charge turn the payment into a refund.
 *
 * Files: payment.c (rules, pure), payment_provider.c (the provider and its
 * built-in simulation), payment_store.c (SQL), payment_api.c (routes),
 * payment_events.c (policies), payment_sweep.c (deadlines, reconciliation).
 */
#ifndef WEBTOON_SVC_PAYMENT_H
#define WEBTOON_SVC_PAYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/auth/verify.h"
#include "domain/events.h"
#include "core/hal/hal.h"
#include "core/service/command.h"
#include "core/service/service.h"

extern const struct service_def payment_service;

#define PAYMENT_POINT_MAX 1000000 /* points per payment */
#define PAYMENT_CARD_MIN 12       /* digits of a card number */
/* Largest price a client may state (2^53 - 1, exact in JSON); a stated
 * price other than point x rate is refused as a mismatch, not as invalid. */
#define PAYMENT_PRICE_MAX 9007199254740991LL
#define PAYMENT_CARD_MAX 19

/* --- rules (payment.c) ------------------------------------------------------ */

/* The statuses a payment moves through, NULL-terminated. */
extern const char *const payment_statuses[];

enum payment_step {
    PAYMENT_CHARGED,         /* the provider took the money */
    PAYMENT_CHARGE_REFUSED,  /* the provider declined (or voided) the charge */
    PAYMENT_REFUND,          /* the refund command */
    PAYMENT_REFUND_TAKEN,    /* DecreasedComplete: the points came back, so does the money */
    PAYMENT_REFUND_REFUSED,  /* DecreaseFailed: the points were spent */
    PAYMENT_REFUND_DEADLINE, /* the sweeper: the refund was not answered in time */
    PAYMENT_CREDIT_FAILED,   /* IncreaseFailed: the points bought could not be credited */
    PAYMENT_STEPS,           /* not a step: how many there are */
};

/* The status after <step> from <status>, or NULL when <step> does not apply
 * there (a late or repeated event, or a command in the wrong state). */
const char *payment_next(const char *status, enum payment_step step);

/* Money for <point> points at <rate> per point; RC_INVALID when a given
 * <price> (>= 0; -1 when absent) does not match. */
int payment_price(int64_t point, int64_t rate, int64_t given, int64_t *price /* OUT */);
/* True when <card> is 12..19 digits. */
bool payment_card_is_valid(const char *card);

/* --- provider (payment_provider.c) ------------------------------------------ */

struct payment_charge {
    const char *key; /* idempotency key: the payment id */
    const char *user;
    int64_t price;    /* smallest currency unit */
    const char *card; /* may be NULL: the account's default method */
};

enum payment_outcome {
    PAYMENT_APPROVED, /* the money was taken */
    PAYMENT_DECLINED, /* refused, with a reason; nothing taken */
    PAYMENT_VOIDED,   /* never charged, and now never will be */
};

/*
 * The payment provider, one connection per thread (the service's ext).
 * The built-in one simulates a card processor offline and keeps a ledger of
 * every charge and refund by idempotency key (WEBTOON_PROVIDER_STORE_URL),
 * so its decisions survive crashes and tests can count charges. Declines
 * follow the test cards in docs/PAYMENTS.md.
 */
struct payment_provider;

/* service_def hooks: the thread's provider connection in ctx->ext. */
int payment_provider_open(struct service_ctx *ctx);
void payment_provider_close(struct service_ctx *ctx);
bool payment_provider_is_ready(struct service_ctx *ctx);
/* The calling thread's own connection, made on first use and closed when
 * the thread ends: for threads without a service context (the offload
 * threads that make charges). NULL when the provider cannot be reached. */
struct payment_provider *payment_provider_of_thread(const struct config *cfg);

/* Charges <c> once per key: a second call with the same key answers the
 * first one's outcome (a voided key is declined). <reason> (<len> bytes)
 * says why when declined. RC_UNAVAILABLE when the provider cannot be
 * reached: nothing is known then. */
int payment_provider_charge(struct payment_provider *p, const struct payment_charge *c,
                            enum payment_outcome *out, char *reason, size_t len);
/* The outcome of the charge with <key>; a key never charged is voided
 * first, so that a charge still on its way is declined. */
int payment_provider_resolve(struct payment_provider *p, const char *key, enum payment_outcome *out,
                             char *reason, size_t len);
/* Gives <price> of charge <charge_key> back, once per <key>. */
int payment_provider_refund(struct payment_provider *p, const char *key, const char *charge_key,
                            int64_t price);

/* --- storage (payment_store.c) -------------------------------------------- */

struct payment_record {
    bool found;
    char payment_id[40];
    char user_id[DOMAIN_ID_MAX + 1];
    int64_t price;
    int64_t point;
    char status[16]; /* pending, approved, declined, refunding, refunded */
    char reason[160];
    char refund_error[160];
    char refund_id[48]; /* the current or last refund attempt; "" none */
    int64_t refund_requested_at;
    char idem_key[AUTH_USER_MAX + 72]; /* the charge's scoped Idempotency-Key; "" none */
    int64_t created_at;
};

extern const struct service_schema payment_schemas[];

int payment_store_get(struct store *st, const char *id, struct payment_record *out /* OUT */);
int payment_store_insert(struct store *st, const struct payment_record *p);
/* Moves payment <id> from <from> to <to> status with <reason> (NULL keeps
 * it) and <refund_error> (NULL clears it); <changed> false when it was not
 * in <from> (a duplicate or late event). */
int payment_store_transition(struct store *st, const char *id, const char *from, const char *to,
                             const char *reason, const char *refund_error, bool *changed /* OUT */);
/* approved → refunding with a new refund attempt <refund_id>. */
int payment_store_start_refund(struct store *st, const char *id, const char *refund_id,
                               bool *changed /* OUT */);
/* Ids of payments in <status> whose time (created_at, or refund_requested_at
 * for refunding) is before <before>, at most <max> of them, into <ids>. */
int payment_store_due(struct store *st, const char *status, int64_t before, char (*ids)[40],
                      size_t max, size_t *n /* OUT */);
/* How many payments are in <status> (<all>), and how many of them since
 * before <before> (created_at, or refund_requested_at for refunding). */
int payment_store_count(struct store *st, const char *status, int64_t before,
                        int64_t *all /* OUT */, int64_t *overdue /* OUT */);
json_t *payment_json(const struct payment_record *p);
/* A row of the payment columns as its JSON item (hal_item_cb). */
json_t *payment_item(const struct store_row *row);
/* The columns payment_item reads, in order, for SELECTs. */
#define PAYMENT_COLUMNS                                                                            \
    "payment_id, user_id, price, point, status, reason, refund_error, created_at, refund_id,"      \
    " refund_requested_at, idem_key"

/* --- event policies (payment_events.c) --------------------------------------- */

extern const struct inbox_handler payment_handlers[];

/* Emits <type> for payment <p> with <reason> (may be NULL). */
int payment_emit(struct store *st, const struct payment_record *p, const char *type,
                 const char *reason);

/*
 * In the open transaction of <st>: records the provider's <outcome> for
 * pending payment <id> (approved, or declined with <reason>), emits its
 * event and stores the charge's final answer for its Idempotency-Key. When
 * the payment is no longer pending (someone settled it first) nothing
 * changes. <reply>, when not NULL, receives the answer either way.
 */
int payment_settle(struct store *st, const char *id, enum payment_outcome outcome,
                   const char *reason, struct service_reply *reply /* OUT, may be NULL */);

/* The answer to a charge for <p>: 201 approved, 402 declined, 202 pending. */
void payment_answer(const struct payment_record *p, struct service_reply *reply /* OUT */);

/* --- deadlines and reconciliation (payment_sweep.c) ----------------------------- */

void payment_sweep(struct service_ctx *ctx, struct store *st);

#endif
