/* JSON parsing of untrusted bodies and the sticky-error field reader. */
#include "support/test_support.h"

#include "core/base/bug.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"

/* Parses <text> (a C string) as jx_parse would see a body. */
static int parse(const char *text, bool want_object, json_t **out, char *detail)
{
    return jx_parse(text, strlen(text), want_object, out, detail, 256);
}

static void test_parse_object(void **state)
{
    (void)state;
    json_t *v = NULL;
    char detail[256] = "";
    assert_int_equal(
        parse("{\"a\": 1, \"b\": [true, null], \"c\": {\"d\": \"e\"}}", true, &v, detail), RC_OK);
    assert_true(json_is_object(v));
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    /* whitespace around the value is fine */
    assert_int_equal(parse(" \n{}\t ", true, &v, detail), RC_OK);
    json_decref(v);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    const char *bad[] = {
        "",      "   ",         "{",          "{\"a\":1",         "{\"a\":1}x",      "{\"a\":1} {}",
        "{a:1}", "{'a':1}",     "{\"a\":01}", "{\"a\":1,}",       "{\"a\":\"\\x\"}", "nul",
        "[1,",   "{\"a\":NaN}", "\xff",       "{\"a\":\"\xc3\"}",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        json_t *v = (json_t *)1;
        char detail[256] = "";
        int rc = parse(bad[i], false, &v, detail);
        if (rc != RC_BAD_JSON)
            fail_msg("accepted %s", bad[i]);
        assert_null(v);
        assert_non_null(strstr(detail, "invalid JSON"));
    }
}

static void test_parse_rejects_duplicates(void **state)
{
    (void)state;
    json_t *v = NULL;
    char detail[256] = "";
    assert_int_equal(parse("{\"a\":1,\"a\":2}", true, &v, detail), RC_BAD_JSON);
    assert_null(v);
    assert_non_null(strstr(detail, "duplicate"));
    /* nested objects too */
    assert_int_equal(parse("{\"o\":{\"k\":1,\"k\":1}}", true, &v, detail), RC_BAD_JSON);
    /* the same key in sibling objects is not a duplicate */
    assert_int_equal(parse("{\"o\":{\"k\":1},\"p\":{\"k\":1}}", true, &v, detail), RC_OK);
    json_decref(v);
}

static void test_parse_object_required(void **state)
{
    (void)state;
    const char *non_objects[] = {"[]", "[1,2]", "\"text\"", "42", "true", "null", "1.5"};
    for (size_t i = 0; i < ARRAY_LEN(non_objects); i++) {
        json_t *v = (json_t *)1;
        char detail[256] = "";
        assert_int_equal(parse(non_objects[i], true, &v, detail), RC_BAD_JSON);
        assert_null(v);
    }
    json_t *v = NULL;
    char detail[256] = "";
    assert_int_equal(parse("[1,2]", true, &v, detail), RC_BAD_JSON);
    assert_string_equal(detail, "the body must be a JSON object");
    /* without want_object an array root is fine */
    assert_int_equal(parse("[1,2]", false, &v, detail), RC_OK);
    assert_true(json_is_array(v));
    json_decref(v);
}

/* The length given is respected: bytes after it are not read. */
static void test_parse_uses_length(void **state)
{
    (void)state;
    const char text[] = "{\"a\":1}garbage";
    json_t *v = NULL;
    char detail[256];
    assert_int_equal(jx_parse(text, 7, true, &v, detail, sizeof detail), RC_OK);
    json_decref(v);
    assert_int_equal(jx_parse(text, 6, true, &v, detail, sizeof detail), RC_BAD_JSON);
    /* an embedded NUL byte in the body is not valid JSON */
    assert_int_equal(jx_parse("{}\0", 3, true, &v, detail, sizeof detail), RC_BAD_JSON);
}

static json_t *object(const char *text)
{
    json_t *v = NULL;
    char detail[256];
    assert_int_equal(parse(text, true, &v, detail), RC_OK);
    return v;
}

