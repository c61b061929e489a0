/*
 * Route matching and URL decoding: pure functions over strings, no I/O, so
 * they are unit-tested and fuzzed directly. Patterns are trusted (our
 * route table); paths and queries are not.
 */
#include <string.h>
#include <strings.h>

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

/* Length of the segment starting at <s> (up to '/' or <end>). */
static size_t http__segment_len(const char *s, const char *end)
{
    const char *slash = memchr(s, '/', (size_t)(end - s));
    return (size_t)((slash ? slash : end) - s);
}

int http__route_match(const char *pattern, const char *path, size_t len, struct http__param *params,
                      size_t *nparams, http__alloc_cb alloc, void *pool)
{
    const char *p = pattern, *pend = pattern + strlen(pattern);
    const char *s = path, *send = path + len;
    size_t n = 0;
    /* A trailing slash is not a different resource: "/pointers/" = "/pointers". */
    if (send - s > 1 && send[-1] == '/')
        send--;
    while (p < pend && s < send) {
        if (*p != '/' || *s != '/')
            return 0;
        p++;
        s++;
        size_t plen = http__segment_len(p, pend), slen = http__segment_len(s, send);
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || n == HTTP__MAX_PARAMS)
                return 0;
            params[n].name = p + 1;
            params[n].name_len = plen - 2;
            params[n].value = NULL; /* decoded below, once the whole path fits */
            n++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen;
        s += slen;
    }
    if (p != pend || s != send)
        return 0;
    /* Second pass: decode parameter values now that the route is chosen. */
    s = path;
    p = pattern;
    size_t k = 0;
    while (p < pend) {
        p++;
        s++;
        size_t plen = http__segment_len(p, pend), slen = http__segment_len(s, send);
        if (plen >= 2 && p[0] == '{') {
            char *value = alloc(pool, slen + 1);
            size_t vlen;
            if (!value || !http__percent_decode(s, slen, false, value, &vlen))
                return -1;
            params[k++].value = value;
        }
        p += plen;
        s += slen;
    }
    *nparams = n;
    return 1;
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
