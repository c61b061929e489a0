/*
 * Covers and page images of the webtoon service. An upload is checked and
 * resized off the event loop (http_req_offload: image work and blob I/O
 * never run on a loop), its original and variants are stored in the blob
 * store under content-addressed keys (img/<sha256 of the original>/original,
 * /reading, /thumb), and a command then records it, so an Idempotency-Key
 * works as for every command. Images are served with the SHA-256 of the
 * variant's bytes as ETag, and cached for a year when the URL names that
 * variant (?v=). A page of an episode that is not free now goes only to who
 * may read it: an owner or an admin by token, or anyone holding the access
 * capability an open hands out (docs/API.md); everyone else gets one and the
 * same 403, whether the page exists or not.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/auth/policy.h"
#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/blob/blob.h"
#include "core/image/image.h"
#include "core/json/jx.h"
#include "core/log/log.h"
#include "core/service/command.h"
#include "domain/users.h"
#include "svc/webtoon/webtoon.h"

#define WEBTOON_READING_WIDTH 800
#define WEBTOON_THUMB_WIDTH 240
#define WEBTOON_IMAGE_WORK_MS 60000 /* longest an upload's processing may take */
#define WEBTOON_FETCH_WORK_MS 15000 /* longest reading one image may take */
#define WEBTOON_CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define WEBTOON_CACHE_IMMUTABLE_PRIVATE "private, max-age=31536000, immutable"
#define WEBTOON_PAGE_REFUSAL                                                                       \
    "this page is for readers of the episode: open it (POST /webtoons/{id}/open) for its links"

/* What every thread of a process shares: one blob store and one key. */
struct webtoon_media {
    struct blob_store *blobs;
    unsigned char key[WEBTOON_MEDIA_KEY_MAX]; /* signs access capabilities */
    size_t keylen;
    struct image_limits limits;
    int users; /* contexts holding it; under webtoon_media_lock */
};

static pthread_mutex_t webtoon_media_lock = PTHREAD_MUTEX_INITIALIZER;
static struct webtoon_media *webtoon_media_shared; /* under webtoon_media_lock */

/* Reads WEBTOON_MEDIA_KEY (hex) into <m>, or makes a random key when it is empty. */
static int webtoon_media_key(struct webtoon_media *m, const char *hex)
{
    if (!*hex) {
        m->keylen = 32;
        return RAND_bytes(m->key, (int)m->keylen) == 1 ? RC_OK : RC_INTERNAL;
    }
    long len = 0;
    unsigned char *key = OPENSSL_hexstr2buf(hex, &len);
    int rc = key && len >= 32 && len <= WEBTOON_MEDIA_KEY_MAX ? RC_OK : RC_CONFIG;
    if (rc == RC_OK) {
        memcpy(m->key, key, (size_t)len);
        m->keylen = (size_t)len;
    }
    OPENSSL_free(key);
    return rc;
}

int webtoon_media_open(struct service_ctx *ctx)
{
    int rc = RC_OK;
    pthread_mutex_lock(&webtoon_media_lock);
    struct webtoon_media *m = webtoon_media_shared;
    if (!m) {
        char err[256];
        m = mem_calloc(1, sizeof *m);
        if (!m)
            rc = RC_NOMEM;
        else if ((rc = webtoon_media_key(m, config_str(ctx->cfg, CONFIG_MEDIA_KEY))) != RC_OK)
            log_error("WEBTOON_MEDIA_KEY must be 64 to 128 hex digits");
        else if ((rc = blob_open_config(ctx->cfg, &m->blobs, err, sizeof err)) != RC_OK)
            log_error("cannot open the blob store: %s", err);
        m->limits = (struct image_limits){
            .max_bytes = (size_t)config_int(ctx->cfg, CONFIG_IMAGE_MAX_BYTES),
            .max_pixels = config_int(ctx->cfg, CONFIG_IMAGE_MAX_PIXELS),
            .max_width = 4000,
            .max_height = 40000,
        };
        if (rc != RC_OK) {
            if (m)
                OPENSSL_cleanse(m->key, sizeof m->key);
            mem_free(m);
            m = NULL;
        }
        webtoon_media_shared = m;
    }
    if (m)
        m->users++;
    pthread_mutex_unlock(&webtoon_media_lock);
    ctx->ext = m;
    return rc;
}