static void test_str(void **state)
{
    (void)state;
    json_t *o = object("{\"name\":\"kim\",\"long\":\"abcdef\",\"empty\":\"\",\"n\":5,"
                       "\"nul\":null,\"utf\":\"\xed\x95\x9c\"}");
    struct jx_reader r;
    jx_reader_init(&r, o);
    assert_string_equal(jx_str(&r, "name", JX_REQUIRED, 3), "kim");
    assert_null(jx_str(&r, "missing", JX_OPTIONAL, 10));
    assert_null(jx_str(&r, "nul", JX_OPTIONAL, 10)); /* null counts as absent */
    assert_string_equal(jx_str(&r, "utf", JX_REQUIRED, 3), "\xed\x95\x9c"); /* bytes, not chars */
    assert_int_equal(r.rc, RC_OK);
    assert_string_equal(r.detail, "");

    jx_reader_init(&r, o);
    assert_null(jx_str(&r, "long", JX_REQUIRED, 5));
    assert_int_equal(r.rc, RC_INVALID);
    assert_non_null(strstr(r.detail, "'long'"));
    assert_non_null(strstr(r.detail, "1 to 5"));

    jx_reader_init(&r, o);
    assert_null(jx_str(&r, "empty", JX_OPTIONAL, 5)); /* present but empty: refused */
    assert_int_equal(r.rc, RC_INVALID);

    jx_reader_init(&r, o);
    assert_null(jx_str(&r, "n", JX_OPTIONAL, 5));
    assert_int_equal(r.rc, RC_INVALID);
    assert_non_null(strstr(r.detail, "must be a string"));

    jx_reader_init(&r, o);
    assert_null(jx_str(&r, "missing", JX_REQUIRED, 5));
    assert_int_equal(r.rc, RC_INVALID);
    assert_string_equal(r.detail, "field 'missing' is required");

    jx_reader_init(&r, o);
    assert_null(jx_str(&r, "nul", JX_REQUIRED, 5));
    assert_int_equal(r.rc, RC_INVALID);
    json_decref(o);
}

static void test_text_counts_characters(void **state)
{
    (void)state;
    /* three Hangul syllables: 9 bytes, 3 characters */
    json_t *o = object("{\"t\":\"\xed\x95\x9c\xea\xb8\x80\xec\x9e\x90\",\"e\":\"\",\"n\":1}");
    struct jx_reader r;
    jx_reader_init(&r, o);
    assert_string_equal(jx_text(&r, "t", JX_REQUIRED, 3), "\xed\x95\x9c\xea\xb8\x80\xec\x9e\x90");
    assert_null(jx_text(&r, "missing", JX_OPTIONAL, 3));
    assert_int_equal(r.rc, RC_OK);
    assert_null(jx_text(&r, "t", JX_REQUIRED, 2));
    assert_int_equal(r.rc, RC_INVALID);
    assert_non_null(strstr(r.detail, "1 to 2 characters"));
    jx_reader_init(&r, o);
    assert_null(jx_text(&r, "e", JX_OPTIONAL, 3));
    assert_int_equal(r.rc, RC_INVALID);
    jx_reader_init(&r, o);
    assert_null(jx_text(&r, "n", JX_OPTIONAL, 3));
    assert_non_null(strstr(r.detail, "must be a string"));
    json_decref(o);
}

static void test_only_named_fields(void **state)
{
    (void)state;
    json_t *o = object("{\"userId\":\"u\",\"point\":1}");
    struct jx_reader r;
    jx_reader_init(&r, o);
    jx_only(&r, "userId", "point", "price", (const char *)NULL);
    assert_int_equal(r.rc, RC_OK);
    jx_only(&r, "userId", (const char *)NULL);
    assert_int_equal(r.rc, RC_INVALID);
    assert_string_equal(r.detail, "field 'point' is not part of this request");
    json_decref(o);

    o = object("{\"userId\":\"u\",\"card\":null}");
    jx_reader_init(&r, o);
    jx_only(&r, "userId", "card", (const char *)NULL);
    assert_int_equal(r.rc, RC_INVALID);
    assert_non_null(strstr(r.detail, "'card' must not be null"));
    json_decref(o);

    /* sticky: a reader that failed already keeps its first reason */
    o = object("{\"x\":1}");
    jx_reader_init(&r, o);
    jx_fail(&r, RC_BAD_JSON, "first");
    jx_only(&r, (const char *)NULL);
    assert_int_equal(r.rc, RC_BAD_JSON);
    assert_string_equal(r.detail, "first");
    json_decref(o);
    /* no object at all: nothing to refuse */
    jx_reader_init(&r, NULL);
    jx_only(&r, (const char *)NULL);
    assert_int_equal(r.rc, RC_OK);
}

static void test_str_rejects_nul(void **state)
{
    (void)state;
    /* an escaped NUL never gets past the parser... */
    json_t *v = (json_t *)1;
    char detail[256] = "";
    assert_int_equal(parse("{\"id\":\"a\\u0000b\"}", true, &v, detail), RC_BAD_JSON);
    assert_null(v);
    /* ...and the reader refuses one in an object built another way */
    json_t *o = json_pack("{s:s#, s:s#}", "id", "a\0b", (size_t)3, "end", "ab\0", (size_t)3);
    assert_non_null(o);
    struct jx_reader r;
    jx_reader_init(&r, o);
    assert_null(jx_str(&r, "id", JX_REQUIRED, 64));
    assert_int_equal(r.rc, RC_INVALID);
    assert_non_null(strstr(r.detail, "NUL"));
    jx_reader_init(&r, o);
    assert_null(jx_str(&r, "end", JX_REQUIRED, 64));
    assert_int_equal(r.rc, RC_INVALID);
    json_decref(o);
}

