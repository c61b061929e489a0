/*
 * The webtoon service: the catalog (series and their episodes: upload,
 * update, list, search), opening episodes and where each reader stopped. It keeps its own view of who owns what (granted when the
 * pointer service took the points, revoked when a purchase is cancelled), so
 * an open is answered at once and recorded as a read. Being where reads
 * happen, it also decides whether a purchase can still be cancelled.
 *
 * Files: webtoon.c (rules, pure), webtoon_store.c (SQL), webtoon_api.c
 * (routes), webtoon_events.c (policies).
 */
#ifndef WEBTOON_SVC_WEBTOON_H
#define WEBTOON_SVC_WEBTOON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "domain/events.h"
#include "core/hal/hal.h"
#include "core/service/service.h"

extern const struct service_def webtoon_service;

#define WEBTOON_TITLE_MAX 200
#define WEBTOON_AUTHOR_MAX 100
#define WEBTOON_POINT_MAX 100000
#define WEBTOON_EPISODE_MAX 100000
#define WEBTOON_SYNOPSIS_MAX 2000
#define WEBTOON_GENRES_MAX 8      /* genres one series may list */
#define WEBTOON_PAGE_MAX 10000    /* reading progress: the highest page */
#define WEBTOON_QUERY_WORDS 8     /* words of a query that count */
#define WEBTOON_QUERY_WORD_MAX 64 /* bytes of one word that count */
#define WEBTOON_CONTINUE_MAX 20   /* entries of a library's continueReading */
#define WEBTOON_ACCESS_TTL_S 3600 /* how long a page-image access capability is valid */
#define WEBTOON_ACCESS_MAX 80     /* bytes of one, NUL included */
#define WEBTOON_MEDIA_KEY_MAX 64  /* bytes of the key that signs them */
#define WEBTOON_SHA_HEX 65        /* a SHA-256 in hex, NUL included */

/* An episode: the sellable unit. */
struct webtoon_item {
    bool found;
    char webtoon_id[DOMAIN_ID_MAX + 1];
    char series_id[DOMAIN_ID_MAX + 1];
    char title[WEBTOON_TITLE_MAX * 4 + 1]; /* UTF-8: up to 4 bytes per character */
    char author[WEBTOON_AUTHOR_MAX * 4 + 1];
    int64_t point;     /* price in points; 0 = free */
    int64_t episode;   /* 1.. */
    char status[16];   /* published, hidden */
    int64_t free_from; /* ms since the epoch from which it is free for everyone; -1: never */
    int64_t pages;     /* pages uploaded, 0.. */
};

/* One uploaded picture (content-addressed: blob keys img/<sha>/original,
 * /reading and /thumb) with its variants' hashes, which are their ETags. */
struct webtoon_image {
    bool found;
    char sha[WEBTOON_SHA_HEX];                           /* of the original bytes */
    int64_t width, height;                               /* of the original, pixels */
    char original_type[16];                              /* image/png, image/jpeg, image/webp */
    char reading_sha[WEBTOON_SHA_HEX], reading_type[16]; /* 800 wide (never upscaled) */
    char thumb_sha[WEBTOON_SHA_HEX], thumb_type[16];     /* 240 wide */
};

/* A series: what the catalog shows as one card. */
struct webtoon_series {
    bool found;
    char series_id[DOMAIN_ID_MAX + 1];
    char title[WEBTOON_TITLE_MAX * 4 + 1];
    char author[WEBTOON_AUTHOR_MAX * 4 + 1];
    char synopsis[WEBTOON_SYNOPSIS_MAX * 4 + 1];
    char genres[WEBTOON_GENRES_MAX * 16]; /* comma-separated, in webtoon_genres order */
    char status[16];                      /* ongoing, completed, hiatus */
    int64_t popularity;                   /* approved opens + purchases of its episodes */
    int64_t created_at;                   /* ms since the epoch */
    /* Read from its episodes, not stored with it: */
    int64_t episodes;           /* published */
    int64_t free_episodes;      /* published and free now */
    int64_t latest_episode_at;  /* upload of the newest published one, ms; -1: none */
    struct webtoon_image cover; /* found false: none uploaded */
};

/* The genres a series may list, NULL-terminated. */
extern const char *const webtoon_genres[];

/* A search query reduced to the words that count (see webtoon_search_parse). */
struct webtoon_search {
    char words[WEBTOON_QUERY_WORDS][WEBTOON_QUERY_WORD_MAX + 1];
    size_t n;
};

