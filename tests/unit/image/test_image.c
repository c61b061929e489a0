/* Images: the header check finds format and size and refuses what is not an
 * image, mislabelled, truncated or too big (a forged 60000x60000 PNG without
 * decoding it); variants are resized down only, decode, and are WebP (JPEG
 * when large); SVG renders to a PNG of its size. The test
 * images are made with libvips itself. */
#include "support/test_support.h"

#include <pthread.h>
#include <sys/resource.h>
#include <vips/vips.h>
#include <zlib.h>

#include "core/base/buf.h"
#include "core/base/rc.h"
#include "core/image/image.h"

static const struct image_limits limits = {
    .max_bytes = 20 << 20, .max_pixels = 50000000, .max_width = 4000, .max_height = 40000};

/* A <width>x<height> picture with some structure (gradients and noise), so
 * encoders have some work; saved by the vips saver <saver> ("pngsave",
 * "jpegsave", "webpsave") into <out>. */
static void make_image(const char *saver, int width, int height, struct buf *out)
{
    VipsImage *xyz = NULL, *band = NULL, *noise = NULL, *rgb = NULL, *u8 = NULL;
    void *bytes = NULL;
    size_t size = 0;
    assert_int_equal(vips_xyz(&xyz, width, height, NULL), 0);
    assert_int_equal(vips_extract_band(xyz, &band, 0, NULL), 0);
    /* noise costs seconds to compress on a tall strip: there, rows instead */
    if ((int64_t)width * height <= 1000000)
        assert_int_equal(vips_gaussnoise(&noise, width, height, "sigma", 20.0, NULL), 0);
    else
        assert_int_equal(vips_extract_band(xyz, &noise, 1, NULL), 0);
    VipsImage *bands[] = {band, noise, band};
    assert_int_equal(vips_bandjoin(bands, &rgb, 3, NULL), 0);
    assert_int_equal(vips_cast_uchar(rgb, &u8, NULL), 0);
    int r = -1;
    if (strcmp(saver, "pngsave") == 0)
        r = vips_pngsave_buffer(u8, &bytes, &size, NULL);
    else if (strcmp(saver, "jpegsave") == 0)
        r = vips_jpegsave_buffer(u8, &bytes, &size, NULL);
    else
        r = vips_webpsave_buffer(u8, &bytes, &size, NULL);
    assert_int_equal(r, 0);
    buf_init(out, size + 1);
    assert_int_equal(buf_append(out, bytes, size), RC_OK);
    g_free(bytes);
    g_object_unref(u8);
    g_object_unref(rgb);
    g_object_unref(noise);
    g_object_unref(band);
    g_object_unref(xyz);
}

/* Decodes <data> fully with libvips; returns the loader's name ("webpload_buffer")
 * and its size. */
