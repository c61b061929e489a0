/* The contract every blob backend keeps, run by each backend's test on its
 * own store (tests/unit/blob/test_blob_dir.c on a directory,
 * test_blob_s3.c on a real S3 server): binary round trips, overwrite,
 * missing keys, deletes, the key rules, a large object, and concurrent
 * puts from several threads. Keys start with <prefix>, so runs sharing a
 * bucket never see each other's objects. */
#ifndef WEBTOON_TEST_BLOB_CONTRACT_H
#define WEBTOON_TEST_BLOB_CONTRACT_H

#include <pthread.h>

#include "core/base/buf.h"
#include "core/base/rc.h"
#include "core/blob/blob.h"

#define BLOB_CONTRACT_LARGE (8u << 20)
#define BLOB_CONTRACT_THREADS 4
#define BLOB_CONTRACT_PUTS 8 /* per thread */

static void blob_contract_key(char *out, size_t len, const char *prefix, const char *name)
{
    snprintf(out, len, "%s/%s", prefix, name);
}

/* Asserts that <key> holds exactly the <len> bytes at <want>. */
static void blob_contract_expect(struct blob_store *b, const char *key, const void *want,
                                 size_t len)
{
    struct buf got;
    buf_init(&got, BLOB_CONTRACT_LARGE);
    assert_int_equal(blob_get(b, key, &got), RC_OK);
    assert_int_equal(got.len, len);
    assert_memory_equal(got.data, want, len);
    buf_cleanup(&got);
}

static void blob_contract_round_trip(struct blob_store *b, const char *prefix)
{
    static const unsigned char bytes[] = {0x89, 'P', 'N', 'G', 0, 0, 0xff, '\r', '\n', 0, 0x7f};
    char key[BLOB_KEY_MAX + 1];
    blob_contract_key(key, sizeof key, prefix, "img/0123abcd/reading");
    assert_int_equal(blob_put(b, key, bytes, sizeof bytes, "image/png"), RC_OK);
    blob_contract_expect(b, key, bytes, sizeof bytes);
    /* An empty object is an object. */
    blob_contract_key(key, sizeof key, prefix, "empty");
    assert_int_equal(blob_put(b, key, "", 0, NULL), RC_OK);
    blob_contract_expect(b, key, "", 0);
}

static void blob_contract_overwrite(struct blob_store *b, const char *prefix)
{
    char key[BLOB_KEY_MAX + 1];
    blob_contract_key(key, sizeof key, prefix, "cover.webp");
    assert_int_equal(blob_put(b, key, "first version, the longer", 25, "image/webp"), RC_OK);
    assert_int_equal(blob_put(b, key, "second", 6, "image/webp"), RC_OK);
    blob_contract_expect(b, key, "second", 6);
}

static void blob_contract_missing(struct blob_store *b, const char *prefix)
{
    char key[BLOB_KEY_MAX + 1];
    struct buf got;
    buf_init(&got, 1024);
    assert_int_equal(buf_append_str(&got, "stale"), RC_OK);
    blob_contract_key(key, sizeof key, prefix, "never/written");
    assert_int_equal(blob_get(b, key, &got), RC_NOT_FOUND);
    assert_int_equal(got.len, 0);
    /* A prefix of existing keys is not an object either. */
    blob_contract_key(key, sizeof key, prefix, "dir/inside");
    assert_int_equal(blob_put(b, key, "x", 1, NULL), RC_OK);
    blob_contract_key(key, sizeof key, prefix, "dir");
    assert_int_equal(blob_get(b, key, &got), RC_NOT_FOUND);
    buf_cleanup(&got);
}