/* --- rules (webtoon.c) ---------------------------------------------------- */

/*
 * Reads the editable fields of <body> into <w>. With <partial> (PATCH)
 * absent fields keep their value; otherwise all are required except
 * status (default "published"). Returns RC_OK or RC_INVALID with a reason
 * in <detail>.
 */
int webtoon_read_fields(const json_t *body, bool partial, struct webtoon_item *w, char *detail,
                        size_t len);

/*
 * Reads the editable fields of a series from <body> into <s> (title, author,
 * synopsis, genres, status; not seriesId). With <partial> (PATCH) absent
 * fields keep their value; otherwise title and author are required and the
 * rest default (empty synopsis, no genres, ongoing). Returns RC_OK or
 * RC_INVALID with a reason in <detail>.
 */
int webtoon_read_series_fields(const json_t *body, bool partial, struct webtoon_series *s,
                               char *detail, size_t len);

/* True when <genre> is one of webtoon_genres. */
bool webtoon_genre_is_valid(const char *genre);
/* True when <status> is a series status: ongoing, completed or hiatus. */
bool webtoon_series_status_is_valid(const char *status);

/* The series an episode uploaded without one goes into: <webtoon_id>
 * without a trailing "-<digits>" ("niceguy-1" -> "niceguy"), or the whole
 * id when that would leave no valid id. Into <out> (DOMAIN_ID_MAX + 1). */
void webtoon_series_of_episode(const char *webtoon_id, char *out, size_t len);

/* Reads an RFC 3339 date-time ("2026-12-02T10:00:00Z", fraction and
 * offset allowed) into <ms> since the epoch (0 for any time before it);
 * false when it is not one. */
bool webtoon_parse_time(const char *s, int64_t *ms /* OUT */);

/* True when <w> costs nothing at <now> (ms): price 0, or free from a time
 * that has come. */
bool webtoon_is_free_now(const struct webtoon_item *w, int64_t now);

enum webtoon_open {
    WEBTOON_OPEN_FREE,   /* approved: costs nothing */
    WEBTOON_OPEN_OWNED,  /* approved: bought */
    WEBTOON_OPEN_HIDDEN, /* refused: not published */
    WEBTOON_OPEN_NOT_OWNED,
};

/* What opening <w> at <now> (ms) means for a user who owns it or not. */
enum webtoon_open webtoon_decide_open(const struct webtoon_item *w, bool owned, int64_t now);

/*
 * Reduces the search query <q> (any bytes, NULL: none) to its words: runs
 * of ASCII letters and digits and of well-formed UTF-8 beyond ASCII; every
 * other byte (quotes, *, -, parentheses, operators of either engine's
 * syntax, malformed UTF-8) separates words. At most WEBTOON_QUERY_WORDS
 * words of at most WEBTOON_QUERY_WORD_MAX bytes (cut on a character
 * boundary) count. No words: no text filter.
 */
void webtoon_search_parse(const char *q, struct webtoon_search *out /* OUT */);
/* The match expression of <s> for the engine (FTS5 MATCH, or PostgreSQL
 * to_tsquery('simple', ...) with <postgres>): every word, the last one as a
 * prefix. Into <out> (<len> bytes, room for the longest). */
void webtoon_search_expr(const struct webtoon_search *s, bool postgres, char *out, size_t len);
/* <s> as the value of ?q= in a link, percent-encoded, into <out>. */
void webtoon_search_param(const struct webtoon_search *s, char *out, size_t len);

/* A user's hold on one episode. */
struct webtoon_ownership {
    bool found;           /* owned */
    char purchase_id[40]; /* the purchase that granted it */
    bool read;            /* opened since */
};

/* Why cancelling <purchase> cannot revoke the episode <own> describes (not
 * granted by that purchase, or already read), or NULL when it can. */
const char *webtoon_cancel_refusal(const struct webtoon_ownership *own, const char *purchase);

/*
 * The access capability of <user> for the pages of <webtoon> until
 * <expiry> (Unix seconds): "<expiry>.<base64url HMAC-SHA256(<key>, user
 * "\n" webtoon "\n" expiry)>", into <out> (WEBTOON_ACCESS_MAX bytes).
 */
