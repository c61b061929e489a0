/* Capped growable buffer: the cap is a hard limit that leaves the content
 * untouched when hit, formatting appends, and stealing the content. */
#include "support/test_support.h"

#include <stdint.h>

#include "core/base/buf.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

static void test_append_grows_and_terminates(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append(&b, "abc", 3), RC_OK);
    assert_int_equal(buf_append_str(&b, "def"), RC_OK);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    /* well past the first allocation, so the buffer has to grow */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_append_str(&b, "0123456789"), RC_OK);
    assert_int_equal(b.len, 6 + 10000);
    assert_int_equal(strlen(b.data), b.len);
    assert_memory_equal(b.data + b.len - 10, "0123456789", 10);
    buf_cleanup(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_cap_refuses_and_keeps_content(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append_str(&b, "12345678"), RC_OK); /* exactly the cap */
    assert_int_equal(buf_append_str(&b, "9"), RC_TOO_LARGE);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    assert_int_equal(buf_appendf(&b, "%d", 9), RC_TOO_LARGE);
    assert_string_equal(b.data, "12345678");
    assert_int_equal(buf_append(&b, "", 0), RC_OK); /* nothing more is fine */
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_append_str(&b, "123456789"), RC_TOO_LARGE); /* one write over the cap */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_cleanup(&b);
}

static void test_cap_zero(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_append_str(&b, "x"), RC_TOO_LARGE);
    assert_null(b.data);
    assert_int_equal(buf_append(&b, "", 0), RC_OK);
    assert_string_equal(b.data, "");
    buf_cleanup(&b);
}

/* A cap of SIZE_MAX ("no practical limit") must behave like any other. */
static void test_cap_size_max(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    for (int i = 0; i < 100; i++)
        assert_int_equal(buf_append_str(&b, "hello"), RC_OK);
    assert_int_equal(b.len, 500);
    assert_memory_equal(b.data + 495, "hello", 6);
    buf_cleanup(&b);
}

static void test_appendf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_appendf(&b, "%s=%d", "n", 42), RC_OK);
    assert_int_equal(buf_appendf(&b, ",%05.1f", 2.5), RC_OK);
    assert_string_equal(b.data, "n=42,002.5");
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_appendf(&b, "%s", ""), RC_OK);
    assert_int_equal(b.len, 10);
    /* 54 bytes still fit, 55 do not */
    assert_int_equal(buf_appendf(&b, "%55s", "x"), RC_TOO_LARGE);
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_appendf(&b, "%54s", "x"), RC_OK);
    assert_int_equal(b.len, 64);
    assert_int_equal(b.data[63], 'x');
    assert_int_equal(b.data[64], '\0');
    buf_cleanup(&b);
}

static void test_steal(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append_str(&b, "taken"), RC_OK);
    char *s = buf_steal(&b);
    assert_string_equal(s, "taken");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100); /* still usable with the same cap */
    assert_int_equal(buf_append_str(&b, "again"), RC_OK);
    assert_string_equal(b.data, "again");
    mem_free(s);
    buf_cleanup(&b);

    buf_init(&b, 100);
    char *empty = buf_steal(&b);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    mem_free(empty);
}

static void test_appends_embedded_nul(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "a\0b", 3), RC_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b\0", 4);
    buf_cleanup(&b);
}

/* Every allocation failure is reported as RC_NOMEM and leaves the buffer as
 * it was; the loop ends when no failure is left to inject. */
static void test_oom(void **state)
{
    (void)state;
    for (long i = 0;; i++) {
        assert_true(i < 100);
        struct buf b;
        buf_init(&b, 1 << 16);
        mem_fail_after(i);
        int rc = RC_OK;
        size_t good = 0;
        for (int k = 0; k < 200 && rc == RC_OK; k++) {
            rc = k % 2 ? buf_append_str(&b, "0123456789abcdef") : buf_appendf(&b, "%d;", k);
            if (rc == RC_OK)
                good = b.len;
        }
        long refused = mem_fail_count();
        mem_fail_reset();
        if (rc == RC_OK) {
            assert_int_equal(refused, 0);
            buf_cleanup(&b);
            break;
        }
        assert_int_equal(rc, RC_NOMEM);
        assert_int_equal(b.len, good);
        if (b.data)
            assert_int_equal(strlen(b.data), good);
        buf_cleanup(&b);
    }
    /* buf_steal of an empty buffer needs memory too */
    struct buf b;
    buf_init(&b, 10);
    mem_fail_after(0);
    char *s = buf_steal(&b);
    mem_fail_reset();
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grows_and_terminates),
        cmocka_unit_test(test_cap_refuses_and_keeps_content),
        cmocka_unit_test(test_cap_zero),
        cmocka_unit_test(test_cap_size_max),
        cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_appends_embedded_nul),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