/* A client-chosen id: a bounded string of the id characters, not dots
 * only; anything else fails the reader with the rule, naming the field. */
static void test_id(void **state)
{
    (void)state;
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "ok", "user-1.a_b:c", "space", "a b", "slash",
                  "a/b", "dots", "..", "long",
                  "12345678901234567890123456789012345678901234567890123456789012345", "number", 7);
    assert_non_null(o);
    struct jx_reader r;
    jx_reader_init(&r, o);
    assert_string_equal(jx_id(&r, "ok", JX_REQUIRED, 64), "user-1.a_b:c");
    assert_null(jx_id(&r, "absent", JX_OPTIONAL, 64));
    assert_int_equal(r.rc, RC_OK);
    static const char *const bad[] = {"space", "slash", "dots"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        jx_reader_init(&r, o);
        assert_null(jx_id(&r, bad[i], JX_REQUIRED, 64));
        assert_int_equal(r.rc, RC_INVALID);
        char want[128];
        snprintf(want, sizeof want, "field '%s' may use only letters, digits and . _ : -", bad[i]);
        assert_string_equal(r.detail, want);
    }
    /* too long or not a string: jx_str's reasons, checked first */
    jx_reader_init(&r, o);
    assert_null(jx_id(&r, "long", JX_REQUIRED, 64));
    assert_string_equal(r.detail, "field 'long' must be 1 to 64 characters long");
    jx_reader_init(&r, o);
    assert_null(jx_id(&r, "number", JX_REQUIRED, 64));
    assert_string_equal(r.detail, "field 'number' must be a string");
    /* the first bad field wins, as with every reader */
    jx_reader_init(&r, o);
    assert_null(jx_id(&r, "missing", JX_REQUIRED, 64));
    assert_null(jx_id(&r, "space", JX_REQUIRED, 64));
    assert_null(strstr(r.detail, "space"));
    json_decref(o);
}

static void test_int(void **state)
{
    (void)state;
    json_t *o = object("{\"n\":42,\"neg\":-7,\"big\":9223372036854775807,\"f\":1.0,"
                       "\"e\":5e2,\"half\":1.5,\"huge\":1e300,\"s\":\"42\",\"b\":true,"
                       "\"nul\":null}");
    struct jx_reader r;
    jx_reader_init(&r, o);
    assert_int_equal(jx_int(&r, "n", JX_REQUIRED, 42, 42), 42); /* bounds are inclusive */
    assert_int_equal(jx_int(&r, "neg", JX_REQUIRED, -10, 0), -7);
    assert_int_equal(jx_int(&r, "big", JX_REQUIRED, 0, INT64_MAX), INT64_MAX);
    /* a number without a fraction is an integer, as JSON Schema says */
    assert_int_equal(jx_int(&r, "f", JX_REQUIRED, 0, 100), 1);
    assert_int_equal(jx_int(&r, "e", JX_REQUIRED, 0, 1000), 500);
    assert_int_equal(jx_int(&r, "missing", JX_OPTIONAL, 1, 10), 0);
    assert_false(jx_has(&r, "missing"));
    assert_false(jx_has(&r, "nul"));
    assert_true(jx_has(&r, "n"));
    assert_int_equal(r.rc, RC_OK);

    const char *wrong_type[] = {"half", "huge", "s", "b"};
    for (size_t i = 0; i < ARRAY_LEN(wrong_type); i++) {
        jx_reader_init(&r, o);
        assert_int_equal(jx_int(&r, wrong_type[i], JX_REQUIRED, 0, 100), 0);
        assert_int_equal(r.rc, RC_INVALID);
        assert_non_null(strstr(r.detail, "must be an integer"));
    }
    jx_reader_init(&r, o);
    assert_int_equal(jx_int(&r, "n", JX_REQUIRED, 43, 100), 0);
    assert_int_equal(r.rc, RC_INVALID);
    assert_non_null(strstr(r.detail, "between 43 and 100"));
    jx_reader_init(&r, o);
    assert_int_equal(jx_int(&r, "n", JX_REQUIRED, 0, 41), 0);
    assert_int_equal(r.rc, RC_INVALID);
    jx_reader_init(&r, o);
    assert_int_equal(jx_int(&r, "missing", JX_REQUIRED, 0, 41), 0);
    assert_string_equal(r.detail, "field 'missing' is required");
    json_decref(o);
}

