/*
 * Demo art as SVG text: see demo_art.h. Everything random comes from one
 * splitmix64 generator seeded by (series seed, episode, page), so a
 * document depends on nothing else. Writes go through a small writer whose
 * first failure sticks, so drawing code does not check every append.
 */
#include "app/demo_art.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/base/hash.h"
#include "core/base/rc.h"

#define DEMO_ART_FONT "DejaVu Sans, sans-serif"

struct demo_art_palette {
    const char *sky_top, *sky_bottom; /* background gradient */
    const char *accent;               /* title fill, rays, sound effects */
    const char *ink;                  /* outlines, silhouettes, banner */
    const char *skin, *cloth, *cloth2;
};

static const struct demo_art_palette demo_art_palettes[] = {
    {"#ff7e5f", "#feb47b", "#ffe66d", "#1b1b3a", "#f6d5b8", "#3d5a80", "#e63946"},
    {"#0f2027", "#2c5364", "#f8b400", "#0b0b0b", "#e0ac69", "#c0392b", "#2a9d8f"},
    {"#a8e6cf", "#dcedc1", "#ff8b94", "#2d3142", "#ffd3b6", "#6c5b7b", "#f4a261"},
    {"#41295a", "#2f0743", "#ff4e88", "#111111", "#f1c27d", "#00b8a9", "#ffd166"},
    {"#2193b0", "#6dd5ed", "#ffd166", "#073b4c", "#ffdbac", "#ef476f", "#118ab2"},
    {"#c94b4b", "#4b134f", "#f9d423", "#1a1a1a", "#e8b796", "#4ecdc4", "#ff6b6b"},
};

static const char *const demo_art_lines[] = {
    "Did you hear that?",
    "We have to go. Now!",
    "This can't be happening...",
    "Trust me on this one.",
    "I knew you would come back.",
    "Who are you, really?",
    "Not again!",
    "Look up there!",
    "It's only the beginning.",
    "You promised me.",
    "Hold on tight!",
    "Wait... what was that?",
    "I'm not afraid of you.",
    "Let's finish this.",
    "Where did everyone go?",
    "Just one more step.",
};

static const char *const demo_art_sounds[] = {"BAM!", "WHOOSH", "KRAK!", "...!", "THUD", "ZAP!"};

struct demo_art_rng {
    uint64_t state;
};

