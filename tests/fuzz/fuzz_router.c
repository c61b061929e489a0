/*
 * Fuzzes what the HTTP layer does with a request target before any handler
 * runs: splitting and decoding the raw path, route matching, query-string
 * lookup and percent-decoding, and the Content-Type check. The input is a
 * request target ("/path?query"); it is also fed whole to the decoders and
 * the media type check. Besides the sanitizers, the results are checked
 * against the contracts in http_internal.h, so a wrong answer crashes too:
 * notably that a path is decoded once (its canonical form parses to the same
 * segments and is its own canonical form).
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

static bool fuzz_is_dot(const struct http__segment *seg)
{
    return (seg->len == 1 && seg->value[0] == '.') ||
           (seg->len == 2 && seg->value[0] == '.' && seg->value[1] == '.');
}

static void fuzz_route(const char *raw, size_t len, struct fuzz_arena *arena)
{
    struct http__path path, again;
    const char *why = "unset";
    arena->used = 0;
    int rc = http__path_parse(raw, len, &path, fuzz_arena_alloc, arena, &why);
    if (rc != 0) {
        /* refused for a reason, or out of memory (no reason) */
        FUZZ_CHECK(why == NULL || *why != '\0');
        return;
    }
    FUZZ_CHECK(why == NULL);
    FUZZ_CHECK(len > 0 && raw[0] == '/');
    FUZZ_CHECK(path.nsegs >= 1 && path.nsegs <= HTTP__MAX_SEGMENTS);
    const char *canon = path.canonical;
    size_t clen = strlen(canon);
    FUZZ_CHECK(canon[0] == '/');
    for (size_t i = 0; i < clen; i++)
        FUZZ_CHECK((unsigned char)canon[i] > 0x20 && (unsigned char)canon[i] < 0x7F);
    for (size_t k = 0; k < path.nsegs; k++) {
        const struct http__segment *seg = &path.segs[k];
        FUZZ_CHECK(strlen(seg->value) == seg->len); /* no NUL inside */
        FUZZ_CHECK(!memchr(seg->value, '/', seg->len));
        FUZZ_CHECK(http__utf8_valid_prefix(seg->value, seg->len) == seg->len);
        FUZZ_CHECK(!fuzz_is_dot(seg));
    }
    /* decoded once: the canonical form reads back as the same segments */
    struct fuzz_arena second = {.base = malloc(4 * clen + 8), .cap = 4 * clen + 8};
    if (second.base) {
        FUZZ_CHECK(http__path_parse(canon, clen, &again, fuzz_arena_alloc, &second, &why) == 0);
        FUZZ_CHECK(again.nsegs == path.nsegs && again.too_many == path.too_many);
        for (size_t k = 0; k < path.nsegs; k++)
            FUZZ_CHECK(again.segs[k].len == path.segs[k].len &&
                       !memcmp(again.segs[k].value, path.segs[k].value, path.segs[k].len));
        FUZZ_CHECK(!strcmp(again.canonical, canon));
        free(second.base);
    }

    for (size_t i = 0; i < ARRAY_LEN(fuzz_patterns); i++) {
        const char *pattern = fuzz_patterns[i];
        struct http__param params[HTTP__MAX_PARAMS];
        size_t n = 12345;
        uint32_t specificity = 0;
        if (!http__route_match(pattern, &path, params, &n, &specificity))
            continue;
        FUZZ_CHECK(n <= HTTP__MAX_PARAMS && !path.too_many);
        for (size_t k = 0; k < n; k++) {
            const char *name = params[k].name;
            FUZZ_CHECK(name > pattern && name + params[k].name_len < pattern + strlen(pattern));
            FUZZ_CHECK(name[-1] == '{' && name[params[k].name_len] == '}');
            /* an empty segment never fills a parameter */
            FUZZ_CHECK(params[k].value != NULL && params[k].value[0] != '\0');
        }
        /* a literal pattern matches only its own canonical path */
        if (!strchr(pattern, '{'))
            FUZZ_CHECK(!strcmp(canon, pattern));
    }
}

static void fuzz_escape_and_utf8(const char *in, size_t len, struct fuzz_arena *arena)
{
    arena->used = 0;
    char *e = http__path_escape(in, len, fuzz_arena_alloc, arena);
    if (e)
        for (const char *p = e; *p; p++)
            FUZZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7F);
    size_t at = http__target_path_offset(in, len);
    FUZZ_CHECK(at <= len && (at == 0 || at == len || in[at] == '/'));
    size_t ok = http__utf8_valid_prefix(in, len);
    FUZZ_CHECK(ok <= len && http__utf8_valid_prefix(in, ok) == ok);
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
    struct fuzz_arena arena = {.cap = 4 * (size + 1)};
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

    fuzz_escape_and_utf8(in, size, &arena);
    fuzz_decode(in, size);
    (void)http__is_json_media_type(in, size);
    free(arena.base);
    return 0;
}