static const char *decode(const void *data, size_t len, int *width, int *height)
{
    static char loader[64];
    VipsImage *img = vips_image_new_from_buffer(data, len, "", "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    assert_non_null(img);
    double avg;
    assert_int_equal(vips_avg(img, &avg, NULL), 0); /* every pixel */
    const char *name = NULL;
    assert_int_equal(vips_image_get_string(img, "vips-loader", &name), 0);
    snprintf(loader, sizeof loader, "%s", name);
    *width = vips_image_get_width(img);
    *height = vips_image_get_height(img);
    g_object_unref(img);
    return loader;
}

static int inspect(const struct buf *b, const char *declared, struct image_info *info, char *detail)
{
    return image_inspect(b->data, b->len, declared, &limits, info, detail, 256);
}

static void test_inspect_finds_format_and_size(void **state)
{
    (void)state;
    static const struct {
        const char *saver, *type;
        enum image_format format;
        int width, height;
    } cases[] = {{"pngsave", "image/png", IMAGE_PNG, 320, 200},
                 {"jpegsave", "image/jpeg", IMAGE_JPEG, 640, 480},
                 {"webpsave", "image/webp", IMAGE_WEBP, 100, 300},
                 {"pngsave", "image/png", IMAGE_PNG, 800, 12000}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct buf b;
        struct image_info info;
        char detail[256] = "";
        make_image(cases[i].saver, cases[i].width, cases[i].height, &b);
        /* declared rightly (any case, with parameters), or not at all */
        assert_int_equal(inspect(&b, NULL, &info, detail), RC_OK);
        assert_int_equal(inspect(&b, "application/octet-stream", &info, detail), RC_OK);
        char declared[64];
        snprintf(declared, sizeof declared, "%s; q=1", cases[i].type);
        declared[0] = 'I';
        assert_int_equal(inspect(&b, declared, &info, detail), RC_OK);
        assert_int_equal(info.format, cases[i].format);
        assert_int_equal(info.width, cases[i].width);
        assert_int_equal(info.height, cases[i].height);
        assert_string_equal(image_format_type(info.format), cases[i].type);
        buf_cleanup(&b);
    }
}

static void test_mislabelled_is_refused_naming_both(void **state)
{
    (void)state;
    struct buf b;
    struct image_info info;
    char detail[256] = "";
    make_image("pngsave", 64, 64, &b);
    assert_int_equal(inspect(&b, "image/jpeg", &info, detail), RC_UNSUPPORTED_MEDIA);
    assert_non_null(strstr(detail, "image/jpeg"));
    assert_non_null(strstr(detail, "image/png"));
    assert_int_equal(inspect(&b, "text/plain", &info, detail), RC_UNSUPPORTED_MEDIA);
    assert_int_equal(inspect(&b, "image/pngx", &info, detail), RC_UNSUPPORTED_MEDIA);
    buf_cleanup(&b);
}

static void test_not_images_are_refused(void **state)
{
    (void)state;
    struct image_info info;
    char detail[256] = "";
    static const char text[] = "<html><body>not an image</body></html>";
    static const char svg[] = "<svg xmlns='http://www.w3.org/2000/svg' width='9' height='9'/>";
    static const unsigned char garbage[] = {0x00, 0x13, 0x37, 0xff, 0xd8, 0x89, 'P', 'N', 'G'};
    assert_int_equal(image_inspect(text, strlen(text), NULL, &limits, &info, detail, 256),
                     RC_UNSUPPORTED_MEDIA);
    assert_int_equal(image_inspect(svg, strlen(svg), "image/png", &limits, &info, detail, 256),
                     RC_UNSUPPORTED_MEDIA);
    assert_int_equal(image_inspect(garbage, sizeof garbage, NULL, &limits, &info, detail, 256),
                     RC_UNSUPPORTED_MEDIA);
    assert_int_equal(image_inspect("", 0, "image/png", &limits, &info, detail, 256), RC_INVALID);
    assert_non_null(strstr(detail, "empty"));
    /* the magic numbers alone are not an image */
    assert_int_equal(image_inspect("\x89PNG\r\n\x1a\n", 8, NULL, &limits, &info, detail, 256),
                     RC_INVALID);
    assert_int_equal(image_inspect("\xff\xd8\xff", 3, NULL, &limits, &info, NULL, 0), RC_INVALID);
    assert_int_equal(image_inspect("RIFF\x04\0\0\0WEBP", 12, NULL, &limits, &info, NULL, 0),
                     RC_INVALID);
}

static void test_truncated_is_refused(void **state)
{
    (void)state;
    static const char *const savers[] = {"pngsave", "jpegsave", "webpsave"};
    for (size_t i = 0; i < ARRAY_LEN(savers); i++) {
        struct buf b;
        struct image_info info;
        char detail[256] = "";
        make_image(savers[i], 200, 200, &b);
        for (size_t cut = 1; cut < b.len; cut += b.len / 7 + 1) {
            assert_int_not_equal(image_inspect(b.data, cut, NULL, &limits, &info, detail, 256),
                                 RC_OK);
            assert_true(detail[0] != '\0');
        }
        assert_int_equal(image_inspect(b.data, b.len - 2, NULL, &limits, &info, detail, 256),
                         RC_INVALID);
        assert_non_null(strstr(detail, "truncated"));
        buf_cleanup(&b);
    }
}

/* Appends a PNG chunk of <type> and <data> with its CRC to <b>. */
static void png_chunk(struct buf *b, const char *type, const void *data, uint32_t len)
{
    unsigned char be[4] = {len >> 24, len >> 16 & 0xff, len >> 8 & 0xff, len & 0xff};
    assert_int_equal(buf_append(b, be, 4), RC_OK);
    size_t start = b->len;
    assert_int_equal(buf_append(b, type, 4), RC_OK);
    assert_int_equal(buf_append(b, data, len), RC_OK);
    uint32_t crc = (uint32_t)crc32(0, (const unsigned char *)b->data + start, len + 4);
    unsigned char cbe[4] = {crc >> 24, crc >> 16 & 0xff, crc >> 8 & 0xff, crc & 0xff};
    assert_int_equal(buf_append(b, cbe, 4), RC_OK);
}

/* A tiny PNG whose IHDR claims <width>x<height> RGB, with a few bytes of
 * (wrong) pixel data: a decompression bomb's header. */
static void forged_png(uint32_t width, uint32_t height, struct buf *b)
{
    buf_init(b, 4096);
    assert_int_equal(buf_append(b, "\x89PNG\r\n\x1a\n", 8), RC_OK);
    unsigned char ihdr[13] = {width >> 24,
                              width >> 16 & 0xff,
                              width >> 8 & 0xff,
                              width & 0xff,
                              height >> 24,
                              height >> 16 & 0xff,
                              height >> 8 & 0xff,
                              height & 0xff,
                              8,
                              2,
                              0,
                              0,
                              0};
    png_chunk(b, "IHDR", ihdr, sizeof ihdr);
    unsigned char row[64] = {0};
    unsigned char z[128];
    uLongf zlen = sizeof z;
    assert_int_equal(compress(z, &zlen, row, sizeof row), Z_OK);
    png_chunk(b, "IDAT", z, (uint32_t)zlen);
    png_chunk(b, "IEND", "", 0);
}

static long maxrss_kib(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

static void test_pixel_bomb_is_refused_from_its_header(void **state)
{
    (void)state;
    struct buf b;
    struct image_info info;
    char detail[256] = "";
    forged_png(60000, 60000, &b);
    long before = maxrss_kib();
    assert_int_equal(inspect(&b, "image/png", &info, detail), RC_TOO_LARGE);
    assert_non_null(strstr(detail, "60000x60000"));
    /* 60000 x 60000 x 3 bytes would be 10 GB; not even 64 MiB was touched */
    assert_true(maxrss_kib() - before < 64 * 1024);
    buf_cleanup(&b);

    /* each limit on its own */
    forged_png(4001, 10, &b);
    assert_int_equal(inspect(&b, NULL, &info, detail), RC_TOO_LARGE);
    buf_cleanup(&b);
    forged_png(10, 40001, &b);
    assert_int_equal(inspect(&b, NULL, &info, detail), RC_TOO_LARGE);
    buf_cleanup(&b);
    forged_png(4000, 40000, &b); /* 160 M pixels */
    assert_int_equal(inspect(&b, NULL, &info, detail), RC_TOO_LARGE);
    buf_cleanup(&b);
    forged_png(4000, 12500, &b); /* exactly 50 M pixels: allowed */
    assert_int_equal(inspect(&b, NULL, &info, detail), RC_OK);
    assert_int_equal(info.height, 12500);
    /* ... and its pixels, which are not there, fail to decode cleanly */
    struct buf out;
    const char *type = NULL;
    buf_init(&out, 1 << 20);
    assert_int_equal(image_variant(b.data, b.len, 240, &out, &type, detail, 256), RC_INVALID);
    assert_int_equal(out.len, 0);
    assert_true(detail[0] != '\0');
    buf_cleanup(&out);
    buf_cleanup(&b);
}

static void test_over_max_bytes_is_refused(void **state)
{
    (void)state;
    struct buf b;
    struct image_info info;
    char detail[256] = "";
    make_image("pngsave", 300, 300, &b);
    struct image_limits small = limits;
    small.max_bytes = b.len - 1;
    assert_int_equal(image_inspect(b.data, b.len, NULL, &small, &info, detail, 256), RC_TOO_LARGE);
    small.max_bytes = b.len;
    assert_int_equal(image_inspect(b.data, b.len, NULL, &small, &info, detail, 256), RC_OK);
    buf_cleanup(&b);
}

/* image_variant of a <src_w>x<src_h> <saver> image at <width>: the result
 * decodes, is <want_loader>'s format, and is <want_w>x<want_h>. */
static void check_variant(const char *saver, int src_w, int src_h, int width, int want_w,
                          int want_h, const char *want_type)
{
    struct buf src, out;
    const char *type = NULL;
    char detail[256] = "";
    make_image(saver, src_w, src_h, &src);
    buf_init(&out, 32 << 20);
    assert_int_equal(image_variant(src.data, src.len, width, &out, &type, detail, 256), RC_OK);
    assert_string_equal(type, want_type);
    int w, h;
    const char *loader = decode(out.data, out.len, &w, &h);
    assert_string_equal(loader, strcmp(want_type, "image/webp") == 0 ? "webpload_buffer"
                                                                     : "jpegload_buffer");
    assert_int_equal(w, want_w);
    assert_int_equal(h, want_h);
    /* and the check agrees on what came out */
    struct image_info info;
    assert_int_equal(image_inspect(out.data, out.len, want_type, &limits, &info, detail, 256),
                     RC_OK);
    buf_cleanup(&out);
    buf_cleanup(&src);
}

static void test_variants_shrink_never_grow(void **state)
{
    (void)state;
    check_variant("pngsave", 1600, 1200, 800, 800, 600, "image/webp");
    check_variant("jpegsave", 1600, 1200, 240, 240, 180, "image/webp");
    check_variant("webpsave", 500, 700, 800, 500, 700, "image/webp"); /* not upscaled */
    check_variant("pngsave", 800, 12000, 240, 240, 3600, "image/webp");
    /* past 2 M pixels (WebP would hold it all in memory), and past
     * WebP's 16383 pixels a side: JPEG */
    check_variant("pngsave", 800, 5000, 800, 800, 5000, "image/jpeg");
    check_variant("pngsave", 800, 20000, 800, 800, 20000, "image/jpeg");
}

static void test_variant_strips_metadata(void **state)
{
    (void)state;
    VipsImage *img = NULL, *tagged = NULL;
    void *bytes = NULL;
    size_t size = 0;
    assert_int_equal(vips_black(&img, 64, 64, "bands", 3, NULL), 0);
    assert_int_equal(vips_copy(img, &tagged, NULL), 0);
    static const char xmp[] = "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
                              "xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
                              "<rdf:Description dc:creator='someone private' "
                              "xmlns:dc='http://purl.org/dc/elements/1.1/'/>"
                              "</rdf:RDF></x:xmpmeta>";
    vips_image_set_blob_copy(tagged, "xmp-data", xmp, sizeof xmp - 1);
    assert_int_equal(vips_jpegsave_buffer(tagged, &bytes, &size, NULL), 0);
    assert_non_null(memmem(bytes, size, "someone private", 15));
    struct buf out;
    const char *type = NULL;
    buf_init(&out, 1 << 20);
    assert_int_equal(image_variant(bytes, size, 32, &out, &type, NULL, 0), RC_OK);
    assert_null(memmem(out.data, out.len, "someone private", 15));
    buf_cleanup(&out);
    g_free(bytes);
    g_object_unref(tagged);
    g_object_unref(img);
}

static void test_variant_turns_photos_upright(void **state)
{
    (void)state;
    VipsImage *img = NULL, *tagged = NULL;
    void *bytes = NULL;
    size_t size = 0;
    assert_int_equal(vips_black(&img, 40, 20, "bands", 3, NULL), 0);
    assert_int_equal(vips_copy(img, &tagged, NULL), 0);
    vips_image_set_int(tagged, "orientation", 6); /* EXIF: taken rotated 90 degrees */
    assert_int_equal(vips_jpegsave_buffer(tagged, &bytes, &size, NULL), 0);
    struct buf out;
    const char *type = NULL;
    buf_init(&out, 1 << 20);
    assert_int_equal(image_variant(bytes, size, 100, &out, &type, NULL, 0), RC_OK);
    int w, h;
    decode(out.data, out.len, &w, &h);
    assert_int_equal(w, 20);
    assert_int_equal(h, 40);
    buf_cleanup(&out);
    g_free(bytes);
    g_object_unref(tagged);
    g_object_unref(img);
}

static void test_variant_refuses_corrupt_pixels(void **state)
{
    (void)state;
    struct buf b, out;
    const char *type = NULL;
    char detail[256] = "";
    struct image_info info;
    make_image("pngsave", 256, 256, &b);
    /* damage the compressed pixels, not the header or the end */
    for (size_t i = b.len / 2; i < b.len / 2 + 64; i++)
        b.data[i] ^= 0x5a;
    assert_int_equal(inspect(&b, "image/png", &info, detail), RC_OK); /* the header is fine */
    buf_init(&out, 1 << 20);
    assert_int_equal(image_variant(b.data, b.len, 100, &out, &type, detail, 256), RC_INVALID);
    assert_true(detail[0] != '\0');
    assert_int_equal(out.len, 0);
    /* not an image at all, and a width that makes no sense */
    assert_int_equal(image_variant("hello", 5, 100, &out, &type, NULL, 0), RC_UNSUPPORTED_MEDIA);
    buf_cleanup(&b);
    make_image("pngsave", 16, 16, &b);
    assert_int_equal(image_variant(b.data, b.len, 0, &out, &type, NULL, 0), RC_INVALID);
    /* a variant that does not fit the caller's buffer */
    struct buf tiny;
    buf_init(&tiny, 10);
    assert_int_equal(image_variant(b.data, b.len, 16, &tiny, &type, NULL, 0), RC_TOO_LARGE);
    buf_cleanup(&tiny);
    buf_cleanup(&out);
    buf_cleanup(&b);
}

static void test_svg_renders_to_png_of_its_size(void **state)
{
    (void)state;
    static const char svg[] =
        "<svg xmlns='http://www.w3.org/2000/svg' width='300' height='140'>"
        "<rect width='300' height='140' fill='#fc6'/>"
        "<text x='20' y='80' font-family='DejaVu Sans' font-size='40'>Hello</text></svg>";
    struct buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(image_render_svg(svg, strlen(svg), &out), RC_OK);
    assert_memory_equal(out.data, "\x89PNG", 4);
    int w, h;
    assert_string_equal(decode(out.data, out.len, &w, &h), "pngload_buffer");
    assert_int_equal(w, 300);
    assert_int_equal(h, 140);
    buf_reset(&out);
    assert_int_equal(image_render_svg("<svg", 4, &out), RC_INVALID);
    assert_int_equal(image_render_svg("not svg", 7, &out), RC_INVALID);
    buf_cleanup(&out);
}

struct worker {
    struct buf src;    /* a PNG of width x 1000 */
    int width;         /* of src */
    int rc, got_width; /* of the 240 variant, or of src when narrower */
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct image_info info;
    struct buf out;
    const char *type;
    buf_init(&out, 8 << 20);
    w->rc = image_inspect(w->src.data, w->src.len, "image/png", &limits, &info, NULL, 0);
    for (int i = 0; i < 5 && w->rc == RC_OK; i++) {
        buf_reset(&out);
        w->rc = image_variant(w->src.data, w->src.len, 240, &out, &type, NULL, 0);
    }
    if (w->rc == RC_OK)
        w->rc = image_inspect(out.data, out.len, type, &limits, &info, NULL, 0);
    w->got_width = info.width;
    buf_cleanup(&out);
    return NULL;
}

static void test_threads_resize_at_once(void **state)
{
    (void)state;
    struct worker workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        workers[i].width = 200 + 100 * i;
        make_image("pngsave", workers[i].width, 1000, &workers[i].src);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, worker_run, &workers[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].rc, RC_OK);
        assert_int_equal(workers[i].got_width, workers[i].width < 240 ? workers[i].width : 240);
        buf_cleanup(&workers[i].src);
    }
}

int main(void)
{
    /* The test's own use of libvips (making and decoding images). */
    if (VIPS_INIT("test_image") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect_finds_format_and_size),
        cmocka_unit_test(test_mislabelled_is_refused_naming_both),
        cmocka_unit_test(test_not_images_are_refused),
        cmocka_unit_test(test_truncated_is_refused),
        cmocka_unit_test(test_pixel_bomb_is_refused_from_its_header),
        cmocka_unit_test(test_over_max_bytes_is_refused),
        cmocka_unit_test(test_variants_shrink_never_grow),
        cmocka_unit_test(test_variant_strips_metadata),
        cmocka_unit_test(test_variant_turns_photos_upright),
        cmocka_unit_test(test_variant_refuses_corrupt_pixels),
        cmocka_unit_test(test_svg_renders_to_png_of_its_size),
        cmocka_unit_test(test_threads_resize_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
