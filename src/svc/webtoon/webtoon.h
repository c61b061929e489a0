/*
 * The webtoon service: the catalog (upload, update, list), and opening
 * episodes. It keeps its own view of who owns what (granted when the
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

struct webtoon_item {
    bool found;
    char webtoon_id[DOMAIN_ID_MAX + 1];
    char title[WEBTOON_TITLE_MAX * 4 + 1]; /* UTF-8: up to 4 bytes per character */
    char author[WEBTOON_AUTHOR_MAX * 4 + 1];
    int64_t point;   /* price in points; 0 = free */
    int64_t episode; /* 1.. */
    char status[16]; /* published, hidden */
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

enum webtoon_open {
    WEBTOON_OPEN_FREE,   /* approved: costs nothing */
    WEBTOON_OPEN_OWNED,  /* approved: bought */
    WEBTOON_OPEN_HIDDEN, /* refused: not published */
    WEBTOON_OPEN_NOT_OWNED,
};

/* What opening <w> means for a user who owns it or not. */
enum webtoon_open webtoon_decide_open(const struct webtoon_item *w, bool owned);

/* A user's hold on one episode. */
struct webtoon_ownership {
    bool found;           /* owned */
    char purchase_id[40]; /* the purchase that granted it */
    bool read;            /* opened since */
};

/* Why cancelling <purchase> cannot revoke the episode <own> describes (not
 * granted by that purchase, or already read), or NULL when it can. */
const char *webtoon_cancel_refusal(const struct webtoon_ownership *own, const char *purchase);

/* --- storage (webtoon_store.c) -------------------------------------------- */

extern const struct service_schema webtoon_schemas[];

int webtoon_store_get(struct store *st, const char *id, struct webtoon_item *out /* OUT */);
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
#define WEBTOON_COLUMNS "webtoon_id, title, author, point, episode, status"

/* --- event policies (webtoon_events.c) -------------------------------------- */

extern const struct inbox_handler webtoon_handlers[];

/* Emits <type> with <fields> (stolen, NULL: out of memory) keyed by <key>
 * (the user, or the webtoon for catalog events): every event of the
 * service goes out here. */
int webtoon_emit(struct store *st, const char *key, const char *type, json_t *fields);
/* Emits <type> carrying the catalog entry <w>. */
int webtoon_emit_item(struct store *st, const struct webtoon_item *w, const char *type);

#endif
