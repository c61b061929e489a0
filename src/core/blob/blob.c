/* Backend dispatch and the key rules every backend relies on; see blob.h. */
#include "core/blob/blob.h"

#include <stdio.h>
#include <string.h>

#include "core/base/rc.h"
#include "core/blob/blob_internal.h"

static const struct blob_ops *const blob_backends[] = {
    &blob__dir_ops,
    &blob__s3_ops,
};

bool blob_key_is_valid(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > BLOB_KEY_MAX || strstr(key, ".."))
        return false;
    size_t segment = 0; /* bytes of the current segment so far */
    for (size_t i = 0; i <= len; i++) {
        char c = key[i];
        if (c == '/' || c == '\0') {
            /* "a//b", "/a", "a/" and "." segments would name the same file
             * as another key (or none) in a directory. */
            if (segment == 0 || segment > BLOB_SEGMENT_MAX || (segment == 1 && key[i - 1] == '.'))
                return false;
            segment = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
        segment++;
    }
    return true;
}

int blob_open(const char *url, const char *data_dir, const struct blob_s3_settings *s3,
              struct blob_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!*url) {
        char dir[1100];
        int n = snprintf(dir, sizeof dir, "%s/blobs", data_dir);
        if (n < 0 || (size_t)n >= sizeof dir) {
            snprintf(err, errlen, "data directory path too long");
            return RC_CONFIG;
        }
        return blob__dir_open_path(dir, out, err, errlen);
    }
    for (size_t i = 0; i < ARRAY_LEN(blob_backends); i++) {
        const struct blob_ops *ops = blob_backends[i];
        size_t n = strlen(ops->scheme);
        if (!strncmp(url, ops->scheme, n))
            return ops->open(url + n, s3, out, err, errlen);
    }
    snprintf(err, errlen,
             "%s: unknown blob URL '%.200s' (expected empty, file:///abs/dir or s3://<bucket>)",
             config_name(CONFIG_BLOB_URL), url);
    return RC_CONFIG;
}

int blob_open_config(const struct config *cfg, struct blob_store **out, char *err, size_t errlen)
{
    struct blob_s3_settings s3 = {
        .endpoint = config_str(cfg, CONFIG_S3_ENDPOINT),
        .region = config_str(cfg, CONFIG_S3_REGION),
        .access_key = config_str(cfg, CONFIG_S3_ACCESS_KEY),
        .secret_key = config_str(cfg, CONFIG_S3_SECRET_KEY),
        .timeout_ms = (long)config_int(cfg, CONFIG_S3_TIMEOUT_MS),
    };
    return blob_open(config_str(cfg, CONFIG_BLOB_URL), config_str(cfg, CONFIG_DATA_DIR), &s3, out,
                     err, errlen);
}

/* A media type fit for a header line: 1..100 printable ASCII characters. */
static bool blob_content_type_is_valid(const char *type)
{
    size_t len = 0;
    for (; type[len]; len++)
        if (type[len] < 0x20 || type[len] > 0x7e)
            return false;
    return len > 0 && len <= 100;
}

int blob_put(struct blob_store *b, const char *key, const void *data, size_t len,
             const char *content_type)
{
    if (!blob_key_is_valid(key) || (content_type && !blob_content_type_is_valid(content_type)))
        return RC_INVALID;
    return b->ops->put(b, key, data, len, content_type ? content_type : "application/octet-stream");
}

int blob_get(struct blob_store *b, const char *key, struct buf *out)
{
    buf_reset(out);
    if (!blob_key_is_valid(key))
        return RC_INVALID;
    int rc = b->ops->get(b, key, out);
    if (rc != RC_OK)
        buf_reset(out);
    return rc;
}

int blob_delete(struct blob_store *b, const char *key)
{
    if (!blob_key_is_valid(key))
        return RC_INVALID;
    return b->ops->del(b, key);
}

void blob_close(struct blob_store *b)
{
    if (b)
        b->ops->close(b);
}
