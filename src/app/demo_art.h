/*
 * Demo art: the covers and episode pages `webtoon demo` uploads, drawn as
 * SVG from a seed (no downloaded art), for image_render_svg to turn into
 * PNG. Pure functions: the same series, episode and page always give the
 * same document, and different seeds give different palettes and shapes.
 * Text is set in DejaVu Sans (fonts-dejavu-core), the font librsvg finds
 * through fontconfig.
 */
#ifndef WEBTOON_APP_DEMO_ART_H
#define WEBTOON_APP_DEMO_ART_H

#include <stdint.h>

#include "core/base/buf.h"

#define DEMO_ART_COVER_WIDTH 600
#define DEMO_ART_COVER_HEIGHT 800
#define DEMO_ART_PAGE_WIDTH 800
#define DEMO_ART_PAGE_MIN_HEIGHT 1200
#define DEMO_ART_PAGE_MAX_HEIGHT 2000

struct demo_art_series {
    const char *title;  /* any text: escaped for XML here */
    const char *author; /* any text */
    uint64_t seed;      /* palette and shapes; demo_art_seed(seriesId) is a fine one */
};

/* A seed derived from <series_id>, so each demo series looks its own. */
uint64_t demo_art_seed(const char *series_id);

/* Appends to <svg> the cover of <s>: DEMO_ART_COVER_WIDTH x _HEIGHT, the
 * title large, the author on a banner. Returns RC_OK, RC_NOMEM or
 * RC_TOO_LARGE (from <svg>; its content is then incomplete). */
int demo_art_cover(const struct demo_art_series *s, struct buf *svg);

/* The height of page <page> (from 1) of episode <episode> of <s>, between
 * DEMO_ART_PAGE_MIN_HEIGHT and _MAX_HEIGHT: what demo_art_page draws. */
int demo_art_page_height(const struct demo_art_series *s, int episode, int page);

/* Appends to <svg> page <page> of episode <episode> of <s>: a strip
 * DEMO_ART_PAGE_WIDTH wide of drawn panels with speech bubbles, the episode
 * and page numbers in a caption and at the foot, so a reader can tell the
 * pages apart. Returns as demo_art_cover. */
int demo_art_page(const struct demo_art_series *s, int episode, int page, struct buf *svg);

#endif
