/* Route matching, percent-decoding and query lookup (pure functions). */
#include "support/test_support.h"

#include "core/http/http_internal.h"

static void *test_alloc(void *pool, size_t size)
{
    (void)pool;
    static char arena[1 << 16];
    static size_t used;
    if (used + size > sizeof arena)
        used = 0;
    void *p = arena + used;
    used += size;
    return p;
}

static int match(const char *pattern, const char *path, struct http__param *params, size_t *n)
{
    return http__route_match(pattern, path, strlen(path), params, n, test_alloc, NULL);
}

static void test_literal_routes(void **state)
{
    (void)state;
    struct http__param p[HTTP__MAX_PARAMS];
    size_t n = 99;
    assert_int_equal(match("/pointers", "/pointers", p, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(match("/pointers", "/pointers/", p, &n), 1);
    assert_int_equal(match("/pointers", "/pointer", p, &n), 0);
    assert_int_equal(match("/pointers", "/pointersx", p, &n), 0);
    assert_int_equal(match("/pointers", "/pointers/1", p, &n), 0);
    assert_int_equal(match("/", "/", p, &n), 1);
}

static void test_parameters(void **state)
{
    (void)state;
    struct http__param p[HTTP__MAX_PARAMS];
    size_t n = 0;
    assert_int_equal(match("/pointers/{id}/withdraw", "/pointers/u%2D1/withdraw", p, &n), 1);
    assert_int_equal(n, 1);
    assert_memory_equal(p[0].name, "id", 2);
    assert_string_equal(p[0].value, "u-1");
    assert_int_equal(match("/a/{x}/b/{y}", "/a/1/b/two", p, &n), 1);
    assert_int_equal(n, 2);
    assert_string_equal(p[1].value, "two");
    /* an empty segment never fills a parameter */
    assert_int_equal(match("/pointers/{id}", "/pointers//", p, &n), 0);
    assert_int_equal(match("/pointers/{id}/withdraw", "/pointers/1", p, &n), 0);
    /* a matching shape with a broken escape is a client error, not a miss */
    assert_int_equal(match("/pointers/{id}", "/pointers/%zz", p, &n), -1);
    assert_int_equal(match("/pointers/{id}", "/pointers/%00", p, &n), -1);
}

static void test_percent_decode(void **state)
{
    (void)state;
    char out[64];
    size_t len;
    assert_true(http__percent_decode("a%20b+c", 7, true, out, &len));
    assert_string_equal(out, "a b c");
    assert_true(http__percent_decode("a+b", 3, false, out, &len));
    assert_string_equal(out, "a+b");
    assert_false(http__percent_decode("%4", 2, false, out, &len));
    assert_false(http__percent_decode("%", 1, false, out, &len));
    assert_false(http__percent_decode("%g0", 3, false, out, &len));
}

static void test_query(void **state)
{
    (void)state;
    const char *q = "page=2&size=10&userId=u%201&flag";
    assert_string_equal(http__query_get(q, strlen(q), "page", test_alloc, NULL), "2");
    assert_string_equal(http__query_get(q, strlen(q), "userId", test_alloc, NULL), "u 1");
    assert_string_equal(http__query_get(q, strlen(q), "flag", test_alloc, NULL), "");
    assert_null(http__query_get(q, strlen(q), "pag", test_alloc, NULL));
    assert_null(http__query_get(q, strlen(q), "missing", test_alloc, NULL));
}

static void test_json_media_type(void **state)
{
    (void)state;
    const char *ok[] = {"application/json", "application/json; charset=utf-8", "Application/JSON",
                        "application/hal+json", "application/merge-patch+json"};
    const char *bad[] = {"text/plain", "application/jsonx", "application/x-www-form-urlencoded",
                         "application/+json", ""};
    for (size_t i = 0; i < ARRAY_LEN(ok); i++)
        assert_true(http__is_json_media_type(ok[i], strlen(ok[i])));
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_false(http__is_json_media_type(bad[i], strlen(bad[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_routes),  cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_percent_decode),  cmocka_unit_test(test_query),
        cmocka_unit_test(test_json_media_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
