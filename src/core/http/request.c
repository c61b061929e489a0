/*
 * What a handler sees of a request, and how replies leave: accessors over
 * h2o's request, JSON and problem+json replies. Memory for copies comes from
 * the request's pool and disappears with the request.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/http/http_internal.h"
#include "core/json/jx.h"

void *http__pool_alloc(void *pool, size_t size) { return h2o_mem_alloc_pool(pool, size); }

void *http_req_ctx(struct http_req *req) { return req->ctx; }
const char *http_req_id(struct http_req *req) { return req->request_id; }
const char *http_req_method(struct http_req *req) { return req->method; }
const char *http_req_path(struct http_req *req) { return req->path; }

const char *http_req_param(struct http_req *req, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < req->nparams; i++)
        if (req->params[i].name_len == len && !memcmp(req->params[i].name, name, len))
            return req->params[i].value;
    BUG_ON(1); /* the route pattern has no such parameter: our bug */
    return NULL;
}

const char *http_req_query(struct http_req *req, const char *name)
{
    if (!req->query)
        return NULL;
    return http__query_get(req->query, req->query_len, name, http__pool_alloc, &req->h2o->pool);
}

int http_req_query_int(struct http_req *req, const char *name, int64_t def, int64_t min,
                       int64_t max, int64_t *out)
{
    const char *text = http_req_query(req, name);
    *out = def;
    if (!text)
        return RC_OK;
    /* Decimal digits with an optional '-', nothing else (strtoll alone would
     * take leading blanks and a '+'); at most 18 digits, so no overflow. */
    const char *digits = text + (*text == '-');
    size_t ndigits = strspn(digits, "0123456789");
    long long v = ndigits > 0 && ndigits <= 18 && !digits[ndigits] ? strtoll(text, NULL, 10) : 0;
    if (ndigits == 0 || ndigits > 18 || digits[ndigits] || v < min || v > max)
        return http_fail(req, RC_INVALID,
                         "query parameter '%s' must be an integer from %lld to %lld", name,
                         (long long)min, (long long)max);
    *out = v;
    return RC_OK;
}

const char *http_req_header(struct http_req *req, const char *name)
{
    char lower[64];
    size_t len = strlen(name);
    BUG_ON(len >= sizeof lower);
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    ssize_t at = h2o_find_header_by_str(&req->h2o->headers, lower, len, -1);
    if (at < 0)
        return NULL;
    h2o_iovec_t v = req->h2o->headers.entries[at].value;
    char *copy = h2o_mem_alloc_pool(&req->h2o->pool, v.len + 1);
    memcpy(copy, v.base, v.len);
    copy[v.len] = '\0';
    return copy;
}

void http_req_peer(struct http_req *req, char *out, size_t len)
{
    struct sockaddr_storage sa;
    h2o_conn_t *conn = req->h2o->conn;
    socklen_t salen = conn->callbacks->get_peername
                          ? conn->callbacks->get_peername(conn, (struct sockaddr *)&sa)
                          : 0;
    if (len)
        out[0] = '\0';
    if (salen == 0 || !len)
        return;
    const void *addr = sa.ss_family == AF_INET6
                           ? (const void *)&((struct sockaddr_in6 *)&sa)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)&sa)->sin_addr;
    if (!inet_ntop(sa.ss_family, addr, out, (socklen_t)len))
        out[0] = '\0';
}

const char *http_req_body(struct http_req *req, size_t *len)
{
    *len = req->h2o->entity.base ? req->h2o->entity.len : 0;
    return *len ? req->h2o->entity.base : "";
}

