/* HTTP routes of the payment service. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/auth/policy.h"
#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "domain/access.h"
#include "domain/listing.h"
#include "domain/users.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/service/command.h"
#include "svc/payment/payment.h"

/* The second step of a charge, after the pending payment committed: the
 * provider, once, off the event loop; then its outcome, recorded in a
 * transaction of its own. A provider that cannot be reached leaves the
 * payment pending, answered 202: the sweeper settles it later by asking the
 * provider. Heap memory: a charge under way outlives a client that left. */
struct payment_pending {
    const struct config *cfg; /* the process's */
    char payment_id[40];
    char user_id[DOMAIN_ID_MAX + 1];
    int64_t price;
    char card[PAYMENT_CARD_MAX + 1];
    bool has_card;
    /* the provider's answer */
    enum payment_outcome outcome;
    char reason[160];
};

/* Testing: dies at <point> when WEBTOON_FAULT_PAYMENT_CRASH says so. */
static void payment_fault(const struct config *cfg, const char *point)
{
    if (!strcmp(config_str(cfg, CONFIG_FAULT_PAYMENT_CRASH), point)) {
        log_warn("fault injection: killing the payment service %s", point);
        raise(SIGKILL);
    }
}

static bool payment_charge_call(void *data)
{
    struct payment_pending *pp = data;
    struct payment_charge charge = {.key = pp->payment_id,
                                    .user = pp->user_id,
                                    .price = pp->price,
                                    .card = pp->has_card ? pp->card : NULL};
    payment_fault(pp->cfg, "before-charge");
    struct payment_provider *provider = payment_provider_of_thread(pp->cfg);
    if (!provider || payment_provider_charge(provider, &charge, &pp->outcome, pp->reason,
                                             sizeof pp->reason) != RC_OK)
        return false; /* nothing known: the provisional 202 stands */
    payment_fault(pp->cfg, "after-charge");
    return true;
}

/* The provider's answer, in a transaction of its own. When it cannot be
 * recorded (every attempt lost a race, or the store is away) the payment
 * stays pending, and the sweeper settles it from the provider's ledger. */
static int payment_charge_record(struct store *st, void *data, struct service_reply *reply)
{
    const struct payment_pending *pp = data;
    return payment_settle(st, pp->payment_id, pp->outcome, pp->reason, reply);
}

static int payment_charge(struct http_req *req, struct store *st, const json_t *body,
                          struct service_reply *reply)
{
    const struct service_ctx *ctx = http_req_ctx(req);
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "userId", "point", "price", "card", (const char *)NULL);
    const char *named = jx_id(&r, "userId", JX_OPTIONAL, DOMAIN_ID_MAX);
    int64_t point = jx_int(&r, "point", JX_REQUIRED, 1, PAYMENT_POINT_MAX);
    int64_t rate = config_int(ctx->cfg, CONFIG_PRICE_PER_POINT);
    int64_t given =
        jx_has(&r, "price") ? jx_int(&r, "price", JX_REQUIRED, 0, PAYMENT_PRICE_MAX) : -1;
    const char *card = jx_str(&r, "card", JX_OPTIONAL, PAYMENT_CARD_MAX);
    if (card && !payment_card_is_valid(card))
        jx_fail(&r, RC_INVALID, "field 'card' must be %d to %d digits", PAYMENT_CARD_MIN,
                PAYMENT_CARD_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    const char *user;
    int rc = auth_actor(req, named, &user);
    if (rc != RC_OK)
        return rc;
    /* A given price is what the client expects to pay: a well-formed request
     * that disagrees with the rate configured now (409, not 400). */
    int64_t price = 0;
    if (payment_price(point, rate, given, &price) != RC_OK)
        return http_fail(req, RC_PRICE_MISMATCH, "the price is point x %lld = %lld, not %lld",
                         (long long)rate, (long long)price, (long long)given);
    if ((rc = domain_users_require_active(req, st, user)) != RC_OK)
        return rc;
    if (!ctx->ext)
        return http_fail(req, RC_UNAVAILABLE, "the payment provider is not reachable");

    struct payment_record p = {
        .found = true, .price = price, .point = point, .created_at = clock_wall_ms()};
    id_uuid7(p.payment_id);
    snprintf(p.user_id, sizeof p.user_id, "%s", user);
    snprintf(p.status, sizeof p.status, "pending");
    const char *key = service_command_key(req);
    snprintf(p.idem_key, sizeof p.idem_key, "%s", key ? key : "");
    if ((rc = payment_store_insert(st, &p)) != RC_OK)
        return rc;
    struct payment_pending *pp = mem_calloc(1, sizeof *pp);
    if (!pp)
        return RC_NOMEM;
    pp->cfg = ctx->cfg;
    snprintf(pp->payment_id, sizeof pp->payment_id, "%s", p.payment_id);
    snprintf(pp->user_id, sizeof pp->user_id, "%s", user);
    pp->price = price;
    pp->has_card = card != NULL;
    snprintf(pp->card, sizeof pp->card, "%s", card ? card : "");
    payment_answer(&p, reply); /* 202 pending, until the provider has spoken */
    reply->then = (struct service_then){
        .call = payment_charge_call, .record = payment_charge_record, .data = pp};
    return RC_OK;
}

