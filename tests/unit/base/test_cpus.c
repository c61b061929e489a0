/* Usable CPUs: a cgroup quota caps them (rounded up), "max" does not, and
 * there is always at least one. */
#include "support/test_support.h"

#include "core/base/cpus.h"

static void test_quota_cap(void **state)
{
    (void)state;
    assert_int_equal(cpus_quota_cap("max 100000\n"), 0);
    assert_int_equal(cpus_quota_cap("100000 100000\n"), 1);
    assert_int_equal(cpus_quota_cap("150000 100000\n"), 2); /* 1.5 CPUs: two threads */
    assert_int_equal(cpus_quota_cap("50000 100000\n"), 1);
    assert_int_equal(cpus_quota_cap("400000 100000"), 4);
    assert_int_equal(cpus_quota_cap(""), 0);
    assert_int_equal(cpus_quota_cap("garbage"), 0);
    assert_int_equal(cpus_quota_cap("-1 100000"), 0);
    assert_int_equal(cpus_quota_cap("100000 0"), 0);
}

static void test_usable(void **state)
{
    (void)state;
    int n = cpus_usable();
    assert_true(n >= 1);
    assert_true(n <= 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quota_cap),
        cmocka_unit_test(test_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
