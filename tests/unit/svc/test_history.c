/* How events shape the history view: the change of every event type (the
 * whole catalog, consumed or not), what the view reads from an event (the
 * fields of its change, and the actor, which events from before actors
 * existed do not carry). */
#include "support/test_machine.h"

#include <jansson.h>

#include "core/auth/verify.h"
#include "core/base/rc.h"
#include "svc/history/history.h"
#include "svc/payment/payment.h"
#include "svc/purchase/purchase.h"

/* Every event type of domain/events.h and what it does to the view
 * (kind NULL and no status: ignored, or a balance only). */
static const struct history_change expected[] = {
    /* event type                 kind        ref field     status       user status  balance */
    {EV_JOINED, "account", NULL, "joined", "joined", "point"},
    {EV_WITHDRAWN, "account", NULL, "withdrawn", "withdrawn", NULL},
    {EV_INCREASED, NULL, NULL, NULL, NULL, "point"},
    {EV_INCREASE_FAILED, NULL, NULL, NULL, NULL, NULL},
    {EV_DECREASED_COMPLETE, NULL, NULL, NULL, NULL, "point"},
    {EV_DECREASE_FAILED, NULL, NULL, NULL, NULL, NULL},
    {EV_CHECK_CORRECTED, NULL, NULL, NULL, NULL, "myPoint"},
    {EV_CHECK_REJECTED, NULL, NULL, NULL, NULL, NULL},
    {EV_PAYMENT_COMPLETE, "payment", "paymentId", "approved", NULL, NULL},
    {EV_PAYMENT_FAILED, "payment", "paymentId", "declined", NULL, NULL},
    {EV_REFUND_REQUESTED, "payment", "paymentId", "refunding", NULL, NULL},
    {EV_REFUND_COMPLETE, "payment", "paymentId", "refunded", NULL, NULL},
    {EV_REFUND_FAILED, "payment", "paymentId", "approved", NULL, NULL},
    {EV_BUY_COMPLETE, "purchase", "purchaseId", "pending", NULL, NULL},
    {EV_BUY_FAILED, "purchase", "purchaseId", "rejected", NULL, NULL},
    {EV_CANCEL_REQUESTED, "purchase", "purchaseId", "cancelling", NULL, NULL},
    {EV_CANCEL_COMPLETE, "purchase", "purchaseId", "cancelled", NULL, NULL},
    {EV_CANCEL_FAILED, "purchase", "purchaseId", "approved", NULL, NULL},
    {EV_UPLOADED, NULL, NULL, NULL, NULL, NULL},
    {EV_UPDATED, NULL, NULL, NULL, NULL, NULL},
    {EV_ACCESS_GRANTED, "purchase", "purchaseId", "approved", NULL, NULL},
    {EV_OPEN_APPROVED, "read", NULL, "approved", NULL, NULL},
    {EV_OPEN_REJECTED, "read", NULL, "rejected", NULL, NULL},
    {EV_PURCHASE_CANCEL_COMPLETE, NULL, NULL, NULL, NULL, NULL},
    {EV_PURCHASE_CANCEL_FAILED, NULL, NULL, NULL, NULL, NULL},
};

static bool ignored(const struct history_change *e)
{
    return !e->kind && !e->status && !e->user_status && !e->balance_field;
}

static void assert_same_text(const char *what, const char *type, const char *got, const char *want)
{
    if (!got != !want || (got && strcmp(got, want) != 0))
        fail_msg("%s: %s is %s, expected %s", type, what, got ? got : "NULL", want ? want : "NULL");
}

/* Each event type has the change the table above says, and the view's
 * table holds no other: every consumed type once. */
static void test_every_event_type(void **state)
{
    (void)state;
    size_t consumed = 0;
    for (size_t i = 0; i < ARRAY_LEN(expected); i++) {
        const struct history_change *e = &expected[i], *c = history_change_for(e->event_type);
        if (ignored(e)) {
            if (c)
                fail_msg("%s changes the view; expected it ignored", e->event_type);
            continue;
        }
        consumed++;
        if (!c)
            fail_msg("%s is ignored by the view", e->event_type);
        assert_same_text("the kind", e->event_type, c->kind, e->kind);
        assert_same_text("the ref field", e->event_type, c->ref_field, e->ref_field);
        assert_same_text("the status", e->event_type, c->status, e->status);
        assert_same_text("the user status", e->event_type, c->user_status, e->user_status);
        assert_same_text("the balance field", e->event_type, c->balance_field, e->balance_field);
    }
    size_t n = 0;
    for (const struct history_change *c = history_changes; c->event_type; c++, n++) {
        assert_ptr_equal(history_change_for(c->event_type), c);
        int seen = 0;
        for (size_t i = 0; i < ARRAY_LEN(expected); i++)
            seen += !strcmp(expected[i].event_type, c->event_type);
        if (seen != 1)
            fail_msg("%s is expected %d times, not once", c->event_type, seen);
    }
    assert_int_equal(n, consumed);
    assert_null(history_change_for("NoSuchEvent"));
    assert_null(history_change_for(""));
}

/* The view shows a payment or purchase in a status its service has: the
 * three services agree on the words. */
static void test_statuses_are_the_services(void **state)
{
    (void)state;
    for (const struct history_change *c = history_changes; c->event_type; c++) {
        if (c->kind && !strcmp(c->kind, "payment") && !test_is_state(payment_statuses, c->status))
            fail_msg("%s: '%s' is not a payment status", c->event_type, c->status);
        if (c->kind && !strcmp(c->kind, "purchase") && !test_is_state(purchase_statuses, c->status))
            fail_msg("%s: '%s' is not a purchase status", c->event_type, c->status);
    }
}

