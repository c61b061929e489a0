/*
 * Shared inside the blob module only: the table of functions each backend
 * implements (blob.c checks keys and arguments before calling them) and the
 * header every backend's store starts with.
 */
#ifndef WEBTOON_BLOB_INTERNAL_H
#define WEBTOON_BLOB_INTERNAL_H

#include "core/blob/blob.h"

struct blob_ops {
    const char *scheme; /* URL prefix: "file://", "s3://" */
    /* <rest>: the URL after the scheme. */
    int (*open)(const char *rest, const struct blob_s3_settings *s3, struct blob_store **out,
                char *err, size_t errlen);
    int (*put)(struct blob_store *b, const char *key, const void *data, size_t len,
               const char *content_type);
    int (*get)(struct blob_store *b, const char *key, struct buf *out);
    int (*del)(struct blob_store *b, const char *key);
    void (*close)(struct blob_store *b);
};

/* Every backend's store starts with this header. */
struct blob_store {
    const struct blob_ops *ops;
};

extern const struct blob_ops blob__dir_ops;
/* The directory store on <path>, relative to the working directory or
 * absolute (the default <data_dir>/blobs; file:// URLs must be absolute). */
int blob__dir_open_path(const char *path, struct blob_store **out, char *err, size_t errlen);
extern const struct blob_ops blob__s3_ops;

#endif
