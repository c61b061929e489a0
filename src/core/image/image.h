/*
 * Images: checks uploaded PNG, JPEG and WebP files and makes the resized
 * variants the store serves, with libvips (Debian's libvips 8.14).
 *
 * Every function blocks (run them off the event loop) and is thread-safe.
 * libvips is mapped (dlopen) and started at the first call, with one
 * worker thread and its operation cache off, so a process that never
 * touches an image does not carry it at all. Without libvips installed,
 * every function fails with RC_INTERNAL and says so. Only the PNG, JPEG,
 * WebP and SVG loaders are enabled: bytes from a client never reach
 * libvips' other loaders (ImageMagick, PDF, ...), and every loader runs
 * with "fail on error", so corrupt data is an error, not a grey picture.
 */
#ifndef WEBTOON_IMAGE_H
#define WEBTOON_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"

enum image_format { IMAGE_PNG, IMAGE_JPEG, IMAGE_WEBP };

struct image_limits {
    size_t max_bytes;   /* size of the file */
    int64_t max_pixels; /* width * height */
    int max_width;      /* pixels */
    int max_height;     /* pixels; webtoon strips are tall */
};

struct image_info {
    enum image_format format; /* from the bytes, never from a name or header */
    int width, height;        /* pixels */
};

/* The media type of <format> ("image/png"). */
const char *image_format_type(enum image_format format);

/*
 * Checks that <data> (<len> bytes) is a PNG, JPEG or WebP image within
 * <lim>, reading only its header: the pixels are not decoded, so a small
 * file claiming a huge picture (a decompression bomb) costs nothing. The
 * format is sniffed from the magic numbers; <declared> is the request's
 * Content-Type or NULL ("application/octet-stream" counts as none), and a
 * type that disagrees with the bytes is refused. A file that visibly ends
 * too early (no PNG IEND, no JPEG end marker, a WebP shorter than its RIFF
 * size) is refused too; damage further in shows only when image_variant
 * decodes it.
 *
 * Returns RC_OK with <out> filled, or RC_INVALID (empty, truncated, corrupt
 * header), RC_UNSUPPORTED_MEDIA (not one of the three formats, or
 * mislabelled), RC_TOO_LARGE (over a limit), RC_INTERNAL (libvips did not
 * start); then <detail> (<dlen> bytes, may be NULL) says why in words for
 * the problem+json reply.
 */
int image_inspect(const void *data, size_t len, const char *declared,
                  const struct image_limits *lim, struct image_info *out /* OUT */, char *detail,
                  size_t dlen);

/*
 * Appends to <out> a variant of the image <data> (<len> bytes) <width>
 * pixels wide (never upscaled: a narrower image keeps its width; the
 * height follows the aspect ratio), turned upright by its EXIF
 * orientation, metadata stripped, encoded as WebP quality 82, or JPEG
 * quality 82 past 2 million pixels (about 800x2500: libwebp holds the
 * whole picture in memory, JPEG streams; WebP also stops at 16383 pixels
 * a side). <content_type> is set to a static string ("image/webp").
 * Decodes every pixel: call image_inspect first, to refuse bombs.
 *
 * Returns RC_OK, RC_INVALID (corrupt or truncated data, <width> < 1),
 * RC_UNSUPPORTED_MEDIA (not PNG/JPEG/WebP), RC_TOO_LARGE or RC_NOMEM (from
 * <out>), RC_INTERNAL; <detail> as for image_inspect. <out> is unchanged
 * on failure.
 */
int image_variant(const void *data, size_t len, int width, struct buf *out,
                  const char **content_type /* OUT */, char *detail, size_t dlen);

/*
 * Appends to <out> the SVG document <svg> (<len> bytes) rendered as a PNG
 * of the document's own size (fonts from fontconfig: DejaVu here). For
 * SVG we generate ourselves (demo art), not for client uploads. Returns
 * RC_OK, RC_INVALID (not SVG librsvg can render), RC_TOO_LARGE or
 * RC_NOMEM (from <out>), RC_INTERNAL.
 */
int image_render_svg(const char *svg, size_t len, struct buf *out);

#endif
