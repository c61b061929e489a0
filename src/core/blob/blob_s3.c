/*
 * Blobs as objects of one bucket on an S3-compatible server (SeaweedFS in
 * the tests and on the real engines, AWS S3, MinIO ...), over libcurl with
 * its built-in SigV4 signing (CURLOPT_AWS_SIGV4) and path-style URLs
 * (<endpoint>/<bucket>/<key>), which every such server accepts without DNS
 * names per bucket.
 *
 * Each call uses an easy handle of its own (an easy handle must never be
 * used by two threads at once); a share object, locked per kind of data,
 * lets them reuse the connections and name lookups of earlier calls. The
 * body's SHA-256 goes into x-amz-content-sha256, which S3 requires of
 * signed requests. Every request is bounded by the store's timeout, so a
 * server that is down or hangs costs at most that and answers
 * RC_UNAVAILABLE. The secret key is only ever handed to libcurl.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/blob/blob_internal.h"
#include "core/log/log.h"

#define BLOB_S3_BUCKET_MAX 63
#define BLOB_S3_URL_MAX 1536
#define BLOB_S3_CONNECT_MS 2000L
#define BLOB_S3_ERROR_BODY_MAX 4096 /* of an error answer, kept for the reason */
#define BLOB_S3_WHY_MAX 320

struct blob_s3 {
    struct blob_store base;
    char *endpoint;                             /* no trailing '/' */
    char bucket[BLOB_S3_BUCKET_MAX + 1];        /* validated bucket name */
    char sigv4[96];                             /* "aws:amz:<region>:s3" */
    char *access_key;                           /* owned */
    char *secret_key;                           /* owned; only given to libcurl */
    long timeout_ms;                            /* per request */
    CURLSH *share;                              /* connections and DNS, across calls */
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST]; /* one per kind of shared data */
};

/* One request: <key> NULL means the bucket itself. */
struct blob_s3_request {
    const char *method; /* GET, PUT, DELETE */
    const char *key;    /* NULL: the bucket */
    const char *query;  /* NULL or "a=1&b=2", already sorted and encoded */
    const void *body;   /* PUT: the bytes sent */
    size_t body_len;
    const char *content_type; /* PUT only */
    struct buf *out;          /* receives a 2xx answer's body, or NULL to drop it */
};

/* Where the answer's body goes: <out> for a 2xx, <error_body> otherwise. */
struct blob_s3_sink {
    CURL *curl;
    struct buf *out;
    struct buf error_body;
    int rc; /* RC_OK, or why the transfer was stopped (the body did not fit) */
};

static struct blob_s3 *blob_s3_of(struct blob_store *b) { return (struct blob_s3 *)b; }

static void blob_s3_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)handle;
    (void)access;
    pthread_mutex_lock(&((struct blob_s3 *)ud)->locks[data]);
}

static void blob_s3_unlock(CURL *handle, curl_lock_data data, void *ud)
{
    (void)handle;
    pthread_mutex_unlock(&((struct blob_s3 *)ud)->locks[data]);
}

static size_t blob_s3_write(char *data, size_t size, size_t n, void *ud)
{
    struct blob_s3_sink *sink = ud;
    long status = 0;
    curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        /* Only the start of an error answer matters (its Code and Message). */
        size_t room = sink->error_body.max - sink->error_body.len;
        buf_append(&sink->error_body, data, size * n < room ? size * n : room);
        return size * n;
    }
    if (!sink->out)
        return size * n;
    sink->rc = buf_append(sink->out, data, size * n);
    return sink->rc == RC_OK ? size * n : 0; /* 0 stops the transfer */
}

/* Copies the text of the first <tag> element of the XML in <body> into <dst>
 * (<len> bytes), "" when absent. Error answers are flat and small; this is
 * only for the reason logged, never for decisions. */
static void blob_s3_xml_text(const char *body, const char *tag, char *dst, size_t len)
{
    char open[32], close[32];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    dst[0] = '\0';
    const char *start = body ? strstr(body, open) : NULL;
    const char *end = start ? strstr(start, close) : NULL;
    if (start && end)
        snprintf(dst, len, "%.*s", (int)(end - start - strlen(open)), start + strlen(open));
}

