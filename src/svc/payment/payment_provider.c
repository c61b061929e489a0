/*
 * The simulated payment provider: the whole purchase flow runs offline and
 * its failures are reproducible. Declines follow well-known test cards
 * (docs/PAYMENTS.md); everything else is approved. Like a real processor it
 * is idempotent by key and remembers what it did, in a ledger of its own
 * (a store URL, by default <data>/provider.db), outside the payment
 * service's database: a charge is one row per key, a refund one row per
 * refund key. A real provider would implement the same three operations
 * over its API.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/log/log.h"
#include "svc/payment/payment.h"

#define PAYMENT_SIM_LIMIT 10000000 /* larger single charges are declined */

struct payment_provider {
    struct store *ledger;
};

static const struct store_migration payment_sim_schema[] = {
    {1, "CREATE TABLE provider_charges ("
        " charge_key TEXT PRIMARY KEY,"
        " user_id TEXT NOT NULL,"
        " price BIGINT NOT NULL,"
        " outcome TEXT NOT NULL," /* approved, declined, voided */
        " reason TEXT NOT NULL,"
        " created_at BIGINT NOT NULL);"
        "CREATE TABLE provider_refunds ("
        " refund_key TEXT PRIMARY KEY,"
        " charge_key TEXT NOT NULL,"
        " price BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL);"},
};

static const struct {
    const char *card;
    const char *reason;
} payment_sim_declines[] = {
    {"4000000000000002", "card declined"},
    {"4000000000009995", "insufficient funds"},
    {"4000000000000069", "expired card"},
    {"4000000000000119", "processing error"},
};

/* What the simulated processor decides for <c>: NULL to approve, else why
 * not. */
static const char *payment_sim_decide(const struct payment_charge *c)
{
    for (size_t i = 0; c->card && i < ARRAY_LEN(payment_sim_declines); i++)
        if (!strcmp(c->card, payment_sim_declines[i].card))
            return payment_sim_declines[i].reason;
    return c->price > PAYMENT_SIM_LIMIT ? "amount over the card limit" : NULL;
}

/* A connection to the ledger the configuration names. */
static int payment_provider_connect(const struct config *cfg, struct payment_provider **out)
{
    char url[PATH_MAX + 16], err[256] = "";
    const char *configured = config_str(cfg, CONFIG_PROVIDER_STORE_URL);
    if (*configured)
        snprintf(url, sizeof url, "%s", configured);
    else
        snprintf(url, sizeof url, "sqlite:%s/provider.db", config_str(cfg, CONFIG_DATA_DIR));
    struct payment_provider *p = mem_calloc(1, sizeof *p);
    if (!p)
        return RC_NOMEM;
    int rc = store_open(url, &p->ledger, err, sizeof err);
    if (rc == RC_OK)
        rc =
            store_migrate(p->ledger, "provider", payment_sim_schema, ARRAY_LEN(payment_sim_schema));
    if (rc != RC_OK) {
        log_error("the payment provider cannot be reached: %s%s", err, store_error(p->ledger));
        store_close(p->ledger);
        mem_free(p);
        return RC_UNAVAILABLE;
    }
    *out = p;
    return RC_OK;
}

static void payment_provider_free(struct payment_provider *p)
{
    if (!p)
        return;
    store_close(p->ledger);
    mem_free(p);
}

int payment_provider_open(struct service_ctx *ctx)
{
    struct payment_provider *p = NULL;
    int rc = payment_provider_connect(ctx->cfg, &p);
    if (rc == RC_OK)
        ctx->ext = p;
    return rc;
}

/* The connections of threads without a service context (offload threads),
 * closed when their thread ends. */
static pthread_key_t payment_thread_key;
static pthread_once_t payment_thread_once = PTHREAD_ONCE_INIT;

static void payment_thread_close(void *p) { payment_provider_free(p); }
static void payment_thread_key_make(void)
{
    (void)pthread_key_create(&payment_thread_key, payment_thread_close);
}