static uint64_t demo_art_next(struct demo_art_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A number from <lo> to <hi>, both included. */
static int demo_art_range(struct demo_art_rng *r, int lo, int hi)
{
    return lo + (int)(demo_art_next(r) % (uint64_t)(hi - lo + 1));
}

static struct demo_art_rng demo_art_rng_for(const struct demo_art_series *s, int episode, int page)
{
    struct demo_art_rng r = {s->seed ^ ((uint64_t)episode << 32) ^ (uint64_t)page};
    demo_art_next(&r);
    return r;
}

/* The palette of <s>: the same on its cover and every page. */
static const struct demo_art_palette *demo_art_palette_of(const struct demo_art_series *s)
{
    struct demo_art_rng r = demo_art_rng_for(s, 0, 0);
    return &demo_art_palettes[demo_art_next(&r) % ARRAY_LEN(demo_art_palettes)];
}

uint64_t demo_art_seed(const char *series_id) { return hash_fnv1a(series_id, strlen(series_id)); }

/* The writer: appends to <b> until the first failure, kept in <rc>. */
struct demo_art_svg {
    struct buf *b;
    int rc;
};

static void demo_art_put(struct demo_art_svg *w, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void demo_art_put(struct demo_art_svg *w, const char *fmt, ...)
{
    if (w->rc != RC_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    w->rc = buf_vappendf(w->b, fmt, ap);
    va_end(ap);
}

/* Appends the first <len> bytes of <text>, escaped for XML text and
 * attributes, upper-cased (ASCII only) when <upper>. */
static void demo_art_text(struct demo_art_svg *w, const char *text, size_t len, bool upper)
{
    for (size_t i = 0; i < len && w->rc == RC_OK; i++) {
        char c = text[i];
        switch (c) {
        case '&':
            demo_art_put(w, "&amp;");
            break;
        case '<':
            demo_art_put(w, "&lt;");
            break;
        case '>':
            demo_art_put(w, "&gt;");
            break;
        case '"':
            demo_art_put(w, "&quot;");
            break;
        case '\'':
            demo_art_put(w, "&apos;");
            break;
        default:
            if (upper && c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            /* control characters are not allowed in XML 1.0 */
            if ((unsigned char)c < 0x20)
                c = ' ';
            w->rc = buf_append(w->b, &c, 1);
        }
    }
}

/* Splits <text> at spaces into at most <max_lines> lines of about <width>
 * characters; writes each line's start and length. Returns the count. */
static int demo_art_wrap(const char *text, size_t width, int max_lines, const char **start,
                         size_t *len)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max_lines) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t rest = strlen(p), take = rest;
        if (rest > width && n < max_lines - 1) {
            /* the last space within the width, or the first one after it */
            take = width;
            while (take > 0 && p[take] != ' ')
                take--;
            if (take == 0)
                take = strcspn(p, " ");
        }
        start[n] = p;
        len[n] = take;
        n++;
        p += take;
    }
    return n;
}

static void demo_art_open(struct demo_art_svg *w, int width, int height)
{
    demo_art_put(w,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"" DEMO_ART_FONT "\">\n",
                 width, height, width, height);
}

/* Rays from (<cx>, <cy>), every other wedge filled: the comic sunburst. */
static void demo_art_rays(struct demo_art_svg *w, struct demo_art_rng *r, int cx, int cy,
                          const char *fill, double opacity)
{
    static const double cos_sin[24][2] = {
        {1.000, 0.000},   {0.966, 0.259},   {0.866, 0.500},   {0.707, 0.707},   {0.500, 0.866},
        {0.259, 0.966},   {0.000, 1.000},   {-0.259, 0.966},  {-0.500, 0.866},  {-0.707, 0.707},
        {-0.866, 0.500},  {-0.966, 0.259},  {-1.000, 0.000},  {-0.966, -0.259}, {-0.866, -0.500},
        {-0.707, -0.707}, {-0.500, -0.866}, {-0.259, -0.966}, {0.000, -1.000},  {0.259, -0.966},
        {0.500, -0.866},  {0.707, -0.707},  {0.866, -0.500},  {0.966, -0.259}};
    int first = demo_art_range(r, 0, 1);
    demo_art_put(w, "<g fill=\"%s\" opacity=\"%.2f\">", fill, opacity);
    for (int i = first; i < 24; i += 2) {
        const double *a = cos_sin[i], *b = cos_sin[(i + 1) % 24];
        demo_art_put(w, "<polygon points=\"%d,%d %.0f,%.0f %.0f,%.0f\"/>", cx, cy, cx + 1400 * a[0],
                     cy + 1400 * a[1], cx + 1400 * b[0], cy + 1400 * b[1]);
    }
    demo_art_put(w, "</g>\n");
}

/* A person standing on <ground> at <x>, <scale> times 200 pixels tall,
 * looking left or right; <talking> opens the mouth. */
static void demo_art_person(struct demo_art_svg *w, const struct demo_art_palette *pal, double x,
                            double ground, double scale, const char *cloth, bool right,
                            bool talking)
{
    const char *ink = pal->ink;
    double head = 34 * scale, top = ground - 200 * scale, dir = right ? 1 : -1;
    demo_art_put(w, "<g stroke=\"%s\" stroke-width=\"%.1f\" stroke-linejoin=\"round\">", ink,
                 3 * scale);
    /* legs, body, arms */
    demo_art_put(w,
                 "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>"
                 "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>",
                 x - 24 * scale, ground - 70 * scale, 18 * scale, 70 * scale, ink, x + 6 * scale,
                 ground - 70 * scale, 18 * scale, 70 * scale, ink);
    demo_art_put(w,
                 "<path d=\"M%.1f %.1f Q%.1f %.1f %.1f %.1f L%.1f %.1f Q%.1f %.1f %.1f %.1f Z\" "
                 "fill=\"%s\"/>",
                 x - 40 * scale, ground - 66 * scale, x - 44 * scale, top + 2 * head, x,
                 top + 1.9 * head, x + 44 * scale, top + 2 * head, x + 40 * scale,
                 ground - 66 * scale, x, ground - 60 * scale, cloth);
    demo_art_put(w,
                 "<path d=\"M%.1f %.1f L%.1f %.1f\" stroke-width=\"%.1f\" stroke-linecap=\"round\" "
                 "fill=\"none\" stroke=\"%s\"/>",
                 x + dir * 36 * scale, top + 2.3 * head, x + dir * 70 * scale, top + 1.7 * head,
                 13 * scale, cloth);
    /* head, hair, eye, mouth */
    demo_art_put(w,
                 "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>"
                 "<path d=\"M%.1f %.1f A%.1f %.1f 0 0 1 %.1f %.1f Q%.1f %.1f %.1f %.1f Z\" "
                 "fill=\"%s\"/>",
                 x, top + head, head, pal->skin, x - head, top + head, head, head, x + head,
                 top + head, x - dir * 0.2 * head, top + 0.3 * head, x - head, top + head, ink);
    demo_art_put(w, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"none\"/>",
                 x + dir * 0.45 * head, top + 1.05 * head, 0.13 * head, ink);
    if (talking)
        demo_art_put(w, "<ellipse cx=\"%.1f\" cy=\"%.1f\" rx=\"%.1f\" ry=\"%.1f\" fill=\"%s\"/>",
                     x + dir * 0.5 * head, top + 1.5 * head, 0.16 * head, 0.12 * head, ink);
    else
        demo_art_put(w, "<path d=\"M%.1f %.1f l%.1f 0\" fill=\"none\"/>", x + dir * 0.3 * head,
                     top + 1.5 * head, dir * 0.35 * head);
    demo_art_put(w, "</g>\n");
}

/* A speech bubble centred on (<cx>, <cy>) with <text> wrapped inside and a
 * tail pointing at (<tx>, <ty>). */
static void demo_art_bubble(struct demo_art_svg *w, const struct demo_art_palette *pal, double cx,
                            double cy, double tx, double ty, const char *text)
{
    const char *starts[4];
    size_t lens[4];
    int n = demo_art_wrap(text, 16, 4, starts, lens);
    size_t longest = 1;
    for (int i = 0; i < n; i++)
        longest = lens[i] > longest ? lens[i] : longest;
    double rx = 30 + 8.5 * (double)longest, ry = 26 + 17 * n;
    /* the tail with its outline, the bubble over its base, then the tail
     * again without one, so no line crosses where they join */
    char tail[160];
    snprintf(tail, sizeof tail, "M%.1f %.1f L%.1f %.1f L%.1f %.1f Z", cx - 0.4 * rx, cy + 0.3 * ry,
             tx, ty, cx - 0.1 * rx, cy + 0.75 * ry);
    demo_art_put(w,
                 "<g stroke=\"%s\" stroke-width=\"4\" fill=\"#fff\" stroke-linejoin=\"round\">"
                 "<path d=\"%s\"/><ellipse cx=\"%.1f\" cy=\"%.1f\" rx=\"%.1f\" ry=\"%.1f\"/>"
                 "<path d=\"%s\" stroke=\"none\"/></g>",
                 pal->ink, tail, cx, cy, rx, ry, tail);
    demo_art_put(w,
                 "<text x=\"%.1f\" y=\"%.1f\" font-size=\"26\" text-anchor=\"middle\" fill=\"%s\">",
                 cx, cy - 17.0 * (n - 1) + 9, pal->ink);
    for (int i = 0; i < n; i++) {
        demo_art_put(w, "<tspan x=\"%.1f\" dy=\"%d\">", cx, i == 0 ? 0 : 34);
        demo_art_text(w, starts[i], lens[i], false);
        demo_art_put(w, "</tspan>");
    }
    demo_art_put(w, "</text>\n");
}

int demo_art_cover(const struct demo_art_series *s, struct buf *svg)
{
    struct demo_art_svg w = {svg, RC_OK};
    struct demo_art_rng r = demo_art_rng_for(s, 0, 0);
    const struct demo_art_palette *pal = demo_art_palette_of(s);
    demo_art_next(&r); /* the draw that picked the palette */
    const int W = DEMO_ART_COVER_WIDTH, H = DEMO_ART_COVER_HEIGHT;
    demo_art_open(&w, W, H);
    demo_art_put(&w,
                 "<defs><linearGradient id=\"sky\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
                 "<stop offset=\"0\" stop-color=\"%s\"/><stop offset=\"1\" stop-color=\"%s\"/>"
                 "</linearGradient>"
                 "<pattern id=\"dots\" width=\"12\" height=\"12\" patternUnits=\"userSpaceOnUse\">"
                 "<circle cx=\"6\" cy=\"6\" r=\"2.2\" fill=\"%s\"/></pattern></defs>\n"
                 "<rect width=\"%d\" height=\"%d\" fill=\"url(#sky)\"/>\n",
                 pal->sky_top, pal->sky_bottom, pal->ink, W, H);
    int cx = demo_art_range(&r, 180, 420), cy = demo_art_range(&r, 380, 520);
    demo_art_rays(&w, &r, cx, cy, pal->accent, 0.28);
    demo_art_put(&w, "<rect width=\"%d\" height=\"%d\" fill=\"url(#dots)\" opacity=\"0.12\"/>\n", W,
                 H);
    /* a moon or sun behind the hero */
    demo_art_put(&w,
                 "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"%s\" stroke=\"%s\" "
                 "stroke-width=\"6\" opacity=\"0.9\"/>\n",
                 cx, cy - 40, demo_art_range(&r, 90, 140), pal->accent, pal->ink);
    /* a skyline or hills along the bottom */
    demo_art_put(&w, "<g fill=\"%s\" opacity=\"0.55\">", pal->ink);
    if (demo_art_range(&r, 0, 1)) {
        for (int x = -10; x < W; x += demo_art_range(&r, 40, 70)) {
            int h = demo_art_range(&r, 90, 260);
            demo_art_put(&w, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>", x, 700 - h,
                         demo_art_range(&r, 36, 64), h + 100);
        }
    } else {
        demo_art_put(&w, "<path d=\"M0 640 Q%d %d 300 620 T600 600 L600 800 L0 800 Z\"/>",
                     demo_art_range(&r, 80, 220), demo_art_range(&r, 480, 560));
    }
    demo_art_put(&w, "</g>\n");
    /* the hero, big, and a rival or friend smaller behind */
    demo_art_person(&w, pal, cx + (cx < 300 ? 150 : -150), 720, 1.3, pal->cloth2, cx < 300, false);
    demo_art_person(&w, pal, cx, 760, 2.4, pal->cloth, demo_art_range(&r, 0, 1), false);

    /* the title, tilted, white on a thick outline */
    const char *starts[3];
    size_t lens[3];
    int lines = demo_art_wrap(s->title, 11, 3, starts, lens);
    size_t longest = 1;
    for (int i = 0; i < lines; i++)
        longest = lens[i] > longest ? lens[i] : longest;
    int size = longest <= 8 ? 80 : longest <= 11 ? 64 : 48;
    demo_art_put(&w,
                 "<g transform=\"rotate(%d 300 120)\"><text x=\"300\" y=\"%d\" font-size=\"%d\" "
                 "font-weight=\"bold\" text-anchor=\"middle\" fill=\"#fff\" stroke=\"%s\" "
                 "stroke-width=\"10\" stroke-linejoin=\"round\" paint-order=\"stroke\" "
                 "letter-spacing=\"2\">",
                 demo_art_range(&r, -6, -2), 70 + size, size, pal->ink);
    for (int i = 0; i < lines; i++) {
        demo_art_put(&w, "<tspan x=\"300\" dy=\"%d\">", i == 0 ? 0 : size + 6);
        demo_art_text(&w, starts[i], lens[i], true);
        demo_art_put(&w, "</tspan>");
    }
    demo_art_put(&w, "</text></g>\n");
    /* the author on a banner, the frame around it all */
    demo_art_put(&w,
                 "<rect x=\"0\" y=\"%d\" width=\"%d\" height=\"64\" fill=\"%s\"/>"
                 "<text x=\"300\" y=\"%d\" font-size=\"28\" text-anchor=\"middle\" "
                 "fill=\"%s\" letter-spacing=\"3\">",
                 H - 96, W, pal->ink, H - 53, pal->accent);
    demo_art_text(&w, s->author, strlen(s->author), true);
    demo_art_put(&w,
                 "</text>\n<rect x=\"10\" y=\"10\" width=\"%d\" height=\"%d\" fill=\"none\" "
                 "stroke=\"%s\" stroke-width=\"8\"/>\n</svg>\n",
                 W - 20, H - 20, pal->ink);
    return w.rc;
}

int demo_art_page_height(const struct demo_art_series *s, int episode, int page)
{
    struct demo_art_rng r = demo_art_rng_for(s, episode, page);
    return demo_art_range(&r, DEMO_ART_PAGE_MIN_HEIGHT, DEMO_ART_PAGE_MAX_HEIGHT);
}

/* One panel at (<x>, <y>), <w> x <h>, numbered <n> on its page: a scene
 * with one or two people, a bubble, and now and then a sound effect. */
static void demo_art_panel(struct demo_art_svg *w, struct demo_art_rng *r,
                           const struct demo_art_palette *pal, int n, int x, int y, int pw, int ph)
{
    demo_art_put(w,
                 "<clipPath id=\"c%d\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
                 "</clipPath><g clip-path=\"url(#c%d)\">"
                 "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"url(#sky)\"/>\n",
                 n, x, y, pw, ph, n, x, y, pw, ph);
    int kind = demo_art_range(r, 0, 2);
    if (kind == 0) /* action: rays from somewhere in the panel */
        demo_art_rays(w, r, x + demo_art_range(r, 100, pw - 100), y + ph / 2, pal->accent, 0.35);
    else /* a sun or moon */
        demo_art_put(w, "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"%s\" opacity=\"0.8\"/>",
                     x + demo_art_range(r, 80, pw - 80), y + demo_art_range(r, 60, ph / 3),
                     demo_art_range(r, 30, 60), pal->accent);
    int ground = y + ph - demo_art_range(r, 30, 70);
    demo_art_put(w,
                 "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                 "opacity=\"0.35\"/>\n",
                 x, ground, pw, ph, pal->ink);
    double scale = (ph - 170) / 200.0;
    scale = scale > 2.2 ? 2.2 : scale < 0.8 ? 0.8 : scale;
    int two = demo_art_range(r, 0, 3) != 0;
    double px = x + demo_art_range(r, 140, two ? pw / 2 - 60 : pw - 140);
    demo_art_person(w, pal, px, ground + 20, scale, pal->cloth, true, true);
    if (two)
        demo_art_person(w, pal, x + demo_art_range(r, pw / 2 + 80, pw - 130), ground + 20,
                        scale * 0.95, pal->cloth2, false, false);
    /* the speaker's bubble, above and beside the head */
    double head_y = ground + 20 - 200 * scale + 40 * scale;
    double bx = px + 200 > x + pw - 190 ? x + pw - 190 : px + 200;
    double by = head_y - 60 < y + 80 ? y + 80 : head_y - 60;
    demo_art_bubble(w, pal, bx, by, px + 30 * scale, head_y,
                    demo_art_lines[demo_art_next(r) % ARRAY_LEN(demo_art_lines)]);
    if (kind == 0)
        demo_art_put(w,
                     "<text x=\"%d\" y=\"%d\" font-size=\"72\" font-weight=\"bold\" "
                     "fill=\"%s\" stroke=\"%s\" stroke-width=\"6\" paint-order=\"stroke\" "
                     "transform=\"rotate(-12 %d %d)\">%s</text>\n",
                     x + 40, y + ph - 120, pal->accent, pal->ink, x + 40, y + ph - 120,
                     demo_art_sounds[demo_art_next(r) % ARRAY_LEN(demo_art_sounds)]);
    demo_art_put(w,
                 "</g><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                 "stroke=\"%s\" stroke-width=\"6\"/>\n",
                 x, y, pw, ph, pal->ink);
}

int demo_art_page(const struct demo_art_series *s, int episode, int page, struct buf *svg)
{
    struct demo_art_svg w = {svg, RC_OK};
    struct demo_art_rng r = demo_art_rng_for(s, episode, page);
    const int W = DEMO_ART_PAGE_WIDTH;
    int H = demo_art_range(&r, DEMO_ART_PAGE_MIN_HEIGHT, DEMO_ART_PAGE_MAX_HEIGHT);
    const struct demo_art_palette *pal = demo_art_palette_of(s);
    demo_art_open(&w, W, H);
    demo_art_put(&w,
                 "<defs><linearGradient id=\"sky\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
                 "<stop offset=\"0\" stop-color=\"%s\"/><stop offset=\"1\" stop-color=\"%s\"/>"
                 "</linearGradient></defs>\n<rect width=\"%d\" height=\"%d\" fill=\"#fdfaf3\"/>\n",
                 pal->sky_top, pal->sky_bottom, W, H);
    /* panels stacked down the strip, between a margin and the foot line */
    const int margin = 28, gutter = 36, foot = 70;
    int panels = H < 1500 ? 2 : 3;
    int avail = H - 2 * margin - foot - gutter * (panels - 1);
    int y = margin;
    for (int i = 0; i < panels; i++) {
        int ph = i == panels - 1 ? avail : avail / panels + demo_art_range(&r, -60, 60);
        avail -= ph;
        demo_art_panel(&w, &r, pal, i, margin, y, W - 2 * margin, ph);
        y += ph + gutter;
    }
    /* the caption on the first panel, the page number at the foot */
    demo_art_put(&w,
                 "<g><rect x=\"%d\" y=\"%d\" width=\"330\" height=\"52\" fill=\"#fff8dc\" "
                 "stroke=\"%s\" stroke-width=\"4\"/><text x=\"%d\" y=\"%d\" font-size=\"26\" "
                 "font-weight=\"bold\" fill=\"%s\">EPISODE %d · PAGE %d</text></g>\n",
                 margin, margin, pal->ink, margin + 16, margin + 35, pal->ink, episode, page);
    demo_art_put(&w, "<text x=\"%d\" y=\"%d\" font-size=\"24\" text-anchor=\"middle\" fill=\"%s\">",
                 W / 2, H - 30, pal->ink);
    demo_art_text(&w, s->title, strlen(s->title), false);
    demo_art_put(&w, " · episode %d · page %d</text>\n</svg>\n", episode, page);
    return w.rc;
}
