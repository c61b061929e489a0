/* What the history view reads from an event: the fields of its change, and
 * the actor, which events from before actors existed do not carry. */
#include "support/test_support.h"

#include <jansson.h>

#include "core/auth/verify.h"
#include "core/base/rc.h"
#include "svc/history/history.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actor_is_read),
        cmocka_unit_test(test_an_event_without_actor_has_none),
        cmocka_unit_test(test_a_malformed_actor_is_unknown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(last_payload);
    return failed;
}