void webtoon_media_close(struct service_ctx *ctx)
{
    struct webtoon_media *m = ctx->ext;
    ctx->ext = NULL;
    if (!m)
        return;
    pthread_mutex_lock(&webtoon_media_lock);
    if (--m->users == 0) {
        blob_close(m->blobs);
        OPENSSL_cleanse(m->key, sizeof m->key);
        mem_free(m);
        webtoon_media_shared = NULL;
    }
    pthread_mutex_unlock(&webtoon_media_lock);
}

static struct webtoon_media *webtoon_media_of(struct http_req *req)
{
    struct service_ctx *ctx = http_req_ctx(req);
    return ctx->ext;
}

const struct http_body_limit *webtoon_media_body_limits(const struct config *cfg)
{
    /* Filled once at start, before any thread reads it. */
    static struct http_body_limit limits[] = {
        {"PUT", "/series/{id}/cover", 0},
        {"POST", "/webtoons/{id}/pages", 0},
        {0},
    };
    for (struct http_body_limit *l = limits; l->method; l++)
        l->max_body = (size_t)config_int(cfg, CONFIG_IMAGE_MAX_BYTES);
    return limits;
}

/* The hex SHA-256 of <len> bytes at <data> into <out>. */
static void webtoon_sha256(const void *data, size_t len, char out[WEBTOON_SHA_HEX])
{
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* --- uploads ------------------------------------------------------------------- */

struct webtoon_upload {
    struct webtoon_media *media;
    char *bytes; /* a copy of the request body: the work may outlive the request */
    size_t len;
    char declared[64];         /* the request's Content-Type, "" when none */
    int rc;                    /* of the work; RC_OK: <img> is stored */
    service_command_cb record; /* the command that records it */
    char detail[256];
    struct webtoon_image img;
};

/* Makes variant <width> of <u>'s image and stores it as <name>. */
static int webtoon_store_variant(struct webtoon_upload *u, const char *name, int width, char *sha,
                                 char *type, size_t type_len)
{
    struct buf out;
    const char *content_type = NULL;
    char key[BLOB_KEY_MAX];
    buf_init(&out, 4 * u->media->limits.max_bytes + (64u << 20));
    int rc =
        image_variant(u->bytes, u->len, width, &out, &content_type, u->detail, sizeof u->detail);
    if (rc == RC_OK) {
        webtoon_sha256(out.data, out.len, sha);
        snprintf(type, type_len, "%s", content_type);
        snprintf(key, sizeof key, "img/%s/%s", u->img.sha, name);
        if ((rc = blob_put(u->media->blobs, key, out.data, out.len, content_type)) != RC_OK)
            snprintf(u->detail, sizeof u->detail, "the image store did not take the %s", name);
    }
    buf_cleanup(&out);
    return rc;
}

/* On an offload thread: checks, resizes and stores the upload. */
static void webtoon_upload_run(void *data)
{
    struct webtoon_upload *u = data;
    struct image_info info;
    char key[BLOB_KEY_MAX];
    u->rc = image_inspect(u->bytes, u->len, u->declared[0] ? u->declared : NULL, &u->media->limits,
                          &info, u->detail, sizeof u->detail);
    if (u->rc != RC_OK)
        return;
    webtoon_sha256(u->bytes, u->len, u->img.sha);
    u->img.width = info.width;
    u->img.height = info.height;
    snprintf(u->img.original_type, sizeof u->img.original_type, "%s",
             image_format_type(info.format));
    snprintf(key, sizeof key, "img/%s/original", u->img.sha);
    if ((u->rc = blob_put(u->media->blobs, key, u->bytes, u->len, u->img.original_type)) != RC_OK) {
        snprintf(u->detail, sizeof u->detail, "the image store did not take the original");
        return;
    }
    if ((u->rc = webtoon_store_variant(u, "reading", WEBTOON_READING_WIDTH, u->img.reading_sha,
                                       u->img.reading_type, sizeof u->img.reading_type)) != RC_OK)
        return;
    u->rc = webtoon_store_variant(u, "thumb", WEBTOON_THUMB_WIDTH, u->img.thumb_sha,
                                  u->img.thumb_type, sizeof u->img.thumb_type);
}

static void webtoon_upload_cleanup(void *data)
{
    struct webtoon_upload *u = data;
    mem_free(u->bytes);
    mem_free(u);
}

/* The stored upload as the input of the command that records it. */
static json_t *webtoon_image_input(const struct webtoon_image *img)
{
    return json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "sha", img->sha, "width",
                     (json_int_t)img->width, "height", (json_int_t)img->height, "originalType",
                     img->original_type, "readingSha", img->reading_sha, "readingType",
                     img->reading_type, "thumbSha", img->thumb_sha, "thumbType", img->thumb_type);
}

