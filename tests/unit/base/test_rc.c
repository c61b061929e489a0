/* Result-code tables: names, HTTP statuses, slugs and titles, and the
 * fallback for codes outside the table. */
#include "support/test_support.h"

#include "core/base/bug.h"
#include "core/base/rc.h"

static void test_known_codes(void **state)
{
    (void)state;
    assert_string_equal(rc_name(RC_OK), "OK");
    assert_int_equal(rc_http_status(RC_OK), 200);
    assert_string_equal(rc_name(RC_NOT_FOUND), "NOT_FOUND");
    assert_int_equal(rc_http_status(RC_NOT_FOUND), 404);
    assert_string_equal(rc_slug(RC_NOT_FOUND), "not-found");
    assert_string_equal(rc_title(RC_NOT_FOUND), "Not found");
    assert_int_equal(rc_http_status(RC_CONFLICT), 409);
    assert_int_equal(rc_http_status(RC_TOO_LARGE), 413);
    assert_int_equal(rc_http_status(RC_UNSUPPORTED_MEDIA), 415);
    assert_int_equal(rc_http_status(RC_NOMEM), 503);
    assert_int_equal(rc_http_status(RC_STORE), 503);
    assert_int_equal(rc_http_status(RC_PAYMENT_DECLINED), 402);
    assert_string_equal(rc_slug(RC_NOT_IDEMPOTENT), "idempotency-key-reused");
    assert_string_equal(rc_name(RC_TIMEOUT), "TIMEOUT");
    assert_int_equal(rc_http_status(RC_TIMEOUT), 504);
}

/* Every code has a distinct name and slug, and a plausible status. */
static void test_table_is_consistent(void **state)
{
    (void)state;
    for (int a = 0; a < RC__COUNT; a++) {
        assert_string_not_equal(rc_name(a), "UNKNOWN");
        assert_true(strlen(rc_title(a)) > 0);
        int status = rc_http_status(a);
        assert_true(status >= 200 && status < 600);
        for (int b = a + 1; b < RC__COUNT; b++) {
            assert_string_not_equal(rc_name(a), rc_name(b));
            assert_string_not_equal(rc_slug(a), rc_slug(b));
        }
    }
}

static void test_out_of_range(void **state)
{
    (void)state;
    const int bad[] = {-1, RC__COUNT, RC__COUNT + 1, 100000, -100000};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_string_equal(rc_name(bad[i]), "UNKNOWN");
        assert_int_equal(rc_http_status(bad[i]), 500);
        assert_string_equal(rc_slug(bad[i]), "internal");
        assert_string_equal(rc_title(bad[i]), "Internal error");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_codes),
        cmocka_unit_test(test_table_is_consistent),
        cmocka_unit_test(test_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
