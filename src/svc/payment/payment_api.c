/* HTTP routes of the payment service. */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/rc.h"
#include "core/domain/users.h"
#include "core/json/jx.h"
#include "core/service/command.h"
#include "svc/payment/payment.h"

static int payment_charge(struct http_req *req, struct store *st, const json_t *body,
                          struct service_reply *reply)
{
    const struct service_ctx *ctx = http_req_ctx(req);
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "userId", "point", "price", "card", (const char *)NULL);
    const char *user = jx_str(&r, "userId", JX_REQUIRED, DOMAIN_ID_MAX);
    int64_t point = jx_int(&r, "point", JX_REQUIRED, 1, PAYMENT_POINT_MAX);
    int64_t rate = config_int(ctx->cfg, CONFIG_PRICE_PER_POINT);
    int64_t given =
        jx_has(&r, "price") ? jx_int(&r, "price", JX_REQUIRED, 0, PAYMENT_PRICE_MAX) : -1;
    const char *card = jx_str(&r, "card", JX_OPTIONAL, PAYMENT_CARD_MAX);
    if (!domain_id_is_valid(user))
        jx_fail(&r, RC_INVALID, "field 'userId' may use only letters, digits and . _ : -");
    if (card && !payment_card_is_valid(card))
        jx_fail(&r, RC_INVALID, "field 'card' must be %d to %d digits", PAYMENT_CARD_MIN,
                PAYMENT_CARD_MAX);
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    /* A given price is what the client expects to pay: a well-formed request
     * that disagrees with the rate configured now (409, not 400). */
    int64_t price = 0;
    if (payment_price(point, rate, given, &price) != RC_OK)
        return http_fail(req, RC_PRICE_MISMATCH, "the price is point x %lld = %lld, not %lld",
                         (long long)rate, (long long)price, (long long)given);
    int rc = domain_users_require_active(req, st, user);
    if (rc != RC_OK)
        return rc;

    struct payment_record p = {
        .found = true, .price = price, .point = point, .created_at = clock_wall_ms()};
    id_uuid(p.payment_id);
    snprintf(p.user_id, sizeof p.user_id, "%s", user);
    bool approved = false;
    struct payment_charge charge = {.user = user, .price = price, .card = card};
    if ((rc = payment_provider_simulated.charge(&charge, &approved, p.reason, sizeof p.reason)) !=
        RC_OK)
        return http_fail(req, RC_UNAVAILABLE, "the payment provider is not answering");
    snprintf(p.status, sizeof p.status, "%s", approved ? "approved" : "declined");
    if ((rc = payment_store_insert(st, &p)) != RC_OK ||
        (rc = payment_emit(st, &p, approved ? EV_PAYMENT_COMPLETE : EV_PAYMENT_FAILED,
                           approved ? NULL : p.reason)) != RC_OK)
        return rc;
    snprintf(reply->location, sizeof reply->location, "/payments/%s", p.payment_id);
    if (approved) {
        reply->status = 201;
        reply->body = payment_json(&p);
        return RC_OK;
    }
    /* Declined, but recorded: a problem that still names the payment. */
    char detail[192];
    snprintf(detail, sizeof detail, "the payment provider said: %s; nothing was charged", p.reason);
    reply->status = 402;
    reply->content_type = "application/problem+json";
    reply->body = http_problem_new(req, RC_PAYMENT_DECLINED, detail);
    if (reply->body) {
        json_object_set_new(reply->body, "paymentId", json_string(p.payment_id));
        json_object_set_new(reply->body, "reason", json_string(p.reason));
    }
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
    if (strcmp(p.status, "approved") != 0)
        return http_fail(req, RC_INVALID_STATE, "a %s payment cannot be refunded", p.status);
    bool changed;
    if ((rc = payment_store_transition(st, id, "approved", "refunding", NULL, &changed)) != RC_OK ||
        (rc = payment_emit(st, &p, EV_REFUND_REQUESTED, NULL)) != RC_OK)
        return rc;
    snprintf(p.status, sizeof p.status, "refunding");
    *p.refund_error = '\0';
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
    return http_reply_json(req, 200, payment_json(&p), "application/hal+json");
}

static int payment_handle_payments_get(struct http_req *req)
{
    return hal_reply_user_collection(
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
    .handlers = payment_handlers,
};