/* The image a recording command was given (webtoon_image_input: trusted). */
static void webtoon_image_of_input(const json_t *in, struct webtoon_image *img)
{
    *img = (struct webtoon_image){.found = true};
    snprintf(img->sha, sizeof img->sha, "%s", json_string_value(json_object_get(in, "sha")));
    img->width = json_integer_value(json_object_get(in, "width"));
    img->height = json_integer_value(json_object_get(in, "height"));
    snprintf(img->original_type, sizeof img->original_type, "%s",
             json_string_value(json_object_get(in, "originalType")));
    snprintf(img->reading_sha, sizeof img->reading_sha, "%s",
             json_string_value(json_object_get(in, "readingSha")));
    snprintf(img->reading_type, sizeof img->reading_type, "%s",
             json_string_value(json_object_get(in, "readingType")));
    snprintf(img->thumb_sha, sizeof img->thumb_sha, "%s",
             json_string_value(json_object_get(in, "thumbSha")));
    snprintf(img->thumb_type, sizeof img->thumb_type, "%s",
             json_string_value(json_object_get(in, "thumbType")));
}

/* Back on the loop: records a stored upload, or says why there is none. */
static int webtoon_upload_done(struct http_req *req, void *data)
{
    struct webtoon_upload *u = data;
    if (u->rc != RC_OK)
        return http_fail(req, u->rc, "%s", u->detail);
    json_t *input = webtoon_image_input(&u->img);
    return input ? service_command_input(req, input, u->record) : RC_NOMEM;
}

/*
 * Starts an upload of the request body: refuses a body that says it is no
 * image before any work, then hands the work to an offload thread; once it
 * is stored, the command <record> records it.
 */
static int webtoon_upload_start(struct http_req *req, service_command_cb record)
{
    struct webtoon_media *m = webtoon_media_of(req);
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    const char *type = http_req_header(req, "Content-Type");
    if (!m)
        return http_fail(req, RC_UNAVAILABLE, "images are not available here");
    if (!type || (strncmp(type, "image/", 6) != 0 && strcmp(type, "application/octet-stream")))
        return http_fail(req, RC_UNSUPPORTED_MEDIA,
                         "send the image itself, as image/png, image/jpeg or image/webp");
    if (len == 0)
        return http_fail(req, RC_INVALID, "the body is empty: send the image");
    struct webtoon_upload *u = mem_calloc(1, sizeof *u);
    char *copy = u ? mem_alloc(len) : NULL;
    if (!copy) {
        mem_free(u);
        return RC_NOMEM;
    }
    memcpy(copy, body, len);
    *u = (struct webtoon_upload){.media = m, .bytes = copy, .len = len, .record = record};
    snprintf(u->declared, sizeof u->declared, "%s", type);
    const struct http_work work = {.run = webtoon_upload_run,
                                   .resume = webtoon_upload_done,
                                   .cleanup = webtoon_upload_cleanup,
                                   .timeout_ms = WEBTOON_IMAGE_WORK_MS};
    return http_req_offload(req, &work, u);
}

static int webtoon_cover_record(struct http_req *req, struct store *st, const json_t *input,
                                struct service_reply *reply)
{
    const char *id = http_req_param(req, "id");
    struct webtoon_image img;
    struct webtoon_series s;
    webtoon_image_of_input(input, &img);
    int rc = webtoon_store_series_get(st, id, clock_business_ms(), &s);
    if (rc != RC_OK)
        return rc;
    if (!s.found)
        return http_fail(req, RC_NOT_FOUND, "no series '%.64s'", id);
    if ((rc = webtoon_store_image_put(st, &img)) != RC_OK ||
        (rc = webtoon_store_cover_set(st, id, img.sha)) != RC_OK)
        return rc;
    s.cover = img;
    if ((rc = webtoon_emit_series(st, &s, EV_SERIES_UPDATED)) != RC_OK)
        return rc;
    reply->status = 200;
    reply->body = webtoon_series_json(&s);
    return RC_OK;
}

