/* Catalog rules: pure functions, no I/O. */
#include <stdio.h>
#include <string.h>

#include "core/base/rc.h"
#include "domain/users.h"
#include "core/json/jx.h"
#include "svc/webtoon/webtoon.h"

/* Copies <s> into <dst> when present. */
static void webtoon_set(char *dst, size_t len, const char *s)
{
    if (s)
        snprintf(dst, len, "%s", s);
}

int webtoon_read_fields(const json_t *body, bool partial, struct webtoon_item *w, char *detail,
                        size_t len)
{
    enum jx_presence need = partial ? JX_OPTIONAL : JX_REQUIRED;
    struct jx_reader r;
    jx_reader_init(&r, body);
    const char *title = jx_text(&r, "title", need, WEBTOON_TITLE_MAX);
    const char *author = jx_text(&r, "author", need, WEBTOON_AUTHOR_MAX);
    bool has_point = jx_has(&r, "point"), has_episode = jx_has(&r, "episode");
    int64_t point = jx_int(&r, "point", need, 0, WEBTOON_POINT_MAX);
    int64_t episode = jx_int(&r, "episode", need, 1, WEBTOON_EPISODE_MAX);
    const char *status = jx_str(&r, "status", JX_OPTIONAL, 16);
    if (status && strcmp(status, "published") != 0 && strcmp(status, "hidden") != 0)
        jx_fail(&r, RC_INVALID, "field 'status' must be \"published\" or \"hidden\"");
    if (r.rc) {
        snprintf(detail, len, "%s", r.detail);
        return r.rc;
    }
    webtoon_set(w->title, sizeof w->title, title);
    webtoon_set(w->author, sizeof w->author, author);
    if (has_point)
        w->point = point;
    if (has_episode)
        w->episode = episode;
    webtoon_set(w->status, sizeof w->status, status ? status : partial ? NULL : "published");
    return RC_OK;
}

enum webtoon_open webtoon_decide_open(const struct webtoon_item *w, bool owned)
{
    if (strcmp(w->status, "published") != 0)
        return WEBTOON_OPEN_HIDDEN;
    if (w->point == 0)
        return WEBTOON_OPEN_FREE;
    return owned ? WEBTOON_OPEN_OWNED : WEBTOON_OPEN_NOT_OWNED;
}

const char *webtoon_cancel_refusal(const struct webtoon_ownership *own, const char *purchase)
{
    if (!own->found || strcmp(own->purchase_id, purchase) != 0)
        return "the purchase does not own the episode";
    return own->read ? "the episode was already read" : NULL;
}