/* Integers beyond int64 are not silently truncated. */
static void test_int_overflow(void **state)
{
    (void)state;
    json_t *v = NULL;
    char detail[256];
    assert_int_equal(parse("{\"n\":9223372036854775808}", true, &v, detail), RC_BAD_JSON);
    assert_null(v);
}

static void test_sticky_first_error(void **state)
{
    (void)state;
    json_t *o = object("{\"a\":\"x\",\"b\":5,\"c\":\"ok\"}");
    struct jx_reader r;
    jx_reader_init(&r, o);
    assert_int_equal(jx_int(&r, "a", JX_REQUIRED, 0, 10), 0); /* first error */
    assert_null(jx_str(&r, "b", JX_REQUIRED, 10));            /* would fail too */
    assert_null(jx_str(&r, "c", JX_REQUIRED, 10));            /* fine, but reader failed */
    assert_int_equal(jx_int(&r, "b", JX_REQUIRED, 0, 10), 0); /* fine, but reader failed */
    jx_fail(&r, RC_CONFLICT, "later %s", "reason");           /* ignored too */
    assert_int_equal(r.rc, RC_INVALID);
    assert_string_equal(r.detail, "field 'a' must be an integer");

    jx_reader_init(&r, o); /* re-initialising clears the error */
    assert_int_equal(r.rc, RC_OK);
    assert_string_equal(jx_str(&r, "c", JX_REQUIRED, 10), "ok");
    jx_fail(&r, RC_UNPROCESSABLE, "'%s' and '%s' disagree", "a", "b");
    assert_int_equal(r.rc, RC_UNPROCESSABLE);
    assert_string_equal(r.detail, "'a' and 'b' disagree");
    json_decref(o);
}

static void test_null_object(void **state)
{
    (void)state;
    struct jx_reader r;
    jx_reader_init(&r, NULL);
    assert_false(jx_has(&r, "a"));
    assert_null(jx_str(&r, "a", JX_OPTIONAL, 5));
    assert_int_equal(r.rc, RC_OK);
    assert_int_equal(jx_int(&r, "a", JX_REQUIRED, 0, 5), 0);
    assert_int_equal(r.rc, RC_INVALID);
}

static void test_dump(void **state)
{
    (void)state;
    json_t *o = object("{ \"a\" : [1, 2], \"b\" : \"c\" }");
    char *text = jx_dump(o);
    assert_string_equal(text, "{\"a\":[1,2],\"b\":\"c\"}");
    mem_free(text);
    json_decref(o);
}

/* Out of memory is reported as RC_NOMEM, never as a client's bad JSON
 * (which would turn a transient 503 into a 400, and make the inbox skip a
 * valid event as poison). */
static void test_oom(void **state)
{
    (void)state;
    const char *text = "{\"userId\":\"u-1\",\"amount\":1500,\"tags\":[\"a\",\"b\"],"
                       "\"meta\":{\"k\":\"v\",\"n\":null}}";
    long i;
    for (i = 0;; i++) {
        assert_true(i < 1000);
        json_t *v = NULL;
        char detail[256] = "";
        mem_fail_after(i);
        int rc = jx_parse(text, strlen(text), true, &v, detail, sizeof detail);
        char *dumped = rc == RC_OK ? jx_dump(v) : NULL;
        long refused = mem_fail_count();
        mem_fail_reset();
        if (rc != RC_OK) {
            assert_null(v);
            if (rc != RC_NOMEM)
                fail_msg("allocation %ld failed: got %s (%s)", i, rc_name(rc), detail);
            continue;
        }
        struct jx_reader r;
        jx_reader_init(&r, v);
        assert_string_equal(jx_str(&r, "userId", JX_REQUIRED, 64), "u-1");
        assert_int_equal(jx_int(&r, "amount", JX_REQUIRED, 0, 100000), 1500);
        assert_int_equal(r.rc, RC_OK);
        bool done = refused == 0;
        if (done)
            assert_string_equal(dumped,
                                "{\"userId\":\"u-1\",\"amount\":1500,\"tags\":[\"a\",\"b\"],"
                                "\"meta\":{\"k\":\"v\",\"n\":null}}");
        mem_free(dumped); /* NULL when the dump ran out of memory */
        json_decref(v);
        if (done)
            break;
    }
    assert_true(i > 3); /* the loop did inject failures */
}

static int setup_hooks(void **state)
{
    (void)state;
    mem_install_json_hooks();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_object),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_rejects_duplicates),
        cmocka_unit_test(test_parse_object_required),
        cmocka_unit_test(test_parse_uses_length),
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_str_rejects_nul),
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_text_counts_characters),
        cmocka_unit_test(test_only_named_fields),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_int_overflow),
        cmocka_unit_test(test_sticky_first_error),
        cmocka_unit_test(test_null_object),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, setup_hooks, NULL);
}
