/*
 * Blob storage: named byte objects (cover and page images and their
 * variants) behind a small interface that a directory (blob_dir.c, one
 * machine) and an S3-compatible bucket (blob_s3.c, the real engines)
 * implement, selected by URL.
 *
 * Every function is thread-safe and blocking: callers run it from worker
 * threads, never from an event loop. A put is atomic: a reader sees the old
 * object or the new one, never part of one. Keys are 1..BLOB_KEY_MAX bytes of
 * [A-Za-z0-9._/-], '/'-separated segments of 1..BLOB_SEGMENT_MAX bytes (a
 * file name's limit) that are not ".", with no ".." anywhere; anything else
 * is RC_INVALID, checked here before any backend sees it.
 */
#ifndef WEBTOON_BLOB_H
#define WEBTOON_BLOB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/buf.h"
#include "core/config/config.h"

#define BLOB_KEY_MAX 256
#define BLOB_SEGMENT_MAX 255

struct blob_store;

/* Where an s3:// store finds its server; strings are borrowed by blob_open
 * (it keeps copies). */
struct blob_s3_settings {
    const char *endpoint;   /* http(s)://host:port, path-style requests go to <endpoint>/<bucket> */
    const char *region;     /* signing region, e.g. us-east-1 */
    const char *access_key; /* SigV4 credentials */
    const char *secret_key; /* never logged */
    long timeout_ms;        /* longest one request may take; connecting gets at most 2 s of it */
};

/*
 * Opens the store <url> names: "" means the directory <data_dir>/blobs,
 * "file:///abs/dir" that directory (both created when missing), and
 * "s3://<bucket>" that bucket at the server <s3> describes (created when
 * missing; <s3> may be NULL for the other schemes). Returns RC_OK with a new
 * store in <out> (free with blob_close), or RC_CONFIG (bad URL or settings),
 * RC_IO (directory not usable), RC_FORBIDDEN (credentials refused),
 * RC_UNAVAILABLE (server down or failing); then <err> (<errlen> bytes) says
 * why, never quoting the secret.
 */
int blob_open(const char *url, const char *data_dir, const struct blob_s3_settings *s3,
              struct blob_store **out /* OUT */, char *err, size_t errlen);

/* blob_open with the URL, data directory and S3 settings of <cfg>
 * (WEBTOON_BLOB_URL, WEBTOON_DATA_DIR, WEBTOON_S3_*). */
int blob_open_config(const struct config *cfg, struct blob_store **out /* OUT */, char *err,
                     size_t errlen);

/*
 * Stores the <len> bytes at <data> under <key>, replacing any object there;
 * <content_type> (e.g. "image/webp", NULL for application/octet-stream) is
 * kept by S3 and ignored by the directory; 1..100 printable ASCII
 * characters. Returns RC_OK once the object is durable, RC_INVALID (bad key
 * or content type), RC_CONFLICT (directory: a segment of <key>
 * names an existing object), RC_IO, RC_FORBIDDEN, RC_TOO_LARGE (refused by
 * the server) or RC_UNAVAILABLE.
 */
int blob_put(struct blob_store *b, const char *key, const void *data, size_t len,
             const char *content_type);

/*
 * Replaces the content of <out> (the caller's buffer, initialised with
 * buf_init: its cap bounds the object) with the object under <key>.
 * Returns RC_OK, RC_NOT_FOUND, RC_INVALID (bad key), RC_TOO_LARGE (bigger
 * than the cap of <out>), RC_NOMEM, RC_IO, RC_FORBIDDEN or RC_UNAVAILABLE;
 * on failure <out> is empty.
 */
int blob_get(struct blob_store *b, const char *key, struct buf *out /* OUT */);

/* Removes the object under <key>; a missing one is RC_OK. Otherwise as
 * blob_put. */
int blob_delete(struct blob_store *b, const char *key);

/* Frees <b>; NULL does nothing. No call on <b> may be running. */
void blob_close(struct blob_store *b);

/* Whether <key> is a valid key (the rules above). */
bool blob_key_is_valid(const char *key);

#endif
