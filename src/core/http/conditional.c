/*
 * Conditional GETs: strong ETags of the bytes a representation is made of,
 * and If-None-Match answered with 304 Not Modified (RFC 9110 8.8.3, 13.1.2,
 * 15.4.5). A resource opts in by replying through http_reply_validated (or
 * the JSON form); the tag is a hash of the body, so equal bytes always carry
 * the same tag wherever and whenever they were made, and a client that
 * revalidates a page nothing changed on gets 304 even after unrelated writes.
 */
#include <stdio.h>
#include <string.h>

#include "core/base/hash.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/http/http_internal.h"
#include "core/json/jx.h"

void http_etag_of(const char *body, size_t len, char out[HTTP_ETAG_MAX])
{
    snprintf(out, HTTP_ETAG_MAX, "\"%016llx\"", (unsigned long long)hash_fnv1a(body, len));
}

/* Past optional whitespace (SP, HTAB) from <p> up to <end>. */
static const char *http__skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

bool http__etag_list_matches(const char *field, size_t len, const char *etag)
{
    const char *p = http__skip_ows(field, field + len), *end = field + len;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end - p == 1 && *p == '*')
        return true;
    size_t etag_len = strlen(etag);
    bool matched = false;
    while (p < end) {
        if (*p == ',') { /* empty list elements are allowed (RFC 9110 5.6.1) */
            p = http__skip_ows(p + 1, end);
            continue;
        }
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2; /* weak comparison: the opaque tags alone are compared */
        const char *opaque = p;
        if (p == end || *p++ != '"')
            return false;
        /* etagc: any visible byte but DQUOTE, and obs-text */
        while (p < end && *p != '"' && ((unsigned char)*p > 0x20 && (unsigned char)*p != 0x7F))
            p++;
        if (p == end || *p++ != '"')
            return false;
        if ((size_t)(p - opaque) == etag_len && !memcmp(opaque, etag, etag_len))
            matched = true;
        p = http__skip_ows(p, end);
        if (p < end && *p != ',')
            return false;
    }
    return matched;
}

/* True when one of the request's If-None-Match fields matches <etag>. */
static bool http__not_modified(struct http_req *req, const char *etag)
{
    const h2o_headers_t *headers = &req->h2o->headers;
    for (ssize_t at = -1;
         (at = h2o_find_header_by_str(headers, H2O_STRLIT("if-none-match"), at)) >= 0;) {
        h2o_iovec_t v = headers->entries[at].value;
        if (http__etag_list_matches(v.base, v.len, etag))
            return true;
    }
    return false;
}

int http_reply_validated(struct http_req *req, const char *content_type, const char *body,
                         size_t len, const char *etag, const char *cache_control)
{
    http_reply_header(req, "ETag", etag);
    http_reply_header(req, "Cache-Control", cache_control);
    if (http__not_modified(req, etag))
        return http_reply(req, 304, NULL, "", 0);
    return http_reply(req, 200, content_type, body, len);
}

int http_reply_json_validated(struct http_req *req, json_t *body, const char *content_type,
                              const char *cache_control)
{
    char *text = body ? jx_dump(body) : NULL;
    json_decref(body);
    if (!text)
        return RC_NOMEM;
    char etag[HTTP_ETAG_MAX];
    size_t len = strlen(text);
    http_etag_of(text, len, etag);
    int rc = http_reply_validated(req, content_type ? content_type : "application/json", text, len,
                                  etag, cache_control);
    mem_free(text);
    return rc;
}
