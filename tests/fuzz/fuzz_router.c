/*
 * Fuzzes what the HTTP layer does with a request target before any handler
 * runs: route matching with percent-decoded parameters, query-string lookup
 * and percent-decoding, and the Content-Type check. The input is a request
 * target ("/path?query"); it is also fed whole to the decoders and the media
 * type check. Besides the sanitizers, the results are checked against the
 * contracts in http_internal.h, so a wrong answer crashes too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http/http_internal.h"

/* Bump allocator standing in for the request pool; refuses past <cap>. */
struct fuzz_arena {
    char *base;
    size_t used;
    size_t cap;
};

static void *fuzz_arena_alloc(void *pool, size_t size)
{
    struct fuzz_arena *a = pool;
    if (size > a->cap - a->used)
        return NULL;
    void *p = a->base + a->used;
    a->used += size;
    return p;
}

/* The shapes of the services' routes, plus the edge cases of the matcher:
 * the root, adjacent parameters, more parameters than fit. */
static const char *const fuzz_patterns[] = {
    "/",
    "/pointers",
    "/pointers/{id}",
    "/pointers/{id}/withdraw",
    "/histories",
    "/webtoons/{id}/episodes/{no}",
    "/a/{x}/b/{y}",
    "/{a}/{b}",
    "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
};

static const char *const fuzz_query_names[] = {"page", "size", "userId", "a", ""};

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void fuzz_route(const char *path, size_t len, struct fuzz_arena *arena)
{
    for (size_t i = 0; i < ARRAY_LEN(fuzz_patterns); i++) {
        const char *pattern = fuzz_patterns[i];
        struct http__param params[HTTP__MAX_PARAMS];
        size_t n = 12345;
        arena->used = 0;
        int m = http__route_match(pattern, path, len, params, &n, fuzz_arena_alloc, arena);
        FUZZ_CHECK(m == -1 || m == 0 || m == 1);
        if (m != 1)
            continue;
        FUZZ_CHECK(n <= HTTP__MAX_PARAMS);
        FUZZ_CHECK(len > 0 && path[0] == '/');
        for (size_t k = 0; k < n; k++) {
            const char *name = params[k].name;
            FUZZ_CHECK(name > pattern && name + params[k].name_len < pattern + strlen(pattern));
            FUZZ_CHECK(name[-1] == '{' && name[params[k].name_len] == '}');
            FUZZ_CHECK(params[k].value != NULL);
            /* decoding only shrinks; an empty segment never fills a parameter */
            size_t vlen = strlen(params[k].value);
            FUZZ_CHECK(vlen > 0 || memchr(path, '\0', len) != NULL);
            FUZZ_CHECK(vlen <= len);
        }
        /* a literal pattern matches only itself, give or take one slash */
        if (!strchr(pattern, '{')) {
            size_t plen = strlen(pattern), l = len;
            if (l > 1 && path[l - 1] == '/')
                l--;
            FUZZ_CHECK(l == plen && !memcmp(path, pattern, plen));
        }
    }
}

static void fuzz_decode(const char *in, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return;
    for (int plus = 0; plus <= 1; plus++) {
        size_t out_len = 99999;
        if (http__percent_decode(in, len, plus, out, &out_len)) {
            FUZZ_CHECK(out_len <= len);
            FUZZ_CHECK(out[out_len] == '\0');
            /* %00 is refused, so only a raw NUL in the input can end it early */
            FUZZ_CHECK(strlen(out) == out_len || memchr(in, '\0', len) != NULL);
            /* without escapes or (in query mode) '+', nothing changes */
            if (!memchr(in, '%', len) && (!plus || !memchr(in, '+', len)))
                FUZZ_CHECK(out_len == len && !memcmp(out, in, len));
        }
    }
    free(out);
}

static void fuzz_query(const char *query, size_t len, struct fuzz_arena *arena)
{
    for (size_t i = 0; i < ARRAY_LEN(fuzz_query_names); i++) {
        arena->used = 0;
        char *v = http__query_get(query, len, fuzz_query_names[i], fuzz_arena_alloc, arena);
        if (v)
            FUZZ_CHECK(strlen(v) <= len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *q = memchr(in, '?', size);
    size_t path_len = q ? (size_t)(q - in) : size;
    struct fuzz_arena arena = {.cap = (HTTP__MAX_PARAMS + 1) * (size + 1)};
    arena.base = malloc(arena.cap);
    if (!arena.base)
        return 0;

    fuzz_route(in, path_len, &arena);
    if (q)
        fuzz_query(q + 1, size - path_len - 1, &arena);
    fuzz_query(in, size, &arena);
    /* the same with an allocator that refuses everything */
    struct fuzz_arena empty = {.base = arena.base, .cap = 0};
    fuzz_route(in, path_len, &empty);
    fuzz_query(in, size, &empty);

    fuzz_decode(in, size);
    (void)http__is_json_media_type(in, size);
    free(arena.base);
    return 0;
}
