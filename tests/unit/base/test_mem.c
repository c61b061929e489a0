/* The allocation hook: failure injection counts allocations exactly (process-wide, or a burst on
 * one thread), and the calloc size check catches overflow. */
#include "support/test_support.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/base/mem.h"

static void test_fail_after_n(void **state)
{
    (void)state;
    for (long n = 0; n < 5; n++) {
        mem_fail_after(n);
        void *p[8] = {0};
        for (long i = 0; i < 8; i++) {
            switch (i % 3) {
            case 0:
                p[i] = mem_alloc(16);
                break;
            case 1:
                p[i] = mem_calloc(2, 8);
                break;
            default:
                p[i] = mem_strdup("x");
                break;
            }
            if (i < n)
                assert_non_null(p[i]);
            else
                assert_null(p[i]);
        }
        assert_int_equal(mem_fail_count(), 8 - n);
        mem_fail_reset();
        for (int i = 0; i < 8; i++)
            mem_free(p[i]);
    }
    /* after the reset everything works again */
    void *p = mem_alloc(1);
    assert_non_null(p);
    mem_free(p);
}

static void test_realloc_failure_keeps_block(void **state)
{
    (void)state;
    char *p = mem_alloc(4);
    assert_non_null(p);
    memcpy(p, "abc", 4);
    mem_fail_after(0);
    assert_null(mem_realloc(p, 1 << 20));
    assert_int_equal(mem_fail_count(), 1);
    mem_fail_reset();
    assert_string_equal(p, "abc"); /* still ours, still intact */
    p = mem_realloc(p, 1 << 20);
    assert_non_null(p);
    assert_string_equal(p, "abc");
    mem_free(p);
}

static void test_negative_disables(void **state)
{
    (void)state;
    mem_fail_after(-1);
    for (int i = 0; i < 100; i++) {
        void *p = mem_alloc(8);
        assert_non_null(p);
        mem_free(p);
    }
    assert_int_equal(mem_fail_count(), 0);
    mem_fail_reset();
}

static void test_calloc_overflow(void **state)
{
    (void)state;
    assert_null(mem_calloc(SIZE_MAX / 2 + 1, 2));
    assert_null(mem_calloc(2, SIZE_MAX / 2 + 1));
    assert_null(mem_calloc(SIZE_MAX, SIZE_MAX));
    unsigned char *z = mem_calloc(3, 5);
    assert_non_null(z);
    for (int i = 0; i < 15; i++)
        assert_int_equal(z[i], 0);
    mem_free(z);
    /* zero sizes still give a distinct pointer to free */
    void *a = mem_calloc(0, 8), *b = mem_alloc(0);
    assert_non_null(a);
    assert_non_null(b);
    mem_free(a);
    mem_free(b);
}

static void *fail_one(void *arg)
{
    (void)arg;
    mem_fail_after(0);
    mem_free(mem_alloc(8)); /* refused */
    mem_fail_reset();
    return (void *)(uintptr_t)mem_thread_failures();
}

/* Refusals are counted per thread, injected or not. */
static void test_thread_failures(void **state)
{
    (void)state;
    unsigned long before = mem_thread_failures();
    mem_fail_after(1);
    void *ok = mem_alloc(8);
    assert_null(mem_alloc(8));
    assert_null(mem_realloc(ok, 16));
    mem_fail_reset();
    assert_null(mem_calloc(SIZE_MAX, 2));
    assert_int_equal(mem_thread_failures(), before + 3);
    mem_free(ok);

    pthread_t t;
    void *theirs = NULL;
    assert_int_equal(pthread_create(&t, NULL, fail_one, NULL), 0);
    assert_int_equal(pthread_join(t, &theirs), 0);
    assert_int_equal((uintptr_t)theirs, 1);
    assert_int_equal(mem_thread_failures(), before + 3); /* not ours */
}

static void *alloc_one(void *arg)
{
    (void)arg;
    void *p = mem_alloc(8);
    bool ok = p != NULL;
    mem_free(p);
    return (void *)(uintptr_t)ok;
}

/* A burst armed on one thread fails exactly its next allocations there,
 * whatever other threads allocate meanwhile, then ends by itself. */
static void test_thread_burst(void **state)
{
    (void)state;
    unsigned long before = mem_thread_failures();
    mem_fail_after(-1); /* zero the count */
    mem_thread_fail_next(2);

    pthread_t t;
    void *theirs = NULL;
    assert_int_equal(pthread_create(&t, NULL, alloc_one, NULL), 0);
    assert_int_equal(pthread_join(t, &theirs), 0);
    assert_int_equal((uintptr_t)theirs, 1); /* not armed there */

    assert_null(mem_alloc(8));
    assert_null(mem_strdup("x"));
    void *p = mem_calloc(1, 8); /* the burst is over */
    assert_non_null(p);
    mem_free(p);
    assert_int_equal(mem_fail_count(), 2);
    assert_int_equal(mem_thread_failures(), before + 2);

    mem_thread_fail_next(3);
    mem_thread_fail_next(0); /* disarms */
    p = mem_alloc(8);
    assert_non_null(p);
    mem_free(p);
    mem_thread_fail_next(-1);
    p = mem_alloc(8);
    assert_non_null(p);
    mem_free(p);
    assert_int_equal(mem_fail_count(), 2);
    mem_fail_reset();
}

static void test_strings(void **state)
{
    (void)state;
    assert_null(mem_strdup(NULL));
    assert_null(mem_strndup(NULL, 3));
    char *s = mem_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    mem_free(s);
    s = mem_strdup("");
    assert_string_equal(s, "");
    MEM_FREE_NULL(s);
    assert_null(s);
    mem_free(NULL); /* does nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_after_n),
        cmocka_unit_test(test_realloc_failure_keeps_block),
        cmocka_unit_test(test_negative_disables),
        cmocka_unit_test(test_calloc_overflow),
        cmocka_unit_test(test_thread_failures),
        cmocka_unit_test(test_thread_burst),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