int webtoon_handle_cover_put(struct http_req *req)
{
    const char *id = http_req_param(req, "id");
    struct webtoon_series s;
    int rc = webtoon_store_series_get(service_store(req), id, 0, &s);
    if (rc != RC_OK)
        return rc;
    if (!s.found) /* before any image work; the command checks again */
        return http_fail(req, RC_NOT_FOUND, "no series '%.64s'", id);
    return webtoon_upload_start(req, webtoon_cover_record);
}

static int webtoon_page_record(struct http_req *req, struct store *st, const json_t *input,
                               struct service_reply *reply)
{
    const char *id = http_req_param(req, "id");
    struct webtoon_image img;
    struct webtoon_item w;
    int64_t number;
    webtoon_image_of_input(input, &img);
    int rc = webtoon_store_get(st, id, &w);
    if (rc != RC_OK)
        return rc;
    if (!w.found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    if ((rc = webtoon_store_image_put(st, &img)) != RC_OK ||
        (rc = webtoon_store_page_add(st, id, img.sha, &number)) != RC_OK)
        return rc == RC_INVALID_STATE
                   ? http_fail(req, rc, "an episode has at most %d pages", WEBTOON_PAGE_MAX)
                   : rc;
    if ((rc = webtoon_emit_pages(st, id, number)) != RC_OK)
        return rc;
    reply->status = 201;
    reply->body = webtoon_page_json(id, number, &img);
    snprintf(reply->location, sizeof reply->location, "/webtoons/%s/pages/%lld", id,
             (long long)number);
    return RC_OK;
}

int webtoon_handle_pages_post(struct http_req *req)
{
    const char *id = http_req_param(req, "id");
    struct webtoon_item w;
    int rc = webtoon_store_get(service_store(req), id, &w);
    if (rc != RC_OK)
        return rc;
    if (!w.found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    return webtoon_upload_start(req, webtoon_page_record);
}

/* --- page order -------------------------------------------------------------------- */

/* Answers <status> with the pages of <id> as they are now. */
static int webtoon_pages_reply(struct store *st, const char *id, int status,
                               struct service_reply *reply)
{
    json_t *pages = NULL;
    int rc = webtoon_store_pages(st, id, &pages);
    if (rc != RC_OK)
        return rc;
    reply->status = status;
    reply->content_type = "application/json";
    reply->body = json_pack("{s:s, s:o}", "webtoonId", id, "pages", pages);
    return reply->body ? RC_OK : RC_NOMEM;
}

static int webtoon_pages_reorder(struct http_req *req, struct store *st, const json_t *body,
                                 struct service_reply *reply)
{
    const char *id = http_req_param(req, "id");
    struct webtoon_item w;
    struct jx_reader r;
    jx_reader_init(&r, body);
    jx_only(&r, "order", (const char *)NULL);
    if (!r.rc && !jx_has(&r, "order"))
        jx_fail(&r, RC_INVALID, "field 'order' is required");
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);
    int rc = webtoon_store_get(st, id, &w);
    if (rc != RC_OK)
        return rc;
    if (!w.found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    int64_t *order = http_req_alloc(req, sizeof *order * (size_t)(w.pages + 1));
    if (!order)
        return RC_NOMEM;
    if (!webtoon_order_is_permutation(json_object_get(body, "order"), w.pages, order))
        return http_fail(req, RC_INVALID,
                         "field 'order' must list each page number 1 to %lld once, in the new "
                         "order",
                         (long long)w.pages);
    if ((rc = webtoon_store_pages_reorder(st, id, order, w.pages)) != RC_OK ||
        (rc = webtoon_emit_pages(st, id, w.pages)) != RC_OK)
        return rc;
    return webtoon_pages_reply(st, id, 200, reply);
}

int webtoon_handle_pages_put(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_JSON, webtoon_pages_reorder);
}

/* Reads the page number of the path into <n>: 1..WEBTOON_PAGE_MAX. */
static int webtoon_page_number(struct http_req *req, int64_t *n)
{
    const char *text = http_req_param(req, "n");
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || v < 1 || v > WEBTOON_PAGE_MAX || text[0] == '+' || text[0] == ' ')
        return http_fail(req, RC_INVALID, "a page number is 1 to %d", WEBTOON_PAGE_MAX);
    *n = v;
    return RC_OK;
}