static int payment_handle_payments_post(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, payment_charge);
}

static int payment_refund(struct http_req *req, struct store *st, const json_t *body,
                          struct service_reply *reply)
{
    (void)body;
    const char *id = http_req_param(req, "id");
    struct payment_record p;
    int rc = payment_store_get(st, id, &p);
    if (rc != RC_OK)
        return rc;
    if (!p.found)
        return http_fail(req, RC_NOT_FOUND, "no payment '%.64s'", id);
    if ((rc = auth_may_act_on(req, p.user_id)) != RC_OK)
        return rc;
    const char *next = payment_next(p.status, PAYMENT_REFUND);
    if (!next)
        return http_fail(req, RC_INVALID_STATE, "a %s payment cannot be refunded", p.status);
    bool changed;
    id_uuid7(p.refund_id);
    if ((rc = payment_store_start_refund(st, id, p.refund_id, &changed)) != RC_OK)
        return rc;
    if (!changed)
        return RC_RETRY; /* a concurrent command moved it: decide again */
    snprintf(p.status, sizeof p.status, "%s", next);
    *p.refund_error = '\0';
    if ((rc = payment_emit(st, &p, EV_REFUND_REQUESTED, NULL)) != RC_OK)
        return rc;
    reply->status = 202;
    reply->body = payment_json(&p);
    return RC_OK;
}

static int payment_handle_refund_put(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_NONE, payment_refund);
}

static int payment_handle_payment_get(struct http_req *req)
{
    const char *id = http_req_param(req, "id");
    struct payment_record p;
    int rc = payment_store_get(service_store(req), id, &p);
    if (rc != RC_OK)
        return rc;
    if (!p.found)
        return http_fail(req, RC_NOT_FOUND, "no payment '%.64s'", id);
    if ((rc = auth_may_read(req, p.user_id)) != RC_OK)
        return rc;
    return http_reply_json(req, 200, payment_json(&p), "application/hal+json");
}

static int payment_handle_payments_get(struct http_req *req)
{
    return domain_listing_reply(
        req, service_store(req),
        "SELECT COUNT(*) FROM payments WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1)",
        "SELECT " PAYMENT_COLUMNS " FROM payments WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1)"
        " ORDER BY created_at DESC, payment_id LIMIT $2 OFFSET $3",
        payment_item, "payments", "/payments");
}

static const struct http_route payment_routes[] = {
    {"POST", "/payments", payment_handle_payments_post},
    {"GET", "/payments", payment_handle_payments_get},
    {"GET", "/payments/{id}", payment_handle_payment_get},
    {"PUT", "/payments/{id}/refund", payment_handle_refund_put},
    {0},
};

const struct service_def payment_service = {
    .name = "payment",
    .port_setting = CONFIG_PAYMENT_PORT,
    .schemas = payment_schemas,
    .routes = payment_routes,
    .access_rules = domain_access_rules,
    .handlers = payment_handlers,
    .ext_open = payment_provider_open,
    .ext_close = payment_provider_close,
    .ext_name = "provider",
    .ext_is_ready = payment_provider_is_ready,
    .sweep = payment_sweep,
};
