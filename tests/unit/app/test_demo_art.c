/* Demo art: covers and pages render through image_render_svg to PNGs of
 * the documented sizes, the same input gives the same picture, and other
 * seeds, episodes and pages give other pictures. Set DEMO_ART_OUT to a
 * directory to keep the PNGs for a look. */
#include "support/test_support.h"

#include "app/demo_art.h"
#include "core/base/buf.h"
#include "core/base/rc.h"
#include "core/image/image.h"

static const struct image_limits limits = {
    .max_bytes = 20 << 20, .max_pixels = 50000000, .max_width = 4000, .max_height = 40000};

/* Renders <svg> and checks the PNG is <width> x <height>; the PNG goes to
 * <png> (caller cleans up), and to $DEMO_ART_OUT/<name> when set. */
static void render(struct buf *svg, int width, int height, struct buf *png, const char *name)
{
    struct image_info info;
    char detail[256] = "";
    buf_init(png, 16 << 20);
    assert_int_equal(image_render_svg(svg->data, svg->len, png), RC_OK);
    assert_int_equal(image_inspect(png->data, png->len, "image/png", &limits, &info, detail, 256),
                     RC_OK);
    assert_int_equal(info.format, IMAGE_PNG);
    assert_int_equal(info.width, width);
    assert_int_equal(info.height, height);
    const char *dir = getenv("DEMO_ART_OUT");
    if (dir) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(png->data, 1, png->len, f), png->len);
        fclose(f);
    }
}

static bool same(const struct buf *a, const struct buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static void test_covers_are_portrait_and_differ_by_seed(void **state)
{
    (void)state;
    struct demo_art_series a = {"Tower of Dreams", "Han Yura", demo_art_seed("tower")};
    struct demo_art_series b = {"Tower of Dreams", "Han Yura", demo_art_seed("niceguy")};
    struct buf svg_a, svg_b, again, png_a, png_b;
    buf_init(&svg_a, 1 << 20);
    buf_init(&svg_b, 1 << 20);
    buf_init(&again, 1 << 20);
    assert_int_equal(demo_art_cover(&a, &svg_a), RC_OK);
    assert_int_equal(demo_art_cover(&b, &svg_b), RC_OK);
    assert_int_equal(demo_art_cover(&a, &again), RC_OK);
    assert_true(same(&svg_a, &again));
    assert_non_null(strstr(svg_a.data, "TOWER"));
    assert_non_null(strstr(svg_a.data, "HAN YURA"));
    render(&svg_a, 600, 800, &png_a, "cover-tower.png");
    render(&svg_b, 600, 800, &png_b, "cover-niceguy.png");
    assert_false(same(&png_a, &png_b));
    buf_cleanup(&png_a);
    buf_cleanup(&png_b);
    buf_cleanup(&svg_a);
    buf_cleanup(&svg_b);
    buf_cleanup(&again);
}

static void test_pages_show_episode_and_page_and_differ(void **state)
{
    (void)state;
    struct demo_art_series s = {"Seoul at Night", "Park Min", demo_art_seed("seoul-night")};
    struct buf prev = {0};
    for (int ep = 1; ep <= 2; ep++) {
        for (int page = 1; page <= 3; page++) {
            struct buf svg, png;
            char name[64], caption[64];
            buf_init(&svg, 1 << 20);
            assert_int_equal(demo_art_page(&s, ep, page, &svg), RC_OK);
            snprintf(caption, sizeof caption, "EPISODE %d · PAGE %d", ep, page);
            assert_non_null(strstr(svg.data, caption));
            int height = demo_art_page_height(&s, ep, page);
            assert_in_range(height, DEMO_ART_PAGE_MIN_HEIGHT, DEMO_ART_PAGE_MAX_HEIGHT);
            snprintf(name, sizeof name, "page-%d-%d.png", ep, page);
            render(&svg, DEMO_ART_PAGE_WIDTH, height, &png, name);
            if (prev.data)
                assert_false(same(&prev, &png));
            buf_cleanup(&prev);
            prev = png;
            buf_cleanup(&svg);
        }
    }
    buf_cleanup(&prev);
}

static void test_text_is_escaped(void **state)
{
    (void)state;
    struct demo_art_series s = {"<Tom & \"Jerry\">\x01", "O'Brien </text>", 42};
    struct buf svg, png;
    buf_init(&svg, 1 << 20);
    assert_int_equal(demo_art_cover(&s, &svg), RC_OK);
    assert_null(strstr(svg.data, "</text>\"")); /* nothing closes early */
    assert_non_null(strstr(svg.data, "&amp;"));
    render(&svg, 600, 800, &png, "cover-escaped.png");
    buf_cleanup(&png);
    buf_reset(&svg);
    assert_int_equal(demo_art_page(&s, 1, 1, &svg), RC_OK);
    render(&svg, DEMO_ART_PAGE_WIDTH, demo_art_page_height(&s, 1, 1), &png, "page-escaped.png");
    buf_cleanup(&png);
    /* a buffer too small fails cleanly */
    struct buf tiny;
    buf_init(&tiny, 100);
    assert_int_equal(demo_art_cover(&s, &tiny), RC_TOO_LARGE);
    buf_cleanup(&tiny);
    buf_cleanup(&svg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covers_are_portrait_and_differ_by_seed),
        cmocka_unit_test(test_pages_show_episode_and_page_and_differ),
        cmocka_unit_test(test_text_is_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