static int webtoon_page_delete(struct http_req *req, struct store *st, const json_t *body,
                               struct service_reply *reply)
{
    (void)body;
    const char *id = http_req_param(req, "id");
    int64_t n;
    bool found;
    struct webtoon_item w;
    int rc = webtoon_page_number(req, &n);
    if (rc == RC_OK)
        rc = webtoon_store_get(st, id, &w);
    if (rc != RC_OK)
        return rc;
    if (!w.found)
        return http_fail(req, RC_NOT_FOUND, "no webtoon '%.64s'", id);
    if ((rc = webtoon_store_page_delete(st, id, n, &found)) != RC_OK)
        return rc;
    if (!found)
        return http_fail(req, RC_NOT_FOUND, "webtoon '%.64s' has no page %lld", id, (long long)n);
    if ((rc = webtoon_emit_pages(st, id, w.pages - 1)) != RC_OK)
        return rc;
    return webtoon_pages_reply(st, id, 200, reply);
}

int webtoon_handle_page_delete(struct http_req *req)
{
    return service_command(req, SERVICE_BODY_NONE, webtoon_page_delete);
}

/* --- serving --------------------------------------------------------------------- */

struct webtoon_fetch {
    struct webtoon_media *media;
    char key[BLOB_KEY_MAX];
    char etag[WEBTOON_SHA_HEX + 2]; /* quoted */
    char type[16];
    const char *cache_control; /* static */
    int rc;
    struct buf bytes;
};

static void webtoon_fetch_run(void *data)
{
    struct webtoon_fetch *f = data;
    f->rc = blob_get(f->media->blobs, f->key, &f->bytes);
}

static int webtoon_fetch_resume(struct http_req *req, void *data)
{
    struct webtoon_fetch *f = data;
    if (f->rc == RC_NOT_FOUND)
        return http_fail(req, RC_UNAVAILABLE, "the image store lost this image; upload it again");
    if (f->rc != RC_OK)
        return http_fail(req, f->rc == RC_TOO_LARGE ? RC_INTERNAL : f->rc,
                         "the image store did not answer");
    return http_reply_validated(req, f->type, f->bytes.data, f->bytes.len, f->etag,
                                f->cache_control);
}

static void webtoon_fetch_cleanup(void *data)
{
    struct webtoon_fetch *f = data;
    buf_cleanup(&f->bytes);
    mem_free(f);
}

/*
 * Answers with variant <size> of <img> (reading, thumb or original; the
 * size <default_size> when the query names none), read off the loop.
 * Cached for a year when ?v= names that variant, by shared caches too
 * when <shared>.
 */
static int webtoon_serve_image(struct http_req *req, const struct webtoon_image *img,
                               const char *size, bool shared)
{
    struct webtoon_media *m = webtoon_media_of(req);
    if (!m)
        return http_fail(req, RC_UNAVAILABLE, "images are not available here");
    const char *sha, *type;
    if (!strcmp(size, "reading")) {
        sha = img->reading_sha;
        type = img->reading_type;
    } else if (!strcmp(size, "thumb")) {
        sha = img->thumb_sha;
        type = img->thumb_type;
    } else {
        sha = img->sha;
        type = img->original_type;
    }
    struct webtoon_fetch *f = mem_calloc(1, sizeof *f);
    if (!f)
        return RC_NOMEM;
    f->media = m;
    snprintf(f->key, sizeof f->key, "img/%s/%s", img->sha, size);
    snprintf(f->etag, sizeof f->etag, "\"%s\"", sha);
    snprintf(f->type, sizeof f->type, "%s", type);
    const char *v = http_req_query(req, "v");
    bool named = v && !strcmp(v, sha);
    f->cache_control = named ? (shared ? WEBTOON_CACHE_IMMUTABLE : WEBTOON_CACHE_IMMUTABLE_PRIVATE)
                             : (shared ? HTTP_REVALIDATE : HTTP_REVALIDATE_PRIVATE);
    buf_init(&f->bytes, 4 * m->limits.max_bytes + (64u << 20));
    const struct http_work work = {.run = webtoon_fetch_run,
                                   .resume = webtoon_fetch_resume,
                                   .cleanup = webtoon_fetch_cleanup,
                                   .timeout_ms = WEBTOON_FETCH_WORK_MS};
    return http_req_offload(req, &work, f);
}