void webtoon_access_sign(const unsigned char *key, size_t keylen, const char *user,
                         const char *webtoon, int64_t expiry, char *out, size_t len);
/* True when <access> (any text, NULL: none) is a capability of <user> for
 * <webtoon> signed with <key> and not expired at <now_s>; compares in
 * constant time. */
bool webtoon_access_is_valid(const unsigned char *key, size_t keylen, const char *user,
                             const char *webtoon, const char *access, int64_t now_s);
/* True when <order> (a JSON value from a request) is a permutation of
 * 1..<n>; then <out> (room for <n>) holds it. */
bool webtoon_order_is_permutation(const json_t *order, int64_t n, int64_t *out);

/* --- storage (webtoon_store.c) -------------------------------------------- */

extern const struct service_schema webtoon_schemas[];

int webtoon_store_get(struct store *st, const char *id, struct webtoon_item *out /* OUT */);
/* Series <id> with what its episodes say at <now> (ms). */
int webtoon_store_series_get(struct store *st, const char *id, int64_t now,
                             struct webtoon_series *out /* OUT */);
/* Changes the catalog's version when it adds the series. */
int webtoon_store_series_insert(struct store *st, const struct webtoon_series *s,
                                bool *created /* OUT */);
int webtoon_store_series_update(struct store *st, const struct webtoon_series *s);
/* Counts one read or purchase of an episode of <series> in its popularity. */
int webtoon_store_count_popularity(struct store *st, const char *series);
/* What a cached series answer also depends on besides the catalog's
 * version: how many episodes had become free by <now>, and the sum of
 * popularity; both into <out>, a short text for the cache key. */
int webtoon_store_series_freshness(struct store *st, int64_t now, char *out, size_t len);

struct webtoon_series_filter {
    const char *match;  /* webtoon_search_expr, NULL: any */
    const char *genre;  /* NULL: any */
    const char *status; /* NULL: any */
    const char *sort;   /* new, popular or title */
    const char *query;  /* the filter as link parameters (hal_collection), or NULL */
    int64_t now;        /* ms: what "free now" means */
};
/* One page of the series <f> selects, as a new collection body in <out>. */
int webtoon_store_series_page(struct store *st, const struct webtoon_series_filter *f,
                              const struct hal_page *page, json_t **out /* OUT */);
/* One page of the episodes of <series> by episode number, hidden ones too
 * when <all>, as a new collection body in <out>. */
int webtoon_store_episodes_page(struct store *st, const char *series, bool all,
                                const struct hal_page *page, json_t **out /* OUT */);
/* Records <img> (a no-op when the same picture is there already). */
int webtoon_store_image_put(struct store *st, const struct webtoon_image *img);
int webtoon_store_image_get(struct store *st, const char *sha, struct webtoon_image *out /* OUT */);
/* Sets the cover of <series> to the image <sha>; changes the catalog's
 * version. */
int webtoon_store_cover_set(struct store *st, const char *series, const char *sha);
/* The cover image of <series> into <out> (found false: none, or no series). */
int webtoon_store_cover_get(struct store *st, const char *series,
                            struct webtoon_image *out /* OUT */);
/* Adds image <sha> as the last page of <webtoon>, its number into <number>. */
int webtoon_store_page_add(struct store *st, const char *webtoon, const char *sha,
                           int64_t *number /* OUT */);
/* The image of page <number> of <webtoon> into <out>. */
int webtoon_store_page_get(struct store *st, const char *webtoon, int64_t number,
                           struct webtoon_image *out /* OUT */);
/* Puts the <n> pages of <webtoon> in <order> (old numbers, a permutation). */
int webtoon_store_pages_reorder(struct store *st, const char *webtoon, const int64_t *order,
                                int64_t n);
/* Removes page <number> of <webtoon> (later ones move up); <found> says
 * whether there was one. */
int webtoon_store_page_delete(struct store *st, const char *webtoon, int64_t number,
                              bool *found /* OUT */);
/* The pages of <webtoon> in order, as a new JSON array in <out>:
 * {number, width, height, _links} each, their image links made by
 * webtoon_page_links. */
int webtoon_store_pages(struct store *st, const char *webtoon, json_t **out /* OUT */);

/* The published neighbours of <w> in its series by episode number, into
 * <prev> and <next> ("" when none; DOMAIN_ID_MAX + 1 bytes each). */
int webtoon_store_neighbours(struct store *st, const struct webtoon_item *w, char *prev,
                             char *next);