int http_req_json(struct http_req *req, json_t **out)
{
    *out = NULL;
    if (req->json) {
        *out = req->json;
        return RC_OK;
    }
    ssize_t at = h2o_find_header(&req->h2o->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (at < 0)
        return http_fail(req, RC_UNSUPPORTED_MEDIA,
                         "send the body as Content-Type: application/json");
    h2o_iovec_t ct = req->h2o->headers.entries[at].value;
    if (!http__is_json_media_type(ct.base, ct.len))
        return http_fail(req, RC_UNSUPPORTED_MEDIA,
                         "Content-Type must be application/json, not %.*s",
                         (int)(ct.len > 100 ? 100 : ct.len), ct.base);
    size_t len;
    const char *body = http_req_body(req, &len);
    if (len == 0)
        return http_fail(req, RC_BAD_JSON, "the request body is empty; a JSON object is expected");
    int rc = jx_parse(body, len, true, &req->json, req->detail, sizeof req->detail);
    if (rc != RC_OK)
        return rc;
    *out = req->json;
    return RC_OK;
}

void http_reply_header(struct http_req *req, const char *name, const char *value)
{
    h2o_req_t *r = req->h2o;
    size_t nlen = strlen(name), vlen = strlen(value);
    char *n = h2o_mem_alloc_pool(&r->pool, nlen + 1);
    for (size_t i = 0; i <= nlen; i++)
        n[i] = (char)tolower((unsigned char)name[i]);
    h2o_iovec_t v = h2o_strdup(&r->pool, value, vlen);
    h2o_add_header_by_str(&r->pool, &r->res.headers, n, nlen, 1, NULL, v.base, v.len);
}

/* Standard reason phrase of <status> (HTTP/1.1 clients print it). */
static const char *http__reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < ARRAY_LEN(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "";
}

int http_reply(struct http_req *req, int status, const char *content_type, const char *body,
               size_t len)
{
    BUG_ON(req->replied);
    h2o_req_t *r = req->h2o;
    /* Unavailable is for now: every 503 says when to come back, unless the
     * handler said it already. */
    if (status == 503 && h2o_find_header_by_str(&r->res.headers, H2O_STRLIT("retry-after"), -1) < 0)
        http_reply_header(req, "Retry-After", "1");
    /* Every 401 names the scheme to authenticate with (RFC 6750). */
    if (status == 401 &&
        h2o_find_header_by_str(&r->res.headers, H2O_STRLIT("www-authenticate"), -1) < 0)
        http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"webtoon\"");
    req->replied = true;
    req->status = status;
    r->res.status = status;
    r->res.reason = http__reason(status);
    /* A 304 has no content, and its Content-Length would have to be the
     * 200's (RFC 9110 8.6): none is sent. */
    r->res.content_length = status == 304 ? SIZE_MAX : len;
    if (content_type)
        h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       h2o_strdup(&r->pool, content_type, SIZE_MAX).base, strlen(content_type));
    h2o_add_header_by_str(&r->pool, &r->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          req->request_id, strlen(req->request_id));
    if (req->close_connection)
        r->http1_is_persistent = 0;
    h2o_send_inline(r, body, len);
    return RC_OK;
}

int http_reply_json(struct http_req *req, int status, json_t *body, const char *content_type)
{
    char *text = body ? jx_dump(body) : NULL;
    json_decref(body);
    if (!text)
        return RC_NOMEM;
    http_reply(req, status, content_type ? content_type : "application/json", text, strlen(text));
    mem_free(text);
    return RC_OK;
}

int http_fail(struct http_req *req, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->detail, sizeof req->detail, fmt, ap);
    va_end(ap);
    return rc;
}

/* New JSON string of <text> when it is valid UTF-8, else of a copy with
 * each byte that breaks it replaced by '?': a detail quoting client input,
 * or cut at a byte limit, must not cost the whole problem (jansson refuses
 * invalid UTF-8). NULL when out of memory. */
static json_t *http__utf8_string(const char *text)
{
    size_t len = strlen(text), ok = http__utf8_valid_prefix(text, len);
    if (ok == len)
        return json_string(text);
    char *copy = mem_strdup(text);
    if (!copy)
        return NULL;
    while (ok < len) {
        copy[ok++] = '?';
        ok += http__utf8_valid_prefix(copy + ok, len - ok);
    }
    json_t *v = json_string(copy);
    mem_free(copy);
    return v;
}

json_t *http_problem_body(int rc, const char *detail, const char *instance, const char *request_id)
{
    char type[96];
    snprintf(type, sizeof type, "/problems/%s", rc_slug(rc));
    json_t *body = json_pack("{s:s, s:s, s:i}", "type", type, "title", rc_title(rc), "status",
                             rc_http_status(rc));
    if (body && instance)
        json_object_set_new(body, "instance", http__utf8_string(instance));
    if (body && request_id)
        json_object_set_new(body, "requestId", json_string(request_id));
    if (body && detail && *detail)
        json_object_set_new(body, "detail", http__utf8_string(detail));
    return body;
}

json_t *http_problem_new(struct http_req *req, int rc, const char *detail)
{
    return http_problem_body(rc, detail, req->path ? req->path : "/", req->request_id);
}

/* Sends the problem+json reply for <rc> (RFC 9457). Never fails: when even
 * the JSON cannot be built, a fixed body goes out. */
void http__reply_problem(struct http_req *req, int rc)
{
    json_t *body = http_problem_new(req, rc, req->detail);
    char *text = body ? jx_dump(body) : NULL;
    json_decref(body);
    if (text) {
        http_reply(req, rc_http_status(rc), "application/problem+json", text, strlen(text));
        mem_free(text);
    } else {
        static const char fallback[] = "{\"title\":\"Service unavailable\",\"status\":503}";
        http_reply(req, 503, "application/problem+json", fallback, sizeof fallback - 1);
    }
}
