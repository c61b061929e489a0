/* Strong ETags and If-None-Match matching (RFC 9110 8.8.3, 13.1.2): pure
 * functions. */
#include "support/test_support.h"

#include "core/base/rc.h"
#include "core/http/http_internal.h"

static bool matches(const char *field, const char *etag)
{
    return http__etag_list_matches(field, strlen(field), etag);
}

static void test_etag_is_a_quoted_hash_of_the_bytes(void **state)
{
    (void)state;
    char a[HTTP_ETAG_MAX], again[HTTP_ETAG_MAX], b[HTTP_ETAG_MAX], empty[HTTP_ETAG_MAX];
    http_etag_of("{\"page\":0}", 10, a);
    http_etag_of("{\"page\":0}", 10, again);
    http_etag_of("{\"page\":1}", 10, b);
    http_etag_of("", 0, empty);
    assert_string_equal(a, again);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, empty);
    /* strong (no W/), quoted, 16 hex digits */
    assert_int_equal(strlen(a), HTTP_ETAG_MAX - 1);
    assert_int_equal(a[0], '"');
    assert_int_equal(a[HTTP_ETAG_MAX - 2], '"');
    assert_int_equal(strspn(a + 1, "0123456789abcdef"), 16);
}

static void test_one_tag_and_lists(void **state)
{
    (void)state;
    const char *tag = "\"abc\"";
    assert_true(matches("\"abc\"", tag));
    assert_true(matches("\"x\", \"abc\"", tag));
    assert_true(matches("\"x\",\"y\",\"abc\"", tag));
    assert_true(matches("  \"abc\"  ", tag));
    assert_true(matches("\"abc\"\t,\t\"x\"", tag));
    /* empty list elements are allowed */
    assert_true(matches(", ,\"abc\",", tag));
    assert_false(matches("\"x\", \"y\"", tag));
    assert_false(matches("\"abcd\"", tag));
    assert_false(matches("\"ab\"", tag));
    assert_false(matches("\"ABC\"", tag)); /* opaque tags compare byte for byte */
    assert_false(matches("", tag));
    assert_false(matches(" , ", tag));
}

static void test_weak_comparison(void **state)
{
    (void)state;
    /* If-None-Match compares weakly: W/"abc" matches "abc" */
    assert_true(matches("W/\"abc\"", "\"abc\""));
    assert_true(matches("\"x\", W/\"abc\"", "\"abc\""));
    assert_false(matches("w/\"abc\"", "\"abc\"")); /* the prefix is case-sensitive */
}

static void test_star_matches_any_representation(void **state)
{
    (void)state;
    assert_true(matches("*", "\"abc\""));
    assert_true(matches(" * ", "\"abc\""));
    /* "*" is the whole value or nothing: inside a list it is not the grammar */
    assert_false(matches("\"x\", *", "\"abc\""));
    assert_false(matches("**", "\"abc\""));
}

static void test_malformed_values_match_nothing(void **state)
{
    (void)state;
    const char *tag = "\"abc\"";
    const char *bad[] = {
        "abc",                 /* not quoted */
        "\"abc",               /* unterminated */
        "\"abc\" \"x\"",       /* no comma between tags */
        "\"abc\", x",          /* garbage after a good tag */
        "\"a bc\"",            /* a space inside the tag */
        "\"abc\"; q=1",        /* parameters are not part of the grammar */
        "W/abc",               /* weak prefix without a tag */
        "\"ab\x7f\", \"abc\"", /* DEL inside a tag */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_false(matches(bad[i], tag));
    /* obs-text (bytes >= 0x80) is allowed in a tag */
    assert_true(matches("\"\xC3\xA9\", \"abc\"", tag));
}

static void test_only_the_given_length_is_read(void **state)
{
    (void)state;
    const char field[] = "\"abc\", garbage";
    assert_true(http__etag_list_matches(field, 5, "\"abc\""));
    assert_false(http__etag_list_matches(field, sizeof field - 1, "\"abc\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag_is_a_quoted_hash_of_the_bytes),
        cmocka_unit_test(test_one_tag_and_lists),
        cmocka_unit_test(test_weak_comparison),
        cmocka_unit_test(test_star_matches_any_representation),
        cmocka_unit_test(test_malformed_values_match_nothing),
        cmocka_unit_test(test_only_the_given_length_is_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