/* Hex SHA-256 of <len> bytes at <data> into <hex> (65 bytes). */
static int blob_s3_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return RC_INTERNAL;
    for (unsigned int i = 0; i < md_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return RC_OK;
}

/* The result code of an answer with HTTP <status> (not 2xx). */
static int blob_s3_status_rc(long status)
{
    if (status == 404)
        return RC_NOT_FOUND;
    if (status == 401 || status == 403)
        return RC_FORBIDDEN;
    if (status == 413)
        return RC_TOO_LARGE;
    if (status == 408 || status == 429 || status >= 500)
        return RC_UNAVAILABLE;
    return RC_INTERNAL; /* any other 4xx: a request this module should not have made */
}

static int blob_s3_curl_rc(CURLcode cc)
{
    return cc == CURLE_OUT_OF_MEMORY ? RC_NOMEM : RC_UNAVAILABLE;
}

/*
 * Sends <req> and waits for the answer, at most the store's timeout. Returns
 * RC_OK for a 2xx (its body in req->out), else the code of the failure, with
 * the HTTP status in <status> (0 when none came) and a reason in <why>
 * (<whylen> bytes): libcurl's, or the status with S3's error Code and
 * Message.
 */
static int blob_s3_perform(struct blob_s3 *s, const struct blob_s3_request *req, long *status,
                           char *why, size_t whylen)
{
    char url[BLOB_S3_URL_MAX], hash[65], header[128];
    struct curl_slist *headers = NULL, *more = NULL;
    struct blob_s3_sink sink = {.out = req->out};
    buf_init(&sink.error_body, BLOB_S3_ERROR_BODY_MAX);
    *status = 0;
    why[0] = '\0';
    int rc = RC_OK;
    CURL *curl = NULL;

    int n = snprintf(url, sizeof url, "%s/%s%s%s%s%s", s->endpoint, s->bucket, req->key ? "/" : "",
                     req->key ? req->key : "", req->query ? "?" : "", req->query ? req->query : "");
    if (n < 0 || (size_t)n >= sizeof url) {
        rc = RC_INVALID;
        snprintf(why, whylen, "URL too long");
        goto out;
    }
    rc = blob_s3_sha256_hex(req->body ? req->body : "", req->body_len, hash);
    if (rc != RC_OK)
        goto out;
    snprintf(header, sizeof header, "x-amz-content-sha256: %s", hash);
    more = headers = curl_slist_append(NULL, header);
    if (more && req->content_type) {
        snprintf(header, sizeof header, "Content-Type: %s", req->content_type);
        more = curl_slist_append(headers, header);
    }
    curl = more ? curl_easy_init() : NULL;
    if (!curl) {
        rc = RC_NOMEM;
        goto out;
    }
    sink.curl = curl;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_SHARE, s->share);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     s->timeout_ms < BLOB_S3_CONNECT_MS ? s->timeout_ms : BLOB_S3_CONNECT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(curl, CURLOPT_USERNAME, s->access_key);
    curl_easy_setopt(curl, CURLOPT_PASSWORD, s->secret_key);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, blob_s3_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    if (!strcmp(req->method, "PUT")) {
        /* The body from memory, so libcurl can sign it and resend it on a
         * reused connection that turned out closed. */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (strcmp(req->method, "GET") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);

    CURLcode cc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    if (cc != CURLE_OK) {
        rc = cc == CURLE_WRITE_ERROR && sink.rc != RC_OK ? sink.rc : blob_s3_curl_rc(cc);
        snprintf(why, whylen, "%s", curl_easy_strerror(cc));
        goto out;
    }
    if (*status < 200 || *status > 299) {
        char code[64], message[200];
        blob_s3_xml_text(sink.error_body.data, "Code", code, sizeof code);
        blob_s3_xml_text(sink.error_body.data, "Message", message, sizeof message);
        rc = blob_s3_status_rc(*status);
        snprintf(why, whylen, "HTTP %ld%s%s%s%s", *status, *code ? " " : "", code,
                 *message ? ": " : "", message);
    }
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    buf_cleanup(&sink.error_body);
    return rc;
}