struct payment_provider *payment_provider_of_thread(const struct config *cfg)
{
    pthread_once(&payment_thread_once, payment_thread_key_make);
    struct payment_provider *p = pthread_getspecific(payment_thread_key);
    if (!p && payment_provider_connect(cfg, &p) == RC_OK &&
        pthread_setspecific(payment_thread_key, p) != 0) {
        payment_provider_free(p);
        p = NULL;
    }
    return p;
}

void payment_provider_close(struct service_ctx *ctx)
{
    payment_provider_free(ctx->ext);
    ctx->ext = NULL;
}

bool payment_provider_is_ready(struct service_ctx *ctx)
{
    struct payment_provider *p = ctx->ext;
    return p && store_ping(p->ledger);
}

static enum payment_outcome payment_sim_outcome(const char *text)
{
    return !strcmp(text, "approved")   ? PAYMENT_APPROVED
           : !strcmp(text, "declined") ? PAYMENT_DECLINED
                                       : PAYMENT_VOIDED;
}

struct payment_sim_row {
    bool found;
    enum payment_outcome outcome;
    char *reason;
    size_t len;
};

static int payment_sim_take(void *ud, const struct store_row *row)
{
    struct payment_sim_row *r = ud;
    r->found = true;
    r->outcome = payment_sim_outcome(row->cols[0].s);
    snprintf(r->reason, r->len, "%s", row->cols[1].s);
    return 0;
}

/* Records <outcome> for <key> unless the key has one, then reads what the
 * key's outcome is: the first writer wins. */
static int payment_sim_record(struct payment_provider *p, const char *key, const char *user,
                              int64_t price, const char *outcome, const char *why,
                              enum payment_outcome *out, char *reason, size_t len)
{
    int rc =
        store_exec(p->ledger,
                   "INSERT INTO provider_charges (charge_key, user_id, price, outcome, reason,"
                   " created_at) VALUES ($1, $2, $3, $4, $5, $6)"
                   " ON CONFLICT (charge_key) DO NOTHING",
                   STORE_ARGS(STORE_TEXT(key), STORE_TEXT(user), STORE_INT(price),
                              STORE_TEXT(outcome), STORE_TEXT(why), STORE_INT(clock_wall_ms())),
                   NULL, NULL, NULL);
    struct payment_sim_row row = {.reason = reason, .len = len};
    if (rc == RC_OK)
        rc = store_exec(p->ledger,
                        "SELECT outcome, reason FROM provider_charges WHERE charge_key = $1",
                        STORE_ARGS(STORE_TEXT(key)), payment_sim_take, &row, NULL);
    if (rc != RC_OK || !row.found)
        return RC_UNAVAILABLE;
    *out = row.outcome;
    return RC_OK;
}

int payment_provider_charge(struct payment_provider *p, const struct payment_charge *c,
                            enum payment_outcome *out, char *reason, size_t len)
{
    const char *declined = payment_sim_decide(c);
    int rc = payment_sim_record(p, c->key, c->user, c->price, declined ? "declined" : "approved",
                                declined ? declined : "", out, reason, len);
    if (rc == RC_OK && *out == PAYMENT_VOIDED) /* settled as never charged: stays so */
        *out = PAYMENT_DECLINED;
    return rc;
}

int payment_provider_resolve(struct payment_provider *p, const char *key, enum payment_outcome *out,
                             char *reason, size_t len)
{
    return payment_sim_record(p, key, "", 0, "voided",
                              "the charge was interrupted before it was made; nothing was charged",
                              out, reason, len);
}

int payment_provider_refund(struct payment_provider *p, const char *key, const char *charge_key,
                            int64_t price)
{
    int rc = store_exec(p->ledger,
                        "INSERT INTO provider_refunds (refund_key, charge_key, price, created_at)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (refund_key) DO NOTHING",
                        STORE_ARGS(STORE_TEXT(key), STORE_TEXT(charge_key), STORE_INT(price),
                                   STORE_INT(clock_wall_ms())),
                        NULL, NULL, NULL);
    return rc == RC_OK ? RC_OK : RC_UNAVAILABLE;
}