/* Reads ?size= into <size>: one of <a>, <b> or "original"; <a> by default. */
static int webtoon_size_param(struct http_req *req, const char *a, const char *b, const char **size)
{
    const char *s = http_req_query(req, "size");
    if (!s)
        s = a;
    if (strcmp(s, a) != 0 && strcmp(s, b) != 0 && strcmp(s, "original") != 0)
        return http_fail(req, RC_INVALID, "query parameter 'size' must be %s, %s or original", a,
                         b);
    *size = s;
    return RC_OK;
}

int webtoon_handle_cover_get(struct http_req *req)
{
    const char *id = http_req_param(req, "id"), *size;
    struct webtoon_image img;
    int rc = webtoon_size_param(req, "full", "thumb", &size);
    if (rc == RC_OK)
        rc = webtoon_store_cover_get(service_store(req), id, &img);
    if (rc != RC_OK)
        return rc;
    if (!img.found)
        return http_fail(req, RC_NOT_FOUND, "series '%.64s' has no cover", id);
    return webtoon_serve_image(req, &img, !strcmp(size, "full") ? "reading" : size, true);
}

/* Whether the caller may see the pages of <w> that is not free now. */
static int webtoon_may_see_pages(struct http_req *req, const struct webtoon_item *w, bool *may)
{
    struct webtoon_media *m = webtoon_media_of(req);
    const struct auth_identity *caller = auth_caller(req);
    const char *access = http_req_query(req, "access"), *named = http_req_query(req, "u");
    struct webtoon_ownership own = {0};
    *may = caller && caller->admin;
    if (*may || strcmp(w->status, "published") != 0)
        return RC_OK;
    if (m && access &&
        webtoon_access_is_valid(m->key, m->keylen, named, w->webtoon_id, access,
                                clock_wall_ms() / 1000)) {
        *may = true;
        return RC_OK;
    }
    if (!caller || !domain_id_is_valid(caller->user))
        return RC_OK;
    int rc = webtoon_store_ownership(service_store(req), caller->user, w->webtoon_id, &own);
    *may = own.found;
    return rc;
}

int webtoon_handle_page_get(struct http_req *req)
{
    const char *id = http_req_param(req, "id"), *size;
    struct store *st = service_store(req);
    struct webtoon_item w;
    struct webtoon_image img;
    int64_t n;
    bool may;
    int rc = webtoon_size_param(req, "reading", "thumb", &size);
    if (rc == RC_OK)
        rc = webtoon_page_number(req, &n);
    if (rc == RC_OK)
        rc = webtoon_store_get(st, id, &w);
    if (rc != RC_OK)
        return rc;
    bool free =
        w.found && !strcmp(w.status, "published") && webtoon_is_free_now(&w, clock_business_ms());
    may = free;
    if (!may && w.found && (rc = webtoon_may_see_pages(req, &w, &may)) != RC_OK)
        return rc;
    /* One refusal for every page the caller may not see, existing or not. */
    if (!may)
        return http_fail(req, RC_NOT_OWNED, WEBTOON_PAGE_REFUSAL);
    if ((rc = webtoon_store_page_get(st, id, n, &img)) != RC_OK)
        return rc;
    if (!img.found)
        return http_fail(req, RC_NOT_FOUND, "webtoon '%.64s' has no page %lld", id, (long long)n);
    return webtoon_serve_image(req, &img, size, free);
}

int webtoon_media_page_urls(struct http_req *req, struct store *st, const struct webtoon_item *w,
                            const char *user, bool free, json_t **out)
{
    struct webtoon_media *m = webtoon_media_of(req);
    json_t *pages = NULL;
    *out = json_array();
    int rc = *out ? webtoon_store_pages(st, w->webtoon_id, &pages) : RC_NOMEM;
    if (rc != RC_OK) {
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    char access[WEBTOON_ACCESS_MAX] = "";
    if (!free && m)
        webtoon_access_sign(m->key, m->keylen, user, w->webtoon_id,
                            clock_wall_ms() / 1000 + WEBTOON_ACCESS_TTL_S, access, sizeof access);
    size_t i;
    json_t *page;
    json_array_foreach(pages, i, page)
    {
        json_t *links = json_object_get(page, "_links");
        const char *reading =
            json_string_value(json_object_get(json_object_get(links, "reading"), "href"));
        char url[512];
        snprintf(url, sizeof url, "%s%s%s%s%s", reading ? reading : "", access[0] ? "&access=" : "",
                 access, access[0] ? "&u=" : "", access[0] ? user : "");
        json_array_append_new(*out, json_string(url));
    }
    json_decref(pages);
    return RC_OK;
}
