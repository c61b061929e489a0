/* UUIDs (random v4, time-ordered v7) and the token check used on client-chosen ids. */
#include "support/test_support.h"

#include <time.h>

#include "core/base/bug.h"
#include "core/base/id.h"

#define ID_MANY 20000

static bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static void test_uuid_format(void **state)
{
    (void)state;
    for (int n = 0; n < 1000; n++) {
        char u[ID_UUID_LEN + 2];
        memset(u, 'X', sizeof u);
        id_uuid(u);
        assert_int_equal(strlen(u), ID_UUID_LEN);
        for (int i = 0; i < ID_UUID_LEN; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(u[i], '-');
            else
                assert_true(is_lower_hex(u[i]));
        }
        assert_int_equal(u[14], '4');              /* version 4 */
        assert_non_null(strchr("89ab", u[19]));    /* RFC 4122 variant */
        assert_int_equal(u[ID_UUID_LEN + 1], 'X'); /* nothing written past the NUL */
    }
}

static int compare_ids(const void *a, const void *b) { return strcmp(a, b); }

/* v7: version 7, the RFC variant, the Unix time in ms in the first 48
 * bits, and ids made one after another sort in that order (the point:
 * new database keys go to the end of their index). */
static void test_uuid7_is_time_ordered(void **state)
{
    (void)state;
    char(*ids)[ID_UUID_LEN + 1] = malloc(sizeof *ids * ID_MANY);
    assert_non_null(ids);
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    for (int i = 0; i < ID_MANY; i++)
        id_uuid7(ids[i]);
    clock_gettime(CLOCK_REALTIME, &after);
    for (int i = 0; i < ID_MANY; i++) {
        const char *u = ids[i];
        assert_int_equal(strlen(u), ID_UUID_LEN);
        assert_int_equal(u[14], '7');
        assert_non_null(strchr("89ab", u[19]));
        char hex[13];
        memcpy(hex, u, 8);
        memcpy(hex + 8, u + 9, 4);
        hex[12] = '\0';
        long long ms = strtoll(hex, NULL, 16);
        assert_true(ms >= before.tv_sec * 1000LL + before.tv_nsec / 1000000);
        assert_true(ms <= after.tv_sec * 1000LL + after.tv_nsec / 1000000);
        if (i > 0) /* the time part never goes back; random tails may tie-break either way */
            assert_true(strncmp(ids[i - 1], u, 18) <= 0);
    }
    qsort(ids, ID_MANY, sizeof *ids, compare_ids);
    for (int i = 1; i < ID_MANY; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void test_uuid_unique(void **state)
{
    (void)state;
    char(*ids)[ID_UUID_LEN + 1] = malloc(sizeof *ids * ID_MANY);
    assert_non_null(ids);
    for (int i = 0; i < ID_MANY; i++)
        id_uuid(ids[i]);
    qsort(ids, ID_MANY, sizeof *ids, compare_ids);
    for (int i = 1; i < ID_MANY; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static bool token(const char *s, size_t max) { return id_is_token(s, strlen(s), max); }

static void test_token_accepts(void **state)
{
    (void)state;
    assert_true(token("a", 64));
    assert_true(token("user-1", 64));
    assert_true(token("A.b_c:d-9", 64));
    assert_true(token("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._:-", 100));
    char u[ID_UUID_LEN + 1];
    id_uuid(u);
    assert_true(token(u, ID_UUID_LEN));
    /* only <len> bytes are looked at */
    assert_true(id_is_token("ok then", 2, 64));
}

static void test_token_rejects(void **state)
{
    (void)state;
    assert_false(token("", 64));
    const char *bad[] = {"a b",  "a/b", "a%20", "a?b", "a&b", "a\"b",  "a\\b",  "a'b", "a\tb",
                         "a\nb", "a+b", "a=b",  "a#b", "é",   "a\x7f", "a\x01", "{x}", "a;b"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_false(token(bad[i], 64));
    /* a NUL inside the given length is not a token character */
    assert_false(id_is_token("a\0b", 3, 64));
    assert_false(id_is_token("\0", 1, 64));
}

/* A name is a token that can stand as a URL path segment: not "." or "..". */
static void test_name(void **state)
{
    (void)state;
    assert_true(id_is_name("a", 64));
    assert_true(id_is_name("a.b", 64));
    assert_true(id_is_name(".a", 64));
    assert_true(id_is_name("...x", 64));
    assert_false(id_is_name("", 64));
    assert_false(id_is_name(".", 64));
    assert_false(id_is_name("..", 64));
    assert_false(id_is_name("...", 64));
    assert_false(id_is_name("a b", 64));
    assert_false(id_is_name("abc", 2));
}

static void test_token_length_limit(void **state)
{
    (void)state;
    char s[130];
    memset(s, 'x', sizeof s);
    assert_true(id_is_token(s, 64, 64));
    assert_false(id_is_token(s, 65, 64));
    assert_true(id_is_token(s, 1, 1));
    assert_false(id_is_token(s, 2, 1));
    assert_false(id_is_token(s, 1, 0)); /* a limit of 0 admits nothing */
    assert_true(id_is_token(s, sizeof s, sizeof s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_format),
        cmocka_unit_test(test_uuid_unique),
        cmocka_unit_test(test_uuid7_is_time_ordered),
        cmocka_unit_test(test_token_accepts),
        cmocka_unit_test(test_token_rejects),
        cmocka_unit_test(test_token_length_limit),
        cmocka_unit_test(test_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