/* The payload of the last read_fields call: what its fields borrow. */
static json_t *last_payload;

/* history_read_fields on <text> as an event of <type>; the strings in <f>
 * stay valid until the next call. */
static int read_fields(const char *type, const char *text, struct history_fields *f)
{
    json_error_t err;
    json_decref(last_payload);
    /* JSON_ALLOW_NUL: the inbox's parser refuses a NUL; the view copes anyway */
    last_payload = json_loads(text, JSON_ALLOW_NUL, &err);
    if (!last_payload)
        fail_msg("bad test payload: %s", err.text);
    return history_read_fields(history_change_for(type), last_payload, f);
}

static void test_actor_is_read(void **state)
{
    (void)state;
    struct history_fields f;
    assert_int_equal(read_fields(EV_PAYMENT_COMPLETE,
                                 "{\"eventType\":\"PaymentComplete\",\"actor\":\"alice\","
                                 "\"paymentId\":\"p1\",\"userId\":\"alice\",\"point\":5}",
                                 &f),
                     RC_OK);
    assert_string_equal(f.actor, "alice");
}

static void test_an_event_without_actor_has_none(void **state)
{
    (void)state;
    struct history_fields f;
    assert_int_equal(read_fields(EV_BUY_FAILED,
                                 "{\"eventType\":\"BuyFailed\",\"purchaseId\":\"b1\","
                                 "\"userId\":\"bob\",\"reason\":\"not confirmed in time\"}",
                                 &f),
                     RC_OK);
    assert_null(f.actor);
    assert_int_equal(read_fields(EV_JOINED, "{\"userId\":\"ann\",\"point\":0,\"actor\":null}", &f),
                     RC_OK);
    assert_null(f.actor);
}

/* Like the inbox, which passes on only a string: a malformed actor makes
 * the event's actor unknown, and the event still counts. */
static void test_a_malformed_actor_is_unknown(void **state)
{
    (void)state;
    struct history_fields f;
    char text[AUTH_USER_MAX + 128], name[AUTH_USER_MAX + 2];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    static const char *const actors[] = {"7", "\"\"", "[\"alice\"]", "{}", "\"al\\u0000ice\""};
    for (size_t i = 0; i < ARRAY_LEN(actors); i++) {
        snprintf(text, sizeof text, "{\"userId\":\"ann\",\"point\":0,\"actor\":%s}", actors[i]);
        assert_int_equal(read_fields(EV_JOINED, text, &f), RC_OK);
        assert_null(f.actor);
        assert_string_equal(f.user, "ann");
    }
    snprintf(text, sizeof text, "{\"userId\":\"ann\",\"point\":0,\"actor\":\"%s\"}", name);
    assert_int_equal(read_fields(EV_JOINED, text, &f), RC_OK);
    assert_null(f.actor);
    name[AUTH_USER_MAX] = '\0'; /* the longest user name a token may carry */
    snprintf(text, sizeof text, "{\"userId\":\"ann\",\"point\":0,\"actor\":\"%s\"}", name);
    assert_int_equal(read_fields(EV_JOINED, text, &f), RC_OK);
    assert_string_equal(f.actor, name);
}

/* An event without its user or the id of its entry cannot be shown. */
static void test_required_fields(void **state)
{
    (void)state;
    struct history_fields f;
    assert_int_equal(read_fields(EV_PAYMENT_COMPLETE, "{\"paymentId\":\"p1\",\"point\":5}", &f),
                     RC_BAD_EVENT);
    assert_int_equal(read_fields(EV_PAYMENT_COMPLETE, "{\"userId\":\"ann\",\"point\":5}", &f),
                     RC_BAD_EVENT);
    assert_int_equal(read_fields(EV_PAYMENT_COMPLETE, "{\"userId\":7,\"paymentId\":\"p1\"}", &f),
                     RC_BAD_EVENT);
    /* a read names no entry id: every open is a new entry */
    assert_int_equal(read_fields(EV_OPEN_APPROVED, "{\"userId\":\"ann\",\"webtoonId\":\"w\"}", &f),
                     RC_OK);
    assert_null(f.ref);
    assert_string_equal(f.webtoon, "w");
}

/* The balance comes from the field the change names, and only from it. */
static void test_balance_field(void **state)
{
    (void)state;
    struct history_fields f;
    assert_int_equal(read_fields(EV_CHECK_CORRECTED,
                                 "{\"userId\":\"ann\",\"purchaseId\":\"b1\",\"point\":30,"
                                 "\"myPoint\":70}",
                                 &f),
                     RC_OK);
    assert_true(f.has_balance);
    assert_int_equal(f.balance, 70);
    assert_true(f.has_point);
    assert_int_equal(f.point, 30);
    assert_int_equal(read_fields(EV_INCREASED, "{\"userId\":\"ann\",\"amount\":5}", &f), RC_OK);
    assert_false(f.has_balance);
    /* a withdrawal carries no balance, whatever its payload holds */
    assert_int_equal(read_fields(EV_WITHDRAWN, "{\"userId\":\"ann\",\"point\":9}", &f), RC_OK);
    assert_false(f.has_balance);
    assert_int_equal(read_fields(EV_INCREASED, "{\"userId\":\"ann\",\"point\":-1}", &f),
                     RC_BAD_EVENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_event_type),
        cmocka_unit_test(test_statuses_are_the_services),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_balance_field),
        cmocka_unit_test(test_actor_is_read),
        cmocka_unit_test(test_an_event_without_actor_has_none),
        cmocka_unit_test(test_a_malformed_actor_is_unknown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(last_payload);
    return failed;
}
