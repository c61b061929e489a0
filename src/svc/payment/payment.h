/*
 * The payment service: charging points with money through a payment
 * provider, and refunds. A refund first asks the pointer service (owner of
 * balances) to take the points back; only when it could does the money go
 * back, so a refund either completes fully or changes nothing.
 *
 * Files: payment.c (rules, pure), payment_provider.c (the provider
 * interface and the built-in simulated provider), payment_store.c (SQL),
 * payment_api.c (routes), payment_events.c (policies).
 */
#ifndef WEBTOON_SVC_PAYMENT_H
#define WEBTOON_SVC_PAYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/domain/events.h"
#include "core/hal/hal.h"
#include "core/service/service.h"

extern const struct service_def payment_service;

#define PAYMENT_POINT_MAX 1000000 /* points per payment */
#define PAYMENT_CARD_MIN 12       /* digits of a card number */
/* Largest price a client may state (2^53 - 1, exact in JSON); a stated
 * price other than point x rate is refused as a mismatch, not as invalid. */
#define PAYMENT_PRICE_MAX 9007199254740991LL
#define PAYMENT_CARD_MAX 19

/* --- rules (payment.c) ------------------------------------------------------ */

/* Money for <point> points at <rate> per point; RC_INVALID when a given
 * <price> (>= 0; -1 when absent) does not match. */
int payment_price(int64_t point, int64_t rate, int64_t given, int64_t *price /* OUT */);
/* True when <card> is 12..19 digits. */
bool payment_card_is_valid(const char *card);

/* --- provider (payment_provider.c) ------------------------------------------ */

struct payment_charge {
    const char *user;
    int64_t price;    /* smallest currency unit */
    const char *card; /* may be NULL: the account's default method */
};

struct payment_provider_ops {
    const char *name;
    /* Charges <c>; *<approved> false with a reason when declined. RC_OK
     * unless the provider could not be reached. */
    int (*charge)(const struct payment_charge *c, bool *approved, char *reason, size_t len);
    /* Gives <price> back for payment <payment_id>. */
    int (*refund)(const char *payment_id, int64_t price);
};

/* The built-in provider: approves, except the test cards and amounts in
 * docs/PAYMENTS.md, deterministically and offline. */
extern const struct payment_provider_ops payment_provider_simulated;

/* --- storage (payment_store.c) -------------------------------------------- */

struct payment_record {
    bool found;
    char payment_id[40];
    char user_id[DOMAIN_ID_MAX + 1];
    int64_t price;
    int64_t point;
    char status[16]; /* approved, declined, refunding, refunded */
    char reason[128];
    char refund_error[128];
    int64_t created_at;
};

extern const struct service_schema payment_schemas[];

int payment_store_get(struct store *st, const char *id, struct payment_record *out /* OUT */);
int payment_store_insert(struct store *st, const struct payment_record *p);
/* Moves payment <id> from <from> to <to> status; <changed> false when it
 * was not in <from> (a duplicate or late event). <refund_error> may be
 * NULL (cleared). */
int payment_store_transition(struct store *st, const char *id, const char *from, const char *to,
                             const char *refund_error, bool *changed /* OUT */);
json_t *payment_json(const struct payment_record *p);
/* A row of the payment columns as its JSON item (hal_item_cb). */
json_t *payment_item(const struct store_row *row);
/* The columns payment_item reads, in order, for SELECTs. */
#define PAYMENT_COLUMNS                                                                            \
    "payment_id, user_id, price, point, status, reason, refund_error, created_at"

/* --- event policies (payment_events.c) --------------------------------------- */

extern const struct inbox_handler payment_handlers[];

/* Emits <type> for payment <p> with <reason> (may be NULL). */
int payment_emit(struct store *st, const struct payment_record *p, const char *type,
                 const char *reason);

#endif