static void blob_contract_delete(struct blob_store *b, const char *prefix)
{
    char key[BLOB_KEY_MAX + 1], other[BLOB_KEY_MAX + 1];
    struct buf got;
    buf_init(&got, 1024);
    blob_contract_key(key, sizeof key, prefix, "gone/page-1");
    blob_contract_key(other, sizeof other, prefix, "gone/page-2");
    assert_int_equal(blob_put(b, key, "page", 4, NULL), RC_OK);
    assert_int_equal(blob_put(b, other, "kept", 4, NULL), RC_OK);
    assert_int_equal(blob_delete(b, key), RC_OK);
    assert_int_equal(blob_get(b, key, &got), RC_NOT_FOUND);
    assert_int_equal(blob_delete(b, key), RC_OK); /* twice: still fine */
    blob_contract_key(key, sizeof key, prefix, "never/there");
    assert_int_equal(blob_delete(b, key), RC_OK);
    blob_contract_expect(b, other, "kept", 4);
    buf_cleanup(&got);
}

static void blob_contract_bad_keys(struct blob_store *b, const char *prefix)
{
    (void)prefix;
    char longest[BLOB_KEY_MAX + 2], segment[BLOB_SEGMENT_MAX + 2];
    memset(longest, 'k', sizeof longest);
    longest[BLOB_KEY_MAX + 1] = '\0'; /* one too many */
    memset(segment, 's', sizeof segment);
    segment[BLOB_SEGMENT_MAX + 1] = '\0'; /* a file name one too long */
    const char *bad[] = {"",      "/abs",  "trailing/", "a//b",        "..",    "a/../b",
                         "a/..",  "../a",  "x..y",      ".",           "a/./b", "with space",
                         "a\\b",  "q?x=1", "pct%2f",    "caf\xc3\xa9", "tab\t", "new\nline",
                         longest, segment, "a~tmp",     "~1.2"};
    struct buf got;
    buf_init(&got, 1024);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(blob_key_is_valid(bad[i]));
        assert_int_equal(blob_put(b, bad[i], "x", 1, NULL), RC_INVALID);
        assert_int_equal(blob_get(b, bad[i], &got), RC_INVALID);
        assert_int_equal(blob_delete(b, bad[i]), RC_INVALID);
    }
    /* A content type that would break the header line is refused too. */
    assert_int_equal(blob_put(b, "fine", "x", 1, "image/png\r\nX-Evil: 1"), RC_INVALID);
    assert_int_equal(blob_put(b, "fine", "x", 1, ""), RC_INVALID);
    /* The longest valid key works. */
    longest[BLOB_KEY_MAX] = '\0';
    memcpy(longest, prefix, strlen(prefix));
    longest[strlen(prefix)] = '/';
    assert_int_equal(blob_put(b, longest, "long", 4, NULL), RC_OK);
    blob_contract_expect(b, longest, "long", 4);
    buf_cleanup(&got);
}

static void blob_contract_large(struct blob_store *b, const char *prefix)
{
    char key[BLOB_KEY_MAX + 1];
    unsigned char *big = malloc(BLOB_CONTRACT_LARGE);
    assert_non_null(big);
    uint32_t x = 2463534242u; /* xorshift: bytes that do not compress or repeat */
    for (size_t i = 0; i < BLOB_CONTRACT_LARGE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (unsigned char)x;
    }
    blob_contract_key(key, sizeof key, prefix, "large/strip.png");
    assert_int_equal(blob_put(b, key, big, BLOB_CONTRACT_LARGE, "image/png"), RC_OK);
    blob_contract_expect(b, key, big, BLOB_CONTRACT_LARGE);
    /* A reader's cap below the object's size: refused, not cut. */
    struct buf small;
    buf_init(&small, BLOB_CONTRACT_LARGE - 1);
    assert_int_equal(blob_get(b, key, &small), RC_TOO_LARGE);
    assert_int_equal(small.len, 0);
    buf_cleanup(&small);
    free(big);
}

struct blob_contract_worker {
    struct blob_store *b;
    const char *prefix;
    int id;
    int failures; /* puts or gets that did not do what they should */
};

