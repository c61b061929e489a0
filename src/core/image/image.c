/*
 * Images with libvips: see image.h. libvips keeps its error text in one
 * process-wide buffer; each failure takes it out (and clears it) at once,
 * so two threads failing together may at worst swap their messages, never
 * lose the error itself.
 */
#include "core/image/image.h"

#include <dlfcn.h>
#include <glib.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <vips/vips.h>

#include "core/base/rc.h"

#define IMAGE_QUALITY 82
/* The largest width or height a WebP file can hold. */
#define IMAGE_WEBP_MAX_SIDE 16383
/* libwebp encodes from the whole picture in memory, about 15 bytes a
 * pixel at the peak here (800x16000: +170 MB); JPEG streams rows. So
 * variants past about 800x2500 are JPEG: a resize stays under +25 MB. */
#define IMAGE_WEBP_MAX_PIXELS 2000000
#define IMAGE_MMAP_THRESHOLD (256 * 1024) /* bytes: larger blocks are mmap'd */

static pthread_once_t image_once = PTHREAD_ONCE_INIT;
static bool image_started;
/* Why libvips did not start, when it did not. */
static char image_start_error[256];

/* The libvips (and GLib) functions used here, looked up when the first
 * image arrives: a process that never handles one never maps libvips and
 * the ~70 libraries behind it (measured: +13.5 MiB RSS, 2.8 MiB of it
 * private, in every process of the binary). The prototypes come from the
 * headers, so every call is still type-checked. */
#define IMAGE_VIPS_FUNCTIONS(X)                                                                    \
    X(g_free)                                                                                      \
    X(g_log_set_handler)                                                                           \
    X(g_object_unref)                                                                              \
    X(g_strfreev)                                                                                  \
    X(g_type_name)                                                                                 \
    X(vips_area_unref)                                                                             \
    X(vips_array_double_newv)                                                                      \
    X(vips_cache_set_max)                                                                          \
    X(vips_cache_set_max_files)                                                                    \
    X(vips_cache_set_max_mem)                                                                      \
    X(vips_concurrency_set)                                                                        \
    X(vips_copy)                                                                                   \
    X(vips_error_buffer_copy)                                                                      \
    X(vips_error_clear)                                                                            \
    X(vips_flatten)                                                                                \
    X(vips_image_get_fields)                                                                       \
    X(vips_image_get_height)                                                                       \
    X(vips_image_get_width)                                                                        \
    X(vips_image_hasalpha)                                                                         \
    X(vips_image_remove)                                                                           \
    X(vips_init)                                                                                   \
    X(vips_jpegload_buffer)                                                                        \
    X(vips_jpegsave_buffer)                                                                        \
    X(vips_operation_block_set)                                                                    \
    X(vips_pngload_buffer)                                                                         \
    X(vips_pngsave_buffer)                                                                         \
    X(vips_svgload_buffer)                                                                         \
    X(vips_thumbnail_buffer)                                                                       \
    X(vips_type_find)                                                                              \
    X(vips_version)                                                                                \
    X(vips_webpload_buffer)                                                                        \
    X(vips_webpsave_buffer)

static struct {
#define IMAGE__FIELD(name) __typeof__(name) *name;
    IMAGE_VIPS_FUNCTIONS(IMAGE__FIELD)
#undef IMAGE__FIELD
} lib;

/* The loaders client bytes (and our SVG) may reach; every other one stays
 * blocked, whatever libvips finds installed. */
static const char *const image_loaders[] = {"pngload_buffer", "jpegload_buffer", "webpload_buffer",
                                            "svgload_buffer"};

static void image_discard_log(const char *domain, GLogLevelFlags level, const char *message,
                              void *data)
{
    (void)domain, (void)level, (void)message, (void)data;
}

/* Maps libvips and fills <lib>; false (reason in image_start_error) when
 * it is missing or not the ABI these headers describe. */
static bool image_load(void)
{
    char soname[32];
    snprintf(soname, sizeof soname, "libvips.so.%d", VIPS_LIBRARY_CURRENT - VIPS_LIBRARY_AGE);
    void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL); /* never closed: libvips cannot stop */
    if (!handle) {
        snprintf(image_start_error, sizeof image_start_error, "libvips is not installed: %s",
                 dlerror());
        return false;
    }
