/*
 * Route matching and URL decoding: pure functions over strings, no I/O, so
 * they are unit-tested and fuzzed directly. Patterns are trusted (our
 * route table); paths and queries are not.
 *
 * A path is decoded exactly once, segment by segment, from the bytes the
 * client sent (never from a form some other layer already decoded), and
 * routes compare decoded segments: "/%70ointers" is "/pointers", while
 * "/pointers%2Falice" is one segment holding a '/' and is refused, as are
 * NUL, invalid UTF-8 and dot segments, so that no two readings of one
 * request exist.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/base/rc.h"
#include "core/http/http_internal.h"

static int http__hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool http__percent_decode(const char *in, size_t len, bool plus_is_space, char *out,
                          size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = http__hex(in[i + 1]), lo = http__hex(in[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return true;
}

size_t http__utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* past U+10FFFF */
        } else {
            break; /* continuation byte, C0/C1, F5..FF */
        }
        if (len - i <= need || u[i + 1] < lo || u[i + 1] > hi)
            break;
        size_t k = 2;
        while (k <= need && u[i + k] >= 0x80 && u[i + k] <= 0xBF)
            k++;
        if (k <= need)
            break;
        i += need + 1;
    }
    return i;
}

/* RFC 3986 pchar, minus '%': what a canonical path carries unencoded. */
static bool http__is_pchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

static const char http__hexdigits[] = "0123456789ABCDEF";

int http__path_parse(const char *raw, size_t len, struct http__path *out, http__alloc_cb alloc,
                     void *pool, const char **why)
{
    out->nsegs = 0;
    out->too_many = false;
    out->canonical = NULL;
    *why = NULL;
    if (len == 0 || raw[0] != '/') {
        *why = "the request target must be a path starting with '/'";
        return RC_INVALID;
    }
    /* Decoding only shrinks, and each segment's NUL takes the place of the
     * '/' before it: <len> bytes hold them all. The canonical form writes
     * each decoded byte as at most 3. */
    if (len > (SIZE_MAX - 1) / 3)
        return RC_NOMEM;
    char *buf = alloc(pool, len);
    char *canon = alloc(pool, 3 * len + 1);
    if (!buf || !canon)
        return RC_NOMEM;
    size_t o = 0, c = 0;
    const char *s = raw + 1, *end = raw + len;
    for (;;) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *seg_end = slash ? slash : end;
        char *value = buf + o;
        size_t vlen = 0;
        for (const char *p = s; p < seg_end; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '%') {
                int hi = seg_end - p > 2 ? http__hex(p[1]) : -1;
                int lo = hi >= 0 ? http__hex(p[2]) : -1;
                if (lo < 0) {
                    *why = "malformed percent-encoding in the path";
                    return RC_INVALID;
                }
                ch = (unsigned char)(hi * 16 + lo);
                if (ch == '/') {
                    *why = "a path segment may not contain an encoded '/' (%2F)";
                    return RC_INVALID;
                }
                p += 2;
            }
            if (ch == '\0') {
                *why = "the path may not contain NUL (%00)";
                return RC_INVALID;
            }
            value[vlen++] = (char)ch;
        }
        value[vlen] = '\0';
        o += vlen + 1;
        if (http__utf8_valid_prefix(value, vlen) != vlen) {
            *why = "the path is not valid UTF-8 once percent-decoded";
            return RC_INVALID;
        }
        if ((vlen == 1 && value[0] == '.') || (vlen == 2 && value[0] == '.' && value[1] == '.')) {
            *why = "the path may not contain '.' or '..' segments";
            return RC_INVALID;
        }
        if (out->nsegs < HTTP__MAX_SEGMENTS)
            out->segs[out->nsegs++] = (struct http__segment){.value = value, .len = vlen};
        else
            out->too_many = true;
        canon[c++] = '/';
        for (size_t i = 0; i < vlen; i++) {
            unsigned char ch = (unsigned char)value[i];
            if (http__is_pchar(ch)) {
                canon[c++] = (char)ch;
            } else {
                canon[c++] = '%';
                canon[c++] = http__hexdigits[ch >> 4];
                canon[c++] = http__hexdigits[ch & 15];
            }
        }
        if (!slash)
            break;
        s = slash + 1;
    }
    canon[c] = '\0';
    out->canonical = canon;
    return RC_OK;
}