static void blob_contract_content(char *out, size_t len, int id, int n)
{
    /* Lengths differ per writer, so a mix of two would show. */
    size_t want = 64 + 512 * (size_t)id;
    size_t at = (size_t)snprintf(out, len, "writer %d put %d|", id, n);
    for (; at < want && at + 1 < len; at++)
        out[at] = (char)('a' + id);
    out[at] = '\0';
}

static void *blob_contract_work(void *arg)
{
    struct blob_contract_worker *w = arg;
    char key[BLOB_KEY_MAX + 1], name[64], content[4096];
    struct buf got;
    buf_init(&got, sizeof content);
    for (int n = 0; n < BLOB_CONTRACT_PUTS; n++) {
        blob_contract_content(content, sizeof content, w->id, n);
        snprintf(name, sizeof name, "threads/%d/%d", w->id, n);
        blob_contract_key(key, sizeof key, w->prefix, name);
        if (blob_put(w->b, key, content, strlen(content), NULL) != RC_OK)
            w->failures++;
        /* Everyone also overwrites one shared key. */
        blob_contract_key(key, sizeof key, w->prefix, "threads/shared");
        if (blob_put(w->b, key, content, strlen(content), NULL) != RC_OK)
            w->failures++;
        blob_contract_key(key, sizeof key, w->prefix, name);
        if (blob_get(w->b, key, &got) != RC_OK || got.len != strlen(content) ||
            memcmp(got.data, content, got.len) != 0)
            w->failures++;
    }
    buf_cleanup(&got);
    return NULL;
}

static void blob_contract_concurrent_puts(struct blob_store *b, const char *prefix)
{
    pthread_t threads[BLOB_CONTRACT_THREADS];
    struct blob_contract_worker workers[BLOB_CONTRACT_THREADS];
    for (int i = 0; i < BLOB_CONTRACT_THREADS; i++) {
        workers[i] = (struct blob_contract_worker){.b = b, .prefix = prefix, .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, blob_contract_work, &workers[i]), 0);
    }
    for (int i = 0; i < BLOB_CONTRACT_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].failures, 0);
    }
    /* The shared key holds one writer's whole last put, not a mix. */
    char key[BLOB_KEY_MAX + 1], content[4096];
    struct buf got;
    buf_init(&got, sizeof content);
    blob_contract_key(key, sizeof key, prefix, "threads/shared");
    assert_int_equal(blob_get(b, key, &got), RC_OK);
    bool whole = false;
    for (int i = 0; i < BLOB_CONTRACT_THREADS; i++) {
        blob_contract_content(content, sizeof content, i, BLOB_CONTRACT_PUTS - 1);
        whole = whole || (got.len == strlen(content) && !memcmp(got.data, content, got.len));
    }
    assert_true(whole);
    buf_cleanup(&got);
}

/* Every check above by name (blob_contract_<name>). */
#define BLOB_CONTRACT_LIST(X)                                                                      \
    X(round_trip) X(overwrite) X(missing) X(delete) X(bad_keys) X(large) X(concurrent_puts)

/* For a backend's test file whose fixture is a struct fixture with a store
 * <b> and a key prefix <prefix>, made by its setup and freed by its
 * teardown: BLOB_CONTRACT_TESTS defines test_<name> for every check,
 * BLOB_CONTRACT_ENTRIES lists them for cmocka_run_group_tests. */
#define BLOB_CONTRACT__TEST(name)                                                                  \
    static void test_##name(void **state)                                                          \
    {                                                                                              \
        struct fixture *f = *state;                                                                \
        blob_contract_##name(f->b, f->prefix);                                                     \
    }
#define BLOB_CONTRACT_TESTS BLOB_CONTRACT_LIST(BLOB_CONTRACT__TEST)
#define BLOB_CONTRACT__ENTRY(name) cmocka_unit_test_setup_teardown(test_##name, setup, teardown),
#define BLOB_CONTRACT_ENTRIES BLOB_CONTRACT_LIST(BLOB_CONTRACT__ENTRY)

#endif
