/* Path decoding, route matching, percent-decoding and query lookup (pure
 * functions). */
#include "support/test_support.h"

#include "core/base/rc.h"
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

/* Parses <raw>; returns the rc and, on failure, the reason in *<why>. */
static int parse(const char *raw, struct http__path *path, const char **why)
{
    return http__path_parse(raw, strlen(raw), path, test_alloc, NULL, why);
}

/* 1 when <raw> parses and fits <pattern>, 0 when it parses and does not,
 * -1 when it does not parse. */
static int match(const char *pattern, const char *raw, struct http__param *params, size_t *n)
{
    struct http__path path;
    const char *why;
    uint32_t specificity;
    if (parse(raw, &path, &why) != RC_OK)
        return -1;
    return http__route_match(pattern, &path, params, n, &specificity) ? 1 : 0;
}

static uint32_t specificity_of(const char *pattern, const char *raw)
{
    struct http__path path;
    struct http__param p[HTTP__MAX_PARAMS];
    const char *why;
    size_t n;
    uint32_t specificity = 0;
    assert_int_equal(parse(raw, &path, &why), RC_OK);
    assert_true(http__route_match(pattern, &path, p, &n, &specificity));
    return specificity;
}

static void test_literal_routes(void **state)
{
    (void)state;
    struct http__param p[HTTP__MAX_PARAMS];
    size_t n = 99;
    assert_int_equal(match("/pointers", "/pointers", p, &n), 1);
    assert_int_equal(n, 0);
    /* a trailing slash is another resource, and none of ours */
    assert_int_equal(match("/pointers", "/pointers/", p, &n), 0);
    assert_int_equal(match("/pointers/{id}", "/pointers/", p, &n), 0);
    assert_int_equal(match("/pointers/{id}", "/pointers/alice/", p, &n), 0);
    assert_int_equal(match("/pointers", "/pointer", p, &n), 0);
    assert_int_equal(match("/pointers", "/pointersx", p, &n), 0);
    assert_int_equal(match("/pointers", "/pointers/1", p, &n), 0);
    assert_int_equal(match("/pointers", "//pointers", p, &n), 0);
    assert_int_equal(match("/", "/", p, &n), 1);
    assert_int_equal(match("/", "/x", p, &n), 0);
    /* literals compare decoded: an encoded unreserved character is itself */
    assert_int_equal(match("/pointers", "/%70ointers", p, &n), 1);
    assert_int_equal(match("/pointers/{id}/withdraw", "/pointers/a/withdra%77", p, &n), 1);
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
    assert_int_equal(match("/pointers/{id}/withdraw", "/pointers//withdraw", p, &n), 0);
    assert_int_equal(match("/pointers/{id}/withdraw", "/pointers/1", p, &n), 0);
    /* decoded exactly once: %25 is a '%' in the value, not a new escape */
    assert_int_equal(match("/pointers/{id}", "/pointers/100%2541", p, &n), 1);
    assert_string_equal(p[0].value, "100%41");
    /* UTF-8, encoded or raw */
    assert_int_equal(match("/pointers/{id}", "/pointers/%C3%A9t%C3%A9", p, &n), 1);
    assert_string_equal(p[0].value, "\xC3\xA9t\xC3\xA9");
    assert_int_equal(match("/pointers/{id}", "/pointers/\xC3\xA9", p, &n), 1);
    assert_string_equal(p[0].value, "\xC3\xA9");
    /* '+' is literal in a path; a space arrives as %20 */
    assert_int_equal(match("/pointers/{id}", "/pointers/a+b%20c", p, &n), 1);
    assert_string_equal(p[0].value, "a+b c");
    /* only the ninth parameter does not fit */
    assert_int_equal(match("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", "/1/2/3/4/5/6/7/8", p, &n), 1);
    assert_int_equal(n, HTTP__MAX_PARAMS);
    assert_int_equal(match("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "/1/2/3/4/5/6/7/8/9", p, &n), 0);
}

static void test_refused_paths(void **state)
{
    (void)state;
    struct http__path path;
    const char *why;
    const char *bad[] = {
        "/pointers/%zz", /* not hex */
        "/pointers/%4",  /* cut short */
        "/pointers/%",   /* cut short */
        "/pointers/a%2", /* cut short */
        "/pointers/%00", /* NUL, which used to end the path early */
        "/pointers/alice/withdraw%00junk",
        "/pointers/a%2Fb", /* an encoded '/' inside a segment */
        "/pointers/a%2fb",
        "/pointers/%C3%28",       /* invalid UTF-8 once decoded */
        "/pointers/%C0%AF",       /* overlong '/' */
        "/pointers/%ED%A0%80",    /* a surrogate */
        "/pointers/%F4%90%80%80", /* past U+10FFFF */
        "/pointers/\xC3",         /* raw, cut short */
        "/pointers/%C3\xA9x\xA9", /* a stray continuation byte */
        "/pointers/.",            /* dot segments, raw or encoded */
        "/pointers/..",
        "/pointers/x/../alice",
        "/pointers/%2E",
        "/pointers/%2e%2E",
        "/pointers/.%2E/withdraw",
        "pointers", /* not a path */
        "",
        "*",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        why = NULL;
        assert_int_equal(parse(bad[i], &path, &why), RC_INVALID);
        assert_non_null(why);
    }
    assert_int_equal(parse("/pointers/%2Fetc", &path, &why), RC_INVALID);
    assert_non_null(strstr(why, "%2F"));
    assert_int_equal(parse("/p/%00", &path, &why), RC_INVALID);
    assert_non_null(strstr(why, "NUL"));
    assert_int_equal(parse("/p/%FF", &path, &why), RC_INVALID);
    assert_non_null(strstr(why, "UTF-8"));
    assert_int_equal(parse("/p/..", &path, &why), RC_INVALID);
    assert_non_null(strstr(why, "'..'"));
    /* dots inside a segment are data */
    assert_int_equal(parse("/p/.../a.b/..c", &path, &why), RC_OK);
    assert_int_equal(path.nsegs, 4);
    assert_string_equal(path.segs[1].value, "...");
}

static void test_canonical_form(void **state)
{
    (void)state;
    struct http__path path;
    const char *why;
    assert_int_equal(parse("/%70ointers/al%69ce/", &path, &why), RC_OK);
    assert_string_equal(path.canonical, "/pointers/alice/");
    assert_int_equal(path.nsegs, 3);
    assert_int_equal(path.segs[2].len, 0);
    assert_int_equal(parse("/a%20b/%c3%a9/%25/+:@~", &path, &why), RC_OK);
    assert_string_equal(path.canonical, "/a%20b/%C3%A9/%25/+:@~");
    assert_int_equal(parse("/", &path, &why), RC_OK);
    assert_string_equal(path.canonical, "/");
    assert_int_equal(path.nsegs, 1);
    /* more segments than kept: valid, but no route fits */
    assert_int_equal(parse("/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", &path, &why), RC_OK);
    assert_true(path.too_many);
    assert_int_equal(path.nsegs, HTTP__MAX_SEGMENTS);
    struct http__param p[HTTP__MAX_PARAMS];
    size_t n;
    uint32_t specificity;
    assert_false(http__route_match("/1", &path, p, &n, &specificity));
}

static void test_specificity(void **state)
{
    (void)state;
    /* a literal beats a parameter at the first place they differ */
    assert_true(specificity_of("/purchases/buywebtoon", "/purchases/buywebtoon") >
                specificity_of("/purchases/{id}", "/purchases/buywebtoon"));
    assert_true(specificity_of("/a/{x}/c", "/a/b/c") > specificity_of("/{y}/b/c", "/a/b/c"));
    assert_int_equal(specificity_of("/a/{x}", "/a/1"), specificity_of("/a/{y}", "/a/1"));
}

static void test_escape_and_utf8(void **state)
{
    (void)state;
    const char raw[] = "/a b/%zz/\xC3\"\x7F";
    assert_string_equal(http__path_escape(raw, strlen(raw), test_alloc, NULL),
                        "/a%20b/%zz/%C3\"%7F");
    assert_int_equal(http__target_path_offset("/a?b", 2), 0);
    assert_int_equal(http__target_path_offset("http://h:1/a", 12), 10);
    assert_int_equal(http__target_path_offset("HTTPS://h", 9), 9);
    assert_int_equal(http__target_path_offset("*", 1), 0);
    assert_int_equal(http__target_path_offset("a/b://c", 7), 0);
    assert_int_equal(http__utf8_valid_prefix("ab\xC3\xA9", 4), 4);
    assert_int_equal(http__utf8_valid_prefix("ab\xC3", 3), 2);
    assert_int_equal(http__utf8_valid_prefix("\xE2\x82\xAC\xF0\x9F\x98\x80", 7), 7);
    assert_int_equal(http__utf8_valid_prefix("a\xF0\x9F\x98", 4), 1);
    assert_int_equal(http__utf8_valid_prefix("\xE0\x80\xAF", 3), 0);
    assert_int_equal(http__utf8_valid_prefix("\xC1\xBF", 2), 0);
    assert_int_equal(http__utf8_valid_prefix("\xF5\x80\x80\x80", 4), 0);
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
        cmocka_unit_test(test_refused_paths),   cmocka_unit_test(test_canonical_form),
        cmocka_unit_test(test_specificity),     cmocka_unit_test(test_escape_and_utf8),
        cmocka_unit_test(test_percent_decode),  cmocka_unit_test(test_query),
        cmocka_unit_test(test_json_media_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