/* Length of the pattern segment starting at <s> (up to '/' or <end>). */
static size_t http__segment_len(const char *s, const char *end)
{
    const char *slash = memchr(s, '/', (size_t)(end - s));
    return (size_t)((slash ? slash : end) - s);
}

bool http__route_match(const char *pattern, const struct http__path *path,
                       struct http__param *params, size_t *nparams, uint32_t *specificity)
{
    const char *p = pattern, *pend = pattern + strlen(pattern);
    size_t n = 0, i = 0;
    uint32_t literals = 0;
    if (path->too_many || *p != '/')
        return false;
    for (; p < pend; i++) {
        p++; /* the '/' before each segment */
        size_t plen = http__segment_len(p, pend);
        if (i == path->nsegs)
            return false;
        const struct http__segment *seg = &path->segs[i];
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (seg->len == 0 || n == HTTP__MAX_PARAMS)
                return false;
            params[n].name = p + 1;
            params[n].name_len = plen - 2;
            params[n].value = seg->value;
            n++;
        } else if (plen != seg->len || memcmp(p, seg->value, plen) != 0) {
            return false;
        } else {
            literals |= 1u << (HTTP__MAX_SEGMENTS - 1 - i);
        }
        p += plen;
    }
    if (i != path->nsegs)
        return false;
    *nparams = n;
    *specificity = literals;
    return true;
}

char *http__path_escape(const char *raw, size_t len, http__alloc_cb alloc, void *pool)
{
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = alloc(pool, 3 * len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)raw[i];
        if (ch > 0x20 && ch < 0x7F) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = http__hexdigits[ch >> 4];
            out[o++] = http__hexdigits[ch & 15];
        }
    }
    out[o] = '\0';
    return out;
}

size_t http__target_path_offset(const char *target, size_t len)
{
    if (len == 0 || target[0] == '/')
        return 0;
    for (size_t i = 0; i + 2 < len; i++) {
        char c = target[i];
        if (c == ':' && i > 0 && target[i + 1] == '/' && target[i + 2] == '/') {
            const char *slash = memchr(target + i + 3, '/', len - i - 3);
            return slash ? (size_t)(slash - target) : len;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            break;
    }
    return 0;
}

char *http__query_get(const char *query, size_t len, const char *name, http__alloc_cb alloc,
                      void *pool)
{
    size_t name_len = strlen(name);
    const char *q = query, *end = query + len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pair_end - q));
        const char *key_end = eq ? eq : pair_end;
        if ((size_t)(key_end - q) == name_len && !memcmp(q, name, name_len)) {
            const char *v = eq ? eq + 1 : pair_end;
            size_t vlen = (size_t)(pair_end - v), out_len;
            char *out = alloc(pool, vlen + 1);
            if (!out || !http__percent_decode(v, vlen, true, out, &out_len))
                return NULL;
            return out;
        }
        if (!amp)
            break;
        q = amp + 1;
    }
    return NULL;
}

bool http__is_json_media_type(const char *value, size_t len)
{
    const char *semi = memchr(value, ';', len);
    size_t n = semi ? (size_t)(semi - value) : len;
    while (n > 0 && value[n - 1] == ' ')
        n--;
    if (n == strlen("application/json") && !strncasecmp(value, "application/json", n))
        return true;
    return n > strlen("application/") + strlen("+json") &&
           !strncasecmp(value, "application/", strlen("application/")) &&
           !strncasecmp(value + n - strlen("+json"), "+json", strlen("+json"));
}