#define IMAGE__LOOKUP(name)                                                                        \
    if (!(lib.name = (__typeof__(name) *)dlsym(handle, #name))) {                                  \
        snprintf(image_start_error, sizeof image_start_error, "%s lacks %s", soname, #name);       \
        return false;                                                                              \
    }
    IMAGE_VIPS_FUNCTIONS(IMAGE__LOOKUP)
#undef IMAGE__LOOKUP
    /* what VIPS_INIT checks, through the pointers */
    if (lib.vips_version(3) - lib.vips_version(5) != VIPS_LIBRARY_CURRENT - VIPS_LIBRARY_AGE) {
        snprintf(image_start_error, sizeof image_start_error, "%s has another ABI", soname);
        return false;
    }
    return true;
}

static void image_start(void)
{
    if (!image_load())
        return;
    if (lib.vips_init("webtoon") != 0) {
        snprintf(image_start_error, sizeof image_start_error, "libvips did not start");
        return;
    }
    /* What a loader complains about comes back as the failure's detail;
     * on stderr it would only let any client write to our logs. */
    lib.g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
                          image_discard_log, NULL);
    /* Pixel buffers of hundreds of kilobytes come and go with every
     * resize. glibc raises its mmap threshold after the first such free
     * (up to 32 MiB), and from then on serves them from the thread arenas,
     * whose free tops it keeps: tens of megabytes stayed resident, unused,
     * after a few pages. Fixed thresholds keep large blocks mmap'd (given
     * back on free) and heaps trimmed. */
    mallopt(M_MMAP_THRESHOLD, IMAGE_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, IMAGE_MMAP_THRESHOLD);
    /* One worker thread, nothing cached between calls: memory is the
     * budget here (docs/PERFORMANCE.md), not the speed of one resize. */
    lib.vips_concurrency_set(1);
    lib.vips_cache_set_max(0);
    lib.vips_cache_set_max_mem(0);
    lib.vips_cache_set_max_files(0);
    lib.vips_operation_block_set("VipsForeignLoad", TRUE);
    /* Blocking goes by class name; the nicknames are the stable names. */
    for (size_t i = 0; i < ARRAY_LEN(image_loaders); i++) {
        GType loader = lib.vips_type_find("VipsOperation", image_loaders[i]);
        if (loader)
            lib.vips_operation_block_set(lib.g_type_name(loader), FALSE);
    }
    image_started = true;
}

static bool image_ready(void)
{
    pthread_once(&image_once, image_start);
    return image_started;
}

static const char *image_format_name(enum image_format format)
{
    switch (format) {
    case IMAGE_PNG:
        return "PNG";
    case IMAGE_JPEG:
        return "JPEG";
    case IMAGE_WEBP:
        return "WebP";
    }
    return "?";
}

const char *image_format_type(enum image_format format)
{
    switch (format) {
    case IMAGE_PNG:
        return "image/png";
    case IMAGE_JPEG:
        return "image/jpeg";
    case IMAGE_WEBP:
        return "image/webp";
    }
    return "application/octet-stream";
}

static void image_detail(char *detail, size_t dlen, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void image_detail(char *detail, size_t dlen, const char *fmt, ...)
{
    if (!detail || dlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, dlen, fmt, ap);
    va_end(ap);
}

/* Writes "<what>: <libvips' first error line>" into <detail> and clears
 * libvips' error buffer. */
static void image_vips_detail(char *detail, size_t dlen, const char *what)
{
    char *err = lib.vips_error_buffer_copy(); /* new; g_free */
    char *nl = err ? strchr(err, '\n') : NULL;
    if (nl)
        *nl = '\0';
    if (err && *err)
        image_detail(detail, dlen, "%s: %s", what, err);
    else
        image_detail(detail, dlen, "%s", what);
    lib.g_free(err);
}

/* The format the magic numbers of <data> say, or false. */
static bool image_sniff(const unsigned char *data, size_t len, enum image_format *format /* OUT */)
{
    if (len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0)
        *format = IMAGE_PNG;
    else if (len >= 3 && memcmp(data, "\xff\xd8\xff", 3) == 0)
        *format = IMAGE_JPEG;
    else if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        *format = IMAGE_WEBP;
    else
        return false;
    return true;
}

/* Whether the Content-Type <declared> (parameters and case ignored) agrees
 * with <format>; no type, an empty one and application/octet-stream claim
 * nothing and agree. */
static bool image_declared_agrees(const char *declared, enum image_format format)
{
    if (!declared)
        return true;
    while (*declared == ' ' || *declared == '\t')
        declared++;
    size_t n = strcspn(declared, "; \t");
    if (n == 0 || (n == 24 && strncasecmp(declared, "application/octet-stream", n) == 0))
        return true;
    const char *want = image_format_type(format);
    return n == strlen(want) && strncasecmp(declared, want, n) == 0;
}

/* Whether <data> visibly ends before its format's last structure. Cheap
 * and deliberately lenient (trailing bytes after the end are fine); the
 * full decode of image_variant is the real check. */
static bool image_is_truncated(const unsigned char *data, size_t len, enum image_format format)
{
    switch (format) {
    case IMAGE_PNG:
        /* The IEND chunk's type and CRC. */
        return !memmem(data + 8, len - 8, "IEND\xae\x42\x60\x82", 8);
    case IMAGE_JPEG:
        return !memmem(data + 2, len - 2, "\xff\xd9", 2);
    case IMAGE_WEBP: {
        uint32_t riff = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
                        (uint32_t)data[7] << 24;
        return (uint64_t)riff + 8 > len;
    }
    }
    return true;
}

/* New lazy image of <data> (nothing decoded yet), with the loader of
 * <format> failing on any error; NULL on failure (vips error set). Free
 * with g_object_unref. <data> must outlive the image. */
static VipsImage *image_open(const void *data, size_t len, enum image_format format)
{
    VipsImage *img = NULL;
    int r = -1;
    switch (format) {
    case IMAGE_PNG:
        r = lib.vips_pngload_buffer((void *)data, len, &img, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
        break;
    case IMAGE_JPEG:
        r = lib.vips_jpegload_buffer((void *)data, len, &img, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
        break;
    case IMAGE_WEBP:
        r = lib.vips_webpload_buffer((void *)data, len, &img, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
        break;
    }
    return r == 0 ? img : NULL;
}

int image_inspect(const void *data, size_t len, const char *declared,
                  const struct image_limits *lim, struct image_info *out, char *detail, size_t dlen)
{
    enum image_format format;
    if (len == 0) {
        image_detail(detail, dlen, "the body is empty; send the image's bytes");
        return RC_INVALID;
    }
    if (len > lim->max_bytes) {
        image_detail(detail, dlen, "the image is %zu bytes; the limit is %zu", len, lim->max_bytes);
        return RC_TOO_LARGE;
    }
    if (!image_sniff(data, len, &format)) {
        image_detail(detail, dlen, "the bytes are not a PNG, JPEG or WebP image");
        return RC_UNSUPPORTED_MEDIA;
    }
    if (!image_declared_agrees(declared, format)) {
        image_detail(detail, dlen, "the Content-Type says %.*s but the bytes are a %s image (%s)",
                     (int)strcspn(declared, ";"), declared, image_format_name(format),
                     image_format_type(format));
        return RC_UNSUPPORTED_MEDIA;
    }
    if (image_is_truncated(data, len, format)) {
        image_detail(detail, dlen, "the %s image is truncated", image_format_name(format));
        return RC_INVALID;
    }
    if (!image_ready()) {
        image_detail(detail, dlen, "%s", image_start_error);
        return RC_INTERNAL;
    }
    VipsImage *img = image_open(data, len, format);
    if (!img) {
        char what[64];
        snprintf(what, sizeof what, "the %s header cannot be read", image_format_name(format));
        image_vips_detail(detail, dlen, what);
        return RC_INVALID;
    }
    int width = lib.vips_image_get_width(img), height = lib.vips_image_get_height(img);
    lib.g_object_unref(img);
    if (width > lim->max_width || height > lim->max_height ||
        (int64_t)width * height > lim->max_pixels) {
        image_detail(detail, dlen,
                     "the image is %dx%d pixels; the limits are %dx%d and %" PRId64 " pixels",
                     width, height, lim->max_width, lim->max_height, lim->max_pixels);
        return RC_TOO_LARGE;
    }
    out->format = format;
    out->width = width;
    out->height = height;
    return RC_OK;
}

/* New copy of <img> (same pixels, nothing computed) without any metadata:
 * EXIF (camera, place, time), XMP, IPTC, ICC profile (the thumbnail is
 * sRGB already), comments. libvips 8.14.1's webpsave ignores "strip", so
 * the saver must not find them at all. NULL on failure (vips error set). */
static VipsImage *image_without_metadata(VipsImage *img)
{
    VipsImage *bare = NULL;
    if (lib.vips_copy(img, &bare, NULL) != 0)
        return NULL;
    char **fields = lib.vips_image_get_fields(bare); /* new; g_strfreev */
    for (char **f = fields; *f; f++)
        lib.vips_image_remove(bare, *f); /* false for the header's own fields: kept */
    lib.g_strfreev(fields);
    return bare;
}

/* Appends <img> (decoding its source on the way) to <out> as WebP or JPEG. */
static int image_encode(VipsImage *img, bool webp, struct buf *out, char *detail, size_t dlen)
{
    void *bytes = NULL; /* new; g_free */
    size_t size = 0;
    int r;
    if (webp) {
        r = lib.vips_webpsave_buffer(img, &bytes, &size, "Q", IMAGE_QUALITY, "strip", TRUE, NULL);
    } else {
        /* JPEG has no alpha: flatten on white, the page colour. */
        VipsImage *flat = NULL;
        if (lib.vips_image_hasalpha(img)) {
            VipsArrayDouble *white = lib.vips_array_double_newv(1, 255.0);
            r = lib.vips_flatten(img, &flat, "background", white, NULL);
            lib.vips_area_unref(VIPS_AREA(white));
            if (r != 0) {
                image_vips_detail(detail, dlen, "the image cannot be decoded");
                return RC_INVALID;
            }
            img = flat;
        }
        /* Baseline and no optimize_coding: both would hold every DCT
         * coefficient of the image in memory; this way it streams. */
        r = lib.vips_jpegsave_buffer(img, &bytes, &size, "Q", IMAGE_QUALITY, "strip", TRUE, NULL);
        if (flat)
            lib.g_object_unref(flat);
    }
    if (r != 0) {
        image_vips_detail(detail, dlen, "the image cannot be decoded");
        return RC_INVALID;
    }
    int rc = buf_append(out, bytes, size);
    lib.g_free(bytes);
    if (rc != RC_OK)
        image_detail(detail, dlen, "the variant (%zu bytes) does not fit", size);
    return rc;
}

int image_variant(const void *data, size_t len, int width, struct buf *out,
                  const char **content_type, char *detail, size_t dlen)
{
    enum image_format format;
    if (width < 1) {
        image_detail(detail, dlen, "a variant is at least 1 pixel wide, not %d", width);
        return RC_INVALID;
    }
    if (!image_sniff(data, len, &format)) {
        image_detail(detail, dlen, "the bytes are not a PNG, JPEG or WebP image");
        return RC_UNSUPPORTED_MEDIA;
    }
    if (!image_ready()) {
        image_detail(detail, dlen, "%s", image_start_error);
        return RC_INTERNAL;
    }
    VipsImage *thumb = NULL;
    /* The thumbnail operation streams rows and, for JPEG and WebP, decodes
     * at a reduced size already (shrink-on-load): only a strip of a tall
     * page is in memory at once. The sniff above keeps it to the loaders
     * of the three formats. */
    if (lib.vips_thumbnail_buffer((void *)data, len, &thumb, width, "height", VIPS_MAX_COORD,
                                  "size", VIPS_SIZE_DOWN, "option_string", "fail_on=error",
                                  NULL) != 0) {
        image_vips_detail(detail, dlen, "the image cannot be decoded");
        return RC_INVALID;
    }
    VipsImage *bare = image_without_metadata(thumb);
    lib.g_object_unref(thumb);
    if (!bare) {
        image_vips_detail(detail, dlen, "the image cannot be copied");
        return RC_INTERNAL;
    }
    int w = lib.vips_image_get_width(bare), h = lib.vips_image_get_height(bare);
    bool webp = w <= IMAGE_WEBP_MAX_SIDE && h <= IMAGE_WEBP_MAX_SIDE &&
                (int64_t)w * h <= IMAGE_WEBP_MAX_PIXELS;
    int rc = image_encode(bare, webp, out, detail, dlen);
    if (rc == RC_OK)
        *content_type = webp ? "image/webp" : "image/jpeg";
    lib.g_object_unref(bare);
    /* Tens of megabytes were just freed in large blocks: give them back,
     * rather than keep the peak of the largest page ever resized. */
    malloc_trim(0);
    return rc;
}

int image_render_svg(const char *svg, size_t len, struct buf *out)
{
    if (!image_ready())
        return RC_INTERNAL;
    VipsImage *img = NULL;
    void *bytes = NULL; /* new; g_free */
    size_t size = 0;
    int rc = RC_INVALID;
    if (lib.vips_svgload_buffer((void *)svg, len, &img, "fail_on", VIPS_FAIL_ON_ERROR, NULL) != 0 ||
        /* The fastest compression: the PNG only carries the drawing to its
         * upload, where it is decoded once and never served. */
        lib.vips_pngsave_buffer(img, &bytes, &size, "strip", TRUE, "compression", 1, NULL) != 0) {
        lib.vips_error_clear();
        goto out;
    }
    rc = buf_append(out, bytes, size);
out:
    lib.g_free(bytes);
    if (img)
        lib.g_object_unref(img);
    return rc;
}