/* Logs why a request on <key> failed: the boundary sees only the code. */
static void blob_s3_log_failure(struct blob_s3 *s, const char *method, const char *key, int rc,
                                const char *why)
{
    log_warn("S3 %s %s/%s failed (%s): %s%s", method, s->bucket, key, rc_name(rc), why,
             rc == RC_FORBIDDEN ? " (check WEBTOON_S3_ACCESS_KEY and WEBTOON_S3_SECRET_KEY)" : "");
}

static int blob_s3_put(struct blob_store *b, const char *key, const void *data, size_t len,
                       const char *content_type)
{
    struct blob_s3 *s = blob_s3_of(b);
    char why[BLOB_S3_WHY_MAX];
    long status;
    struct blob_s3_request req = {
        .method = "PUT", .key = key, .body = data, .body_len = len, .content_type = content_type};
    int rc = blob_s3_perform(s, &req, &status, why, sizeof why);
    if (rc == RC_NOT_FOUND) /* the bucket went away under us */
        rc = RC_UNAVAILABLE;
    if (rc != RC_OK)
        blob_s3_log_failure(s, "PUT", key, rc, why);
    return rc;
}

static int blob_s3_get(struct blob_store *b, const char *key, struct buf *out)
{
    struct blob_s3 *s = blob_s3_of(b);
    char why[BLOB_S3_WHY_MAX];
    long status;
    struct blob_s3_request req = {.method = "GET", .key = key, .out = out};
    int rc = blob_s3_perform(s, &req, &status, why, sizeof why);
    if (rc != RC_OK && rc != RC_NOT_FOUND && rc != RC_TOO_LARGE)
        blob_s3_log_failure(s, "GET", key, rc, why);
    return rc;
}

static int blob_s3_delete(struct blob_store *b, const char *key)
{
    struct blob_s3 *s = blob_s3_of(b);
    char why[BLOB_S3_WHY_MAX];
    long status;
    struct blob_s3_request req = {.method = "DELETE", .key = key};
    int rc = blob_s3_perform(s, &req, &status, why, sizeof why);
    if (rc == RC_NOT_FOUND) /* S3 itself answers 204 for a missing key */
        rc = RC_OK;
    if (rc != RC_OK)
        blob_s3_log_failure(s, "DELETE", key, rc, why);
    return rc;
}

/* Whether <name> is a bucket name S3 accepts for path-style use: 3 to 63
 * lower-case letters, digits, '.' and '-', starting and ending with a letter
 * or digit. */
static bool blob_s3_bucket_is_valid(const char *name)
{
    size_t len = strlen(name);
    if (len < 3 || len > BLOB_S3_BUCKET_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '.' && c != '-') || i == 0 || i == len - 1))
            return false;
    }
    return true;
}

/* Makes sure the bucket exists and the credentials may use it: lists at
 * most one key, creates the bucket when it is missing (a 409 means another
 * process created it first), and lists again. */
static int blob_s3_ensure_bucket(struct blob_s3 *s, const char *region, char *err, size_t errlen)
{
    char why[BLOB_S3_WHY_MAX], body[256];
    long status;
    struct blob_s3_request list = {.method = "GET", .query = "list-type=2&max-keys=1"};
    int rc = blob_s3_perform(s, &list, &status, why, sizeof why);
    if (rc == RC_NOT_FOUND) {
        /* Outside us-east-1, S3 wants the region in the body. */
        int n = strcmp(region, "us-east-1") != 0
                    ? snprintf(body, sizeof body,
                               "<CreateBucketConfiguration><LocationConstraint>%s"
                               "</LocationConstraint></CreateBucketConfiguration>",
                               region)
                    : 0;
        struct blob_s3_request create = {.method = "PUT",
                                         .body = body,
                                         .body_len = (size_t)n,
                                         .content_type = n ? "application/xml" : NULL};
        rc = blob_s3_perform(s, &create, &status, why, sizeof why);
        if (rc == RC_OK || status == 409)
            rc = blob_s3_perform(s, &list, &status, why, sizeof why);
    }
    if (rc == RC_FORBIDDEN)
        snprintf(err, errlen,
                 "S3 at %s refused access key '%s' for bucket %s: %s (check %s and %s)",
                 s->endpoint, s->access_key, s->bucket, why, config_name(CONFIG_S3_ACCESS_KEY),
                 config_name(CONFIG_S3_SECRET_KEY));
    else if (rc != RC_OK)
        snprintf(err, errlen, "S3 at %s, bucket %s: %s", s->endpoint, s->bucket, why);
    if (rc != RC_OK && rc != RC_FORBIDDEN && rc != RC_NOMEM)
        rc = RC_UNAVAILABLE;
    return rc;
}

