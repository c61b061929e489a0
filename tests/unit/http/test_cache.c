/* The read cache's store: lookups by key and version, replacement, and the
 * bounds (entries and bytes) kept by pushing out the least recently used. */
#include "support/test_support.h"

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/http/http_internal.h"

#define TYPE "application/hal+json"
#define TAG "\"0123456789abcdef\""

static int put(struct http__cache *c, const char *key, int64_t version, const char *body)
{
    return http__cache_put(c, key, version, TYPE, body, strlen(body), TAG);
}

static void test_hit_at_the_same_version_only(void **state)
{
    (void)state;
    struct http__cache *c = http__cache_new(8, 1 << 20);
    assert_non_null(c);
    assert_null(http__cache_get(c, "/webtoons?page=0&size=20", 1));
    assert_int_equal(put(c, "/webtoons?page=0&size=20", 1, "{\"a\":1}"), RC_OK);
    const struct http__cache_entry *e = http__cache_get(c, "/webtoons?page=0&size=20", 1);
    assert_non_null(e);
    assert_int_equal(e->len, 7);
    assert_memory_equal(e->body, "{\"a\":1}", 7);
    assert_string_equal(e->etag, TAG);
    assert_string_equal(e->content_type, TYPE);
    assert_null(http__cache_get(c, "/webtoons?page=1&size=20", 1));
    /* the data changed: the entry is gone, not served */
    assert_null(http__cache_get(c, "/webtoons?page=0&size=20", 2));
    assert_int_equal(c->lru.entries, 0);
    assert_int_equal(c->lru.bytes, 0);
    assert_null(http__cache_get(c, "/webtoons?page=0&size=20", 1));
    http__cache_free(c);
}

static void test_put_replaces_the_entry_of_a_key(void **state)
{
    (void)state;
    struct http__cache *c = http__cache_new(8, 1 << 20);
    assert_int_equal(put(c, "/webtoons/a", 1, "old"), RC_OK);
    assert_int_equal(put(c, "/webtoons/a", 2, "newer"), RC_OK);
    assert_int_equal(c->lru.entries, 1);
    const struct http__cache_entry *e = http__cache_get(c, "/webtoons/a", 2);
    assert_non_null(e);
    assert_int_equal(e->len, 5);
    assert_memory_equal(e->body, "newer", 5);
    assert_int_equal(c->lru.evictions, 0);
    http__cache_free(c);
}

static void test_entry_bound_pushes_out_the_least_recently_used(void **state)
{
    (void)state;
    struct http__cache *c = http__cache_new(3, 1 << 20);
    assert_int_equal(put(c, "/a", 1, "a"), RC_OK);
    assert_int_equal(put(c, "/b", 1, "b"), RC_OK);
    assert_int_equal(put(c, "/c", 1, "c"), RC_OK);
    assert_non_null(http__cache_get(c, "/a", 1)); /* /b is now the least recently used */
    assert_int_equal(put(c, "/d", 1, "d"), RC_OK);
    assert_int_equal(c->lru.entries, 3);
    assert_int_equal(c->lru.evictions, 1);
    assert_null(http__cache_get(c, "/b", 1));
    assert_non_null(http__cache_get(c, "/a", 1));
    assert_non_null(http__cache_get(c, "/c", 1));
    assert_non_null(http__cache_get(c, "/d", 1));
    http__cache_free(c);
}

static void test_byte_bound_holds_for_many_keys(void **state)
{
    (void)state;
    char body[1000];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    size_t max_bytes = 10 * 1024;
    struct http__cache *c = http__cache_new(1000, max_bytes);
    for (int i = 0; i < 500; i++) {
        char key[64];
        snprintf(key, sizeof key, "/webtoons?page=%d&size=20", i);
        assert_int_equal(put(c, key, 7, body), RC_OK);
        assert_true(c->lru.bytes <= max_bytes);
        assert_true(c->lru.entries <= 1000);
        /* the newest is always there */
        assert_non_null(http__cache_get(c, key, 7));
    }
    assert_true(c->lru.entries < 11);
    assert_int_equal(c->lru.evictions, 500 - c->lru.entries);
    http__cache_free(c);
}

static void test_too_large_is_not_kept(void **state)
{
    (void)state;
    struct http__cache *c = http__cache_new(4, 256);
    char body[300];
    memset(body, 'y', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    assert_int_equal(put(c, "/small", 1, "s"), RC_OK);
    assert_int_equal(put(c, "/big", 1, body), RC_TOO_LARGE);
    assert_null(http__cache_get(c, "/big", 1));
    assert_non_null(http__cache_get(c, "/small", 1)); /* nothing pushed out for it */
    char type[HTTP__CACHE_TYPE_MAX + 1];
    memset(type, 't', sizeof type - 1);
    type[sizeof type - 1] = '\0';
    assert_int_equal(http__cache_put(c, "/odd", 1, type, "b", 1, TAG), RC_TOO_LARGE);
    http__cache_free(c);
}

static void test_out_of_memory_keeps_the_cache_sound(void **state)
{
    (void)state;
    struct http__cache *c = http__cache_new(4, 1 << 20);
    assert_int_equal(put(c, "/a", 1, "a"), RC_OK);
    mem_fail_after(0);
    assert_int_equal(put(c, "/b", 1, "b"), RC_NOMEM);
    mem_fail_reset();
    assert_int_equal(c->lru.entries, 1);
    assert_non_null(http__cache_get(c, "/a", 1));
    assert_null(http__cache_get(c, "/b", 1));
    mem_fail_after(0);
    assert_null(http__cache_new(4, 100));
    mem_fail_reset();
    http__cache_free(c);
    http__cache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_at_the_same_version_only),
        cmocka_unit_test(test_put_replaces_the_entry_of_a_key),
        cmocka_unit_test(test_entry_bound_pushes_out_the_least_recently_used),
        cmocka_unit_test(test_byte_bound_holds_for_many_keys),
        cmocka_unit_test(test_too_large_is_not_kept),
        cmocka_unit_test(test_out_of_memory_keeps_the_cache_sound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