/* Where <user> stopped in <webtoon>: <page> 0 when never. */
int webtoon_store_progress_get(struct store *st, const char *user, const char *webtoon,
                               int64_t *page /* OUT */, int64_t *updated_at /* OUT */);
int webtoon_store_progress_put(struct store *st, const char *user, const char *webtoon,
                               int64_t page, int64_t updated_at);
/* The episodes <user> read last, newest first (at most
 * WEBTOON_CONTINUE_MAX), as a new JSON array in <out>. */
int webtoon_store_continue_reading(struct store *st, const char *user, json_t **out /* OUT */);
/* The catalog's version, which every insert and update changes in its own
 * transaction (<found> false: the schema has none, nothing can be cached).
 * Read it before the catalog data a cached answer is made of, so that the
 * answer is never older than the version it is kept under. */
int webtoon_store_catalog_version(struct store *st, int64_t *version /* OUT */,
                                  bool *found /* OUT */);
/* Both change the catalog's version (when they change the catalog). */
int webtoon_store_insert(struct store *st, const struct webtoon_item *w, bool *created /* OUT */);
int webtoon_store_update(struct store *st, const struct webtoon_item *w);
int webtoon_store_ownership(struct store *st, const char *user, const char *webtoon,
                            struct webtoon_ownership *out /* OUT */);
int webtoon_store_grant(struct store *st, const char *user, const char *webtoon,
                        const char *purchase);
int webtoon_store_mark_read(struct store *st, const char *user, const char *webtoon);
int webtoon_store_revoke(struct store *st, const char *user, const char *webtoon);
/* The owned episodes of <user> as a JSON array (new reference). */
int webtoon_store_library(struct store *st, const char *user, json_t **out /* OUT */);

json_t *webtoon_json(const struct webtoon_item *w);
json_t *webtoon_item_of_row(const struct store_row *row);
#define WEBTOON_COLUMNS                                                                            \
    "webtoon_id, title, author, point, episode, status, series_id, free_from, pages"
/* Series <s> as the API shows it (new reference; NULL: out of memory). */
json_t *webtoon_series_json(const struct webtoon_series *s);
/* A page of <webtoon>, number <number>, picture <img>, as the API shows it. */
json_t *webtoon_page_json(const char *webtoon, int64_t number, const struct webtoon_image *img);
/* <ms> since the epoch as an RFC 3339 JSON string (new reference). */
json_t *webtoon_time_json(int64_t ms);

/* --- event policies (webtoon_events.c) -------------------------------------- */

extern const struct inbox_handler webtoon_handlers[];

/* Emits <type> with <fields> (stolen, NULL: out of memory) keyed by <key>
 * (the user, or the webtoon for catalog events): every event of the
 * service goes out here. */
int webtoon_emit(struct store *st, const char *key, const char *type, json_t *fields);
/* Emits <type> carrying the catalog entry <w>. */
int webtoon_emit_item(struct store *st, const struct webtoon_item *w, const char *type);
/* Emits <type> (SeriesCreated, SeriesUpdated) carrying series <s>. */
int webtoon_emit_series(struct store *st, const struct webtoon_series *s, const char *type);
/* Emits PagesChanged: <webtoon> now has <pages> pages. */
int webtoon_emit_pages(struct store *st, const char *webtoon, int64_t pages);

/* --- images (webtoon_media.c) ------------------------------------------------ */

/* The routes of covers and pages (docs/API.md). */
int webtoon_handle_cover_put(struct http_req *req);
int webtoon_handle_cover_get(struct http_req *req);
int webtoon_handle_pages_post(struct http_req *req);
int webtoon_handle_pages_put(struct http_req *req);
int webtoon_handle_page_get(struct http_req *req);
int webtoon_handle_page_delete(struct http_req *req);
/* Their body limits (the image size setting), for service_def.body_limits. */
const struct http_body_limit *webtoon_media_body_limits(const struct config *cfg);
int webtoon_media_open(struct service_ctx *ctx);
void webtoon_media_close(struct service_ctx *ctx);
/* The URLs of the pages of <w> at reading size, for <user> (with an access
 * capability when the episode is not free now), as a new JSON array. */
int webtoon_media_page_urls(struct http_req *req, struct store *st, const struct webtoon_item *w,
                            const char *user, bool free, json_t **out /* OUT */);

#endif