static void blob_s3_close(struct blob_store *b)
{
    struct blob_s3 *s = blob_s3_of(b);
    if (s->share)
        curl_share_cleanup(s->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->locks[i]);
    mem_free(s->endpoint);
    mem_free(s->access_key);
    mem_free(s->secret_key);
    mem_free(s);
}

/* Checks the settings an s3:// URL needs; says which one is wrong. */
static int blob_s3_check_settings(const char *bucket, const struct blob_s3_settings *s3, char *err,
                                  size_t errlen)
{
    const char *endpoint = s3 && s3->endpoint ? s3->endpoint : "";
    if (!blob_s3_bucket_is_valid(bucket)) {
        snprintf(err, errlen, "%s: '%.100s' is not a valid S3 bucket name",
                 config_name(CONFIG_BLOB_URL), bucket);
        return RC_CONFIG;
    }
    if ((strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) ||
        strpbrk(endpoint, " \t\r\n?#")) {
        snprintf(err, errlen, "%s: an s3:// blob URL needs an http(s):// endpoint, not '%.200s'",
                 config_name(CONFIG_S3_ENDPOINT), endpoint);
        return RC_CONFIG;
    }
    if (!s3->region || !*s3->region || strlen(s3->region) > 40 ||
        strspn(s3->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s3->region)) {
        snprintf(err, errlen, "%s: not a region name", config_name(CONFIG_S3_REGION));
        return RC_CONFIG;
    }
    if (!s3->access_key || !*s3->access_key || !s3->secret_key || !*s3->secret_key ||
        strchr(s3->access_key, ':')) {
        snprintf(err, errlen, "%s and %s must be set for an s3:// blob URL",
                 config_name(CONFIG_S3_ACCESS_KEY), config_name(CONFIG_S3_SECRET_KEY));
        return RC_CONFIG;
    }
    if (s3->timeout_ms <= 0) {
        snprintf(err, errlen, "%s must be positive", config_name(CONFIG_S3_TIMEOUT_MS));
        return RC_CONFIG;
    }
    return RC_OK;
}

static int blob_s3_open(const char *rest, const struct blob_s3_settings *s3,
                        struct blob_store **out, char *err, size_t errlen)
{
    int rc = blob_s3_check_settings(rest, s3, err, errlen);
    if (rc != RC_OK)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return RC_INTERNAL;
    }
    struct blob_s3 *s = mem_calloc(1, sizeof *s);
    if (!s)
        return RC_NOMEM;
    s->base.ops = &blob__s3_ops;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->locks[i], NULL);
    size_t len = strlen(s3->endpoint);
    while (len > 0 && s3->endpoint[len - 1] == '/')
        len--;
    s->endpoint = mem_strndup(s3->endpoint, len);
    s->access_key = mem_strdup(s3->access_key);
    s->secret_key = mem_strdup(s3->secret_key);
    s->share = curl_share_init();
    if (!s->endpoint || !s->access_key || !s->secret_key || !s->share) {
        blob_s3_close(&s->base);
        return RC_NOMEM;
    }
    snprintf(s->bucket, sizeof s->bucket, "%s", rest);
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s3->region);
    s->timeout_ms = s3->timeout_ms;
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, blob_s3_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, blob_s3_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    rc = blob_s3_ensure_bucket(s, s3->region, err, errlen);
    if (rc != RC_OK) {
        blob_s3_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return RC_OK;
}

const struct blob_ops blob__s3_ops = {
    .scheme = "s3://",
    .open = blob_s3_open,
    .put = blob_s3_put,
    .get = blob_s3_get,
    .del = blob_s3_delete,
    .close = blob_s3_close,
};
