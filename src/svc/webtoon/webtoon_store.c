/*
 * SQL of the webtoon service: the catalog (series, their episodes and a
 * search index kept in the transaction of each series write), who owns
 * what, and reading progress.
 */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/rc.h"
#include "domain/users.h"
#include "svc/webtoon/webtoon.h"

static const struct store_migration webtoon_schema[] = {
    {1, "CREATE TABLE webtoons ("
        " webtoon_id TEXT PRIMARY KEY,"
        " title TEXT NOT NULL,"
        " author TEXT NOT NULL,"
        " point BIGINT NOT NULL CHECK (point >= 0),"
        " episode BIGINT NOT NULL CHECK (episode > 0),"
        " status TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "CREATE TABLE ownership ("
        " user_id TEXT NOT NULL,"
        " webtoon_id TEXT NOT NULL,"
        " purchase_id TEXT NOT NULL,"
        " is_read INTEGER NOT NULL DEFAULT 0,"
        " granted_at BIGINT NOT NULL,"
        " read_at BIGINT,"
        " PRIMARY KEY (user_id, webtoon_id));"},
    /* The catalog's version: every write to webtoons bumps it in its own
     * transaction, so a page made at an older version is never served
     * again, by any replica (see webtoon_store_catalog_version). */
    {2, "CREATE TABLE catalog_version ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " version BIGINT NOT NULL);"
        "INSERT INTO catalog_version (id, version) VALUES (1, 0);"},
    /* Series. Each existing episode goes into the series its id names
     * (webtoon_series_of_episode, spelled in SQL: rtrim takes the digits,
     * then the dash goes), made from its title and author. */
    {3, "CREATE TABLE series ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT," /* the search index's row id */
        " series_id TEXT NOT NULL UNIQUE,"
        " title TEXT NOT NULL,"
        " author TEXT NOT NULL,"
        " synopsis TEXT NOT NULL DEFAULT '',"
        " genres TEXT NOT NULL DEFAULT '',"
        " status TEXT NOT NULL DEFAULT 'ongoing',"
        " popularity BIGINT NOT NULL DEFAULT 0,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL);"
        "ALTER TABLE webtoons ADD COLUMN series_id TEXT;"
        "ALTER TABLE webtoons ADD COLUMN free_from BIGINT;"
        "ALTER TABLE webtoons ADD COLUMN pages BIGINT NOT NULL DEFAULT 0;"
        "UPDATE webtoons SET series_id = CASE"
        " WHEN length(rtrim(webtoon_id, '0123456789')) > 1"
        "  AND length(rtrim(webtoon_id, '0123456789')) < length(webtoon_id)"
        "  AND rtrim(webtoon_id, '0123456789') LIKE '%-'"
        " THEN substr(webtoon_id, 1, length(rtrim(webtoon_id, '0123456789')) - 1)"
        " ELSE webtoon_id END;"
        "INSERT INTO series (series_id, title, author, created_at, updated_at)"
        " SELECT series_id, MIN(title), MIN(author), MIN(created_at), MAX(updated_at)"
        " FROM webtoons GROUP BY series_id;"
        "UPDATE series SET popularity = (SELECT COUNT(*) FROM ownership o"
        " JOIN webtoons w ON w.webtoon_id = o.webtoon_id WHERE w.series_id = series.series_id);"
        "CREATE INDEX webtoons_series ON webtoons (series_id, episode);"
        "CREATE INDEX webtoons_free_from ON webtoons (free_from);"
        "CREATE TABLE progress ("
        " user_id TEXT NOT NULL,"
        " webtoon_id TEXT NOT NULL,"
        " page BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL,"
        " PRIMARY KEY (user_id, webtoon_id));"
        "CREATE INDEX progress_recent ON progress (user_id, updated_at);"},
    /* Search on title and author. SQLite: an FTS5 index over the series
     * table that triggers keep in each write's transaction. PostgreSQL: a
     * generated tsvector with a GIN index. Both tokenise the same way
     * ('simple': no stemming, case folded). */
    {4, STORE_SQL_BY_BACKEND(
            "CREATE VIRTUAL TABLE series_search USING fts5(title, author,"
            " content='series', content_rowid='seq', tokenize='unicode61 remove_diacritics 2');"
            "CREATE TRIGGER series_search_add AFTER INSERT ON series BEGIN"
            " INSERT INTO series_search (rowid, title, author)"
            " VALUES (new.seq, new.title, new.author); END;"
            "CREATE TRIGGER series_search_remove AFTER DELETE ON series BEGIN"
            " INSERT INTO series_search (series_search, rowid, title, author)"
            " VALUES ('delete', old.seq, old.title, old.author); END;"
            "CREATE TRIGGER series_search_change AFTER UPDATE OF title, author ON series BEGIN"
            " INSERT INTO series_search (series_search, rowid, title, author)"
            " VALUES ('delete', old.seq, old.title, old.author);"
            " INSERT INTO series_search (rowid, title, author)"
            " VALUES (new.seq, new.title, new.author); END;"
            "INSERT INTO series_search (series_search) VALUES ('rebuild');",
            "ALTER TABLE series ADD COLUMN search tsvector GENERATED ALWAYS AS"
            " (to_tsvector('simple', title || ' ' || author)) STORED;"
            "CREATE INDEX series_search ON series USING GIN (search);")},
    /* Images: each picture once (its variants' hashes are their ETags),
     * a series' cover and an episode's numbered pages pointing at one. */
    {5, "CREATE TABLE images ("
        " sha TEXT PRIMARY KEY,"
        " width BIGINT NOT NULL,"
        " height BIGINT NOT NULL,"
        " original_type TEXT NOT NULL,"
        " reading_sha TEXT NOT NULL,"
        " reading_type TEXT NOT NULL,"
        " thumb_sha TEXT NOT NULL,"
        " thumb_type TEXT NOT NULL,"
        " created_at BIGINT NOT NULL);"
        "ALTER TABLE series ADD COLUMN cover TEXT;"
        "CREATE TABLE pages ("
        " webtoon_id TEXT NOT NULL,"
        " number BIGINT NOT NULL,"
        " image TEXT NOT NULL,"
        " PRIMARY KEY (webtoon_id, number));"},
};

const struct service_schema webtoon_schemas[] = {
    {"webtoon", webtoon_schema, ARRAY_LEN(webtoon_schema)},
    {"users", domain_users_schema, DOMAIN_USERS_SCHEMA_STEPS},
    {"effects", domain_effects_schema, DOMAIN_EFFECTS_SCHEMA_STEPS},
    {0},
};

static void webtoon_read_row(const struct store_row *row, struct webtoon_item *w)
{
    w->found = true;
    snprintf(w->webtoon_id, sizeof w->webtoon_id, "%s", row->cols[0].s);
    snprintf(w->title, sizeof w->title, "%s", row->cols[1].s);
    snprintf(w->author, sizeof w->author, "%s", row->cols[2].s);
    w->point = row->cols[3].i;
    w->episode = row->cols[4].i;
    snprintf(w->status, sizeof w->status, "%s", row->cols[5].s);
    store_row_text(w->series_id, sizeof w->series_id, &row->cols[6]);
    w->free_from = store_row_int(&row->cols[7], -1);
    w->pages = store_row_int(&row->cols[8], 0);
}

static int webtoon_take(void *ud, const struct store_row *row)
{
    webtoon_read_row(row, ud);
    return 0;
}

int webtoon_store_get(struct store *st, const char *id, struct webtoon_item *out)
{
    *out = (struct webtoon_item){0};
    return store_exec(st, "SELECT " WEBTOON_COLUMNS " FROM webtoons WHERE webtoon_id = $1",
                      STORE_ARGS(STORE_TEXT(id)), webtoon_take, out, NULL);
}

/* Part of every write to the catalog, in its transaction. */
static int webtoon_store_bump_catalog(struct store *st)
{
    return store_exec(st, "UPDATE catalog_version SET version = version + 1 WHERE id = 1", NULL, 0,
                      NULL, NULL, NULL);
}

int webtoon_store_catalog_version(struct store *st, int64_t *version, bool *found)
{
    return store_query_int(st, "SELECT version FROM catalog_version WHERE id = 1", NULL, 0, version,
                           found);
}

/* The free_from column of <w>: NULL when never free by date. */
static struct store_val webtoon_free_from_val(const struct webtoon_item *w)
{
    return w->free_from >= 0 ? STORE_INT(w->free_from) : STORE_NULL;
}

int webtoon_store_insert(struct store *st, const struct webtoon_item *w, bool *created)
{
    int64_t n = 0;
    int rc = store_exec(
        st,
        "INSERT INTO webtoons (webtoon_id, title, author, point, episode, status,"
        " created_at, updated_at, series_id, free_from)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)"
        " ON CONFLICT (webtoon_id) DO NOTHING",
        STORE_ARGS(STORE_TEXT(w->webtoon_id), STORE_TEXT(w->title), STORE_TEXT(w->author),
                   STORE_INT(w->point), STORE_INT(w->episode), STORE_TEXT(w->status),
                   STORE_INT(clock_wall_ms()), STORE_TEXT(w->series_id), webtoon_free_from_val(w)),
        NULL, NULL, &n);
    *created = n == 1;
    return rc == RC_OK && *created ? webtoon_store_bump_catalog(st) : rc;
}

int webtoon_store_update(struct store *st, const struct webtoon_item *w)
{
    int rc = store_exec(
        st,
        "UPDATE webtoons SET title = $2, author = $3, point = $4, episode = $5,"
        " status = $6, updated_at = $7, series_id = $8, free_from = $9"
        " WHERE webtoon_id = $1",
        STORE_ARGS(STORE_TEXT(w->webtoon_id), STORE_TEXT(w->title), STORE_TEXT(w->author),
                   STORE_INT(w->point), STORE_INT(w->episode), STORE_TEXT(w->status),
                   STORE_INT(clock_wall_ms()), STORE_TEXT(w->series_id), webtoon_free_from_val(w)),
        NULL, NULL, NULL);
    return rc == RC_OK ? webtoon_store_bump_catalog(st) : rc;
}

static int webtoon_take_ownership(void *ud, const struct store_row *row)
{
    struct webtoon_ownership *o = ud;
    o->found = true;
    snprintf(o->purchase_id, sizeof o->purchase_id, "%s", row->cols[0].s);
    o->read = row->cols[1].i != 0;
    return 0;
}

int webtoon_store_ownership(struct store *st, const char *user, const char *webtoon,
                            struct webtoon_ownership *out)
{
    *out = (struct webtoon_ownership){0};
    return store_exec(st,
                      "SELECT purchase_id, is_read FROM ownership"
                      " WHERE user_id = $1 AND webtoon_id = $2",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon)), webtoon_take_ownership,
                      out, NULL);
}

int webtoon_store_grant(struct store *st, const char *user, const char *webtoon,
                        const char *purchase)
{
    return store_exec(st,
                      "INSERT INTO ownership (user_id, webtoon_id, purchase_id, granted_at)"
                      " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, webtoon_id) DO NOTHING",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon), STORE_TEXT(purchase),
                                 STORE_INT(clock_wall_ms())),
                      NULL, NULL, NULL);
}

int webtoon_store_mark_read(struct store *st, const char *user, const char *webtoon)
{
    return store_exec(st,
                      "UPDATE ownership SET is_read = 1, read_at = COALESCE(read_at, $3)"
                      " WHERE user_id = $1 AND webtoon_id = $2",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon), STORE_INT(clock_wall_ms())),
                      NULL, NULL, NULL);
}

int webtoon_store_revoke(struct store *st, const char *user, const char *webtoon)
{
    return store_exec(st, "DELETE FROM ownership WHERE user_id = $1 AND webtoon_id = $2",
                      STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon)), NULL, NULL, NULL);
}

static int webtoon_take_owned(void *ud, const struct store_row *row)
{
    json_t *item = json_pack("{s:s, s:s, s:b}", "webtoonId", row->cols[0].s, "purchaseId",
                             row->cols[1].s, "read", row->cols[2].i != 0);
    return item && json_array_append_new(ud, item) == 0 ? 0 : RC_NOMEM;
}

int webtoon_store_library(struct store *st, const char *user, json_t **out)
{
    *out = json_array();
    if (!*out)
        return RC_NOMEM;
    int rc = store_exec(st,
                        "SELECT webtoon_id, purchase_id, is_read FROM ownership WHERE user_id = $1"
                        " ORDER BY granted_at, webtoon_id LIMIT 1000",
                        STORE_ARGS(STORE_TEXT(user)), webtoon_take_owned, *out, NULL);
    if (rc != RC_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

json_t *webtoon_time_json(int64_t ms)
{
    char at[32];
    clock_format_rfc3339(ms, at, sizeof at);
    return json_string(at);
}

/* Adds `_links.<name>.href` = <href> to <item> (NULL: nothing); returns <item>. */
static json_t *webtoon_with_link(json_t *item, const char *name, const char *href)
{
    json_t *links = json_object_get(item, "_links");
    if (links)
        json_object_set_new(links, name, json_pack("{s:s}", "href", href));
    return item;
}

json_t *webtoon_json(const struct webtoon_item *w)
{
    json_t *item =
        hal_with_self(json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I}", "webtoonId",
                                w->webtoon_id, "title", w->title, "author", w->author, "point",
                                (json_int_t)w->point, "episode", (json_int_t)w->episode, "status",
                                w->status, "seriesId", w->series_id, "pages", (json_int_t)w->pages),
                      "/webtoons/%s", w->webtoon_id);
    if (item && w->free_from >= 0)
        json_object_set_new(item, "freeFrom", webtoon_time_json(w->free_from));
    char href[96];
    snprintf(href, sizeof href, "/series/%s", w->series_id);
    return webtoon_with_link(item, "series", href);
}

json_t *webtoon_item_of_row(const struct store_row *row)
{
    struct webtoon_item w;
    webtoon_read_row(row, &w);
    return webtoon_json(&w);
}

/* --- series ------------------------------------------------------------------ */

/* A series with what its episodes say at $1 (now, ms): columns 0-10. */
#define WEBTOON_SERIES_SELECT                                                                      \
    "SELECT s.series_id, s.title, s.author, s.synopsis, s.genres, s.status, s.popularity,"         \
    " s.created_at,"                                                                               \
    " (SELECT COUNT(*) FROM webtoons w WHERE w.series_id = s.series_id"                            \
    "  AND w.status = 'published'),"                                                               \
    " (SELECT COUNT(*) FROM webtoons w WHERE w.series_id = s.series_id"                            \
    "  AND w.status = 'published' AND (w.point = 0 OR w.free_from <= $1)),"                        \
    " (SELECT MAX(w.created_at) FROM webtoons w WHERE w.series_id = s.series_id"                   \
    "  AND w.status = 'published'),"                                                               \
    " i.sha, i.reading_sha, i.thumb_sha"                                                           \
    " FROM series s LEFT JOIN images i ON i.sha = s.cover"

static void webtoon_read_series_row(const struct store_row *row, struct webtoon_series *s)
{
    s->found = true;
    store_row_text(s->series_id, sizeof s->series_id, &row->cols[0]);
    store_row_text(s->title, sizeof s->title, &row->cols[1]);
    store_row_text(s->author, sizeof s->author, &row->cols[2]);
    store_row_text(s->synopsis, sizeof s->synopsis, &row->cols[3]);
    store_row_text(s->genres, sizeof s->genres, &row->cols[4]);
    store_row_text(s->status, sizeof s->status, &row->cols[5]);
    s->popularity = store_row_int(&row->cols[6], 0);
    s->created_at = store_row_int(&row->cols[7], 0);
    s->episodes = store_row_int(&row->cols[8], 0);
    s->free_episodes = store_row_int(&row->cols[9], 0);
    s->latest_episode_at = store_row_int(&row->cols[10], -1);
    s->cover.found = row->cols[11].type == STORE_T_TEXT;
    store_row_text(s->cover.sha, sizeof s->cover.sha, &row->cols[11]);
    store_row_text(s->cover.reading_sha, sizeof s->cover.reading_sha, &row->cols[12]);
    store_row_text(s->cover.thumb_sha, sizeof s->cover.thumb_sha, &row->cols[13]);
}

static int webtoon_take_series(void *ud, const struct store_row *row)
{
    webtoon_read_series_row(row, ud);
    return 0;
}

int webtoon_store_series_get(struct store *st, const char *id, int64_t now,
                             struct webtoon_series *out)
{
    *out = (struct webtoon_series){0};
    return store_exec(st, WEBTOON_SERIES_SELECT " WHERE s.series_id = $2",
                      STORE_ARGS(STORE_INT(now), STORE_TEXT(id)), webtoon_take_series, out, NULL);
}

int webtoon_store_series_insert(struct store *st, const struct webtoon_series *s, bool *created)
{
    int64_t n = 0;
    int rc =
        store_exec(st,
                   "INSERT INTO series (series_id, title, author, synopsis, genres, status,"
                   " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                   " ON CONFLICT (series_id) DO NOTHING",
                   STORE_ARGS(STORE_TEXT(s->series_id), STORE_TEXT(s->title), STORE_TEXT(s->author),
                              STORE_TEXT(s->synopsis), STORE_TEXT(s->genres), STORE_TEXT(s->status),
                              STORE_INT(clock_wall_ms())),
                   NULL, NULL, &n);
    *created = n == 1;
    return rc == RC_OK && *created ? webtoon_store_bump_catalog(st) : rc;
}

int webtoon_store_series_update(struct store *st, const struct webtoon_series *s)
{
    int rc =
        store_exec(st,
                   "UPDATE series SET title = $2, author = $3, synopsis = $4, genres = $5,"
                   " status = $6, updated_at = $7 WHERE series_id = $1",
                   STORE_ARGS(STORE_TEXT(s->series_id), STORE_TEXT(s->title), STORE_TEXT(s->author),
                              STORE_TEXT(s->synopsis), STORE_TEXT(s->genres), STORE_TEXT(s->status),
                              STORE_INT(clock_wall_ms())),
                   NULL, NULL, NULL);
    return rc == RC_OK ? webtoon_store_bump_catalog(st) : rc;
}

int webtoon_store_count_popularity(struct store *st, const char *series)
{
    return store_exec(st, "UPDATE series SET popularity = popularity + 1 WHERE series_id = $1",
                      STORE_ARGS(STORE_TEXT(series)), NULL, NULL, NULL);
}

struct webtoon_text_out {
    char *text;
    size_t len;
};

static int webtoon_take_freshness(void *ud, const struct store_row *row)
{
    struct webtoon_text_out *out = ud;
    snprintf(out->text, out->len, "free=%lld;popularity=%lld",
             (long long)store_row_int(&row->cols[0], 0),
             (long long)store_row_int(&row->cols[1], 0));
    return 0;
}

int webtoon_store_series_freshness(struct store *st, int64_t now, char *out, size_t len)
{
    struct webtoon_text_out text = {out, len};
    out[0] = '\0';
    return store_exec(st,
                      "SELECT (SELECT COUNT(*) FROM webtoons WHERE free_from <= $1),"
                      " (SELECT COALESCE(SUM(popularity), 0) FROM series)",
                      STORE_ARGS(STORE_INT(now)), webtoon_take_freshness, &text, NULL);
}

json_t *webtoon_series_json(const struct webtoon_series *s)
{
    json_t *genres = json_array();
    char list[sizeof s->genres];
    snprintf(list, sizeof list, "%s", s->genres);
    for (char *g = list, *comma; genres && *g; g = comma ? comma + 1 : g + strlen(g)) {
        if ((comma = strchr(g, ',')))
            *comma = '\0';
        json_array_append_new(genres, json_string(g));
    }
    json_t *item = hal_with_self(
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:o}", "seriesId", s->series_id,
                  "title", s->title, "author", s->author, "synopsis", s->synopsis, "genres",
                  genres ? genres : json_array(), "status", s->status, "episodes",
                  (json_int_t)s->episodes, "freeEpisodes", (json_int_t)s->free_episodes,
                  "popularity", (json_int_t)s->popularity, "createdAt",
                  webtoon_time_json(s->created_at)),
        "/series/%s", s->series_id);
    if (item && s->latest_episode_at >= 0)
        json_object_set_new(item, "latestEpisodeAt", webtoon_time_json(s->latest_episode_at));
    char href[192];
    snprintf(href, sizeof href, "/series/%s/episodes", s->series_id);
    webtoon_with_link(item, "episodes", href);
    if (s->cover.found) {
        snprintf(href, sizeof href, "/series/%s/cover?v=%s", s->series_id, s->cover.reading_sha);
        webtoon_with_link(item, "cover", href);
        snprintf(href, sizeof href, "/series/%s/cover?size=thumb&v=%s", s->series_id,
                 s->cover.thumb_sha);
        webtoon_with_link(item, "thumbnail", href);
    }
    return item;
}

static json_t *webtoon_series_of_row(const struct store_row *row)
{
    struct webtoon_series s;
    webtoon_read_series_row(row, &s);
    return webtoon_series_json(&s);
}

/* $2 the match expression, $3 genre, $4 status: each NULL for any. Every
 * parameter is used (PostgreSQL must learn each one's type), $1 too. */
#define WEBTOON_SERIES_WHERE(match)                                                                \
    " WHERE $1 >= 0 AND (CAST($2 AS TEXT) IS NULL OR " match ")"                                   \
    " AND (CAST($3 AS TEXT) IS NULL"                                                               \
    "  OR (',' || s.genres || ',') LIKE ('%,' || CAST($3 AS TEXT) || ',%'))"                       \
    " AND (CAST($4 AS TEXT) IS NULL OR s.status = CAST($4 AS TEXT))"
#define WEBTOON_MATCH_SQLITE                                                                       \
    "s.seq IN (SELECT rowid FROM series_search WHERE series_search MATCH CAST($2 AS TEXT))"
#define WEBTOON_MATCH_PG "s.search @@ to_tsquery('simple', CAST($2 AS TEXT))"

/* The ORDER BY of each sort, and of both engines' queries. */
#define WEBTOON_SERIES_SORTS(X, match)                                                             \
    X(new, match,                                                                                  \
      " ORDER BY COALESCE((SELECT MAX(w.created_at) FROM webtoons w"                               \
      " WHERE w.series_id = s.series_id AND w.status = 'published'), s.created_at) DESC,"          \
      " s.series_id")                                                                              \
    X(popular, match, " ORDER BY s.popularity DESC, lower(s.title), s.series_id")                  \
    X(title, match, " ORDER BY lower(s.title), s.series_id")
#define WEBTOON__SERIES_SQL(name, match, order)                                                    \
    {#name, WEBTOON_SERIES_SELECT WEBTOON_SERIES_WHERE(match) order " LIMIT $5 OFFSET $6"},

struct webtoon_series_sql {
    const char *sort;
    const char *select;
};
static const struct webtoon_series_sql webtoon_series_sqlite[] = {
    WEBTOON_SERIES_SORTS(WEBTOON__SERIES_SQL, WEBTOON_MATCH_SQLITE){0}};
static const struct webtoon_series_sql webtoon_series_pg[] = {
    WEBTOON_SERIES_SORTS(WEBTOON__SERIES_SQL, WEBTOON_MATCH_PG){0}};

int webtoon_store_series_page(struct store *st, const struct webtoon_series_filter *f,
                              const struct hal_page *page, json_t **out)
{
    bool pg = store_is_postgres(st);
    const struct webtoon_series_sql *sql = pg ? webtoon_series_pg : webtoon_series_sqlite;
    while (sql->sort && strcmp(sql->sort, f->sort) != 0)
        sql++;
    BUG_ON(!sql->sort); /* the route checked the sort */
    const char *count =
        pg ? "SELECT COUNT(*) FROM series s" WEBTOON_SERIES_WHERE(WEBTOON_MATCH_PG)
           : "SELECT COUNT(*) FROM series s" WEBTOON_SERIES_WHERE(WEBTOON_MATCH_SQLITE);
    return hal_query_collection(st, count, sql->select,
                                STORE_ARGS(STORE_INT(f->now), STORE_TEXT_OR_NULL(f->match),
                                           STORE_TEXT_OR_NULL(f->genre),
                                           STORE_TEXT_OR_NULL(f->status)),
                                webtoon_series_of_row, "series", page, "/series", f->query, out);
}

int webtoon_store_episodes_page(struct store *st, const char *series, bool all,
                                const struct hal_page *page, json_t **out)
{
    char path[96];
    snprintf(path, sizeof path, "/series/%s/episodes", series);
    /* $2: the status shown besides published ones (admins see hidden ones). */
    const char *also = all ? "hidden" : "published";
    return hal_query_collection(st,
                                "SELECT COUNT(*) FROM webtoons WHERE series_id = $1"
                                " AND (status = 'published' OR status = CAST($2 AS TEXT))",
                                "SELECT " WEBTOON_COLUMNS " FROM webtoons WHERE series_id = $1"
                                " AND (status = 'published' OR status = CAST($2 AS TEXT))"
                                " ORDER BY episode, webtoon_id LIMIT $3 OFFSET $4",
                                STORE_ARGS(STORE_TEXT(series), STORE_TEXT(also)),
                                webtoon_item_of_row, "episodes", page, path, NULL, out);
}

/* Copies the one text column of a row into <ud> (DOMAIN_ID_MAX + 1). */
static int webtoon_take_id(void *ud, const struct store_row *row)
{
    store_row_text(ud, DOMAIN_ID_MAX + 1, &row->cols[0]);
    return 0;
}

int webtoon_store_neighbours(struct store *st, const struct webtoon_item *w, char *prev, char *next)
{
    prev[0] = next[0] = '\0';
    int rc = store_exec(
        st,
        "SELECT webtoon_id FROM webtoons WHERE series_id = $1"
        " AND status = 'published' AND (episode < $2"
        " OR (episode = $2 AND webtoon_id < $3))"
        " ORDER BY episode DESC, webtoon_id DESC LIMIT 1",
        STORE_ARGS(STORE_TEXT(w->series_id), STORE_INT(w->episode), STORE_TEXT(w->webtoon_id)),
        webtoon_take_id, prev, NULL);
    if (rc == RC_OK)
        rc = store_exec(
            st,
            "SELECT webtoon_id FROM webtoons WHERE series_id = $1"
            " AND status = 'published' AND (episode > $2"
            " OR (episode = $2 AND webtoon_id > $3))"
            " ORDER BY episode, webtoon_id LIMIT 1",
            STORE_ARGS(STORE_TEXT(w->series_id), STORE_INT(w->episode), STORE_TEXT(w->webtoon_id)),
            webtoon_take_id, next, NULL);
    return rc;
}

/* --- reading progress ---------------------------------------------------------- */

static int webtoon_take_progress(void *ud, const struct store_row *row)
{
    int64_t *out = ud;
    out[0] = store_row_int(&row->cols[0], 0);
    out[1] = store_row_int(&row->cols[1], 0);
    return 0;
}

int webtoon_store_progress_get(struct store *st, const char *user, const char *webtoon,
                               int64_t *page, int64_t *updated_at)
{
    int64_t found[2] = {0, 0};
    int rc = store_exec(st,
                        "SELECT page, updated_at FROM progress WHERE user_id = $1"
                        " AND webtoon_id = $2",
                        STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon)), webtoon_take_progress,
                        found, NULL);
    *page = found[0];
    *updated_at = found[1];
    return rc;
}

int webtoon_store_progress_put(struct store *st, const char *user, const char *webtoon,
                               int64_t page, int64_t updated_at)
{
    return store_exec(
        st,
        "INSERT INTO progress (user_id, webtoon_id, page, updated_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, webtoon_id)"
        " DO UPDATE SET page = excluded.page, updated_at = excluded.updated_at",
        STORE_ARGS(STORE_TEXT(user), STORE_TEXT(webtoon), STORE_INT(page), STORE_INT(updated_at)),
        NULL, NULL, NULL);
}

static int webtoon_take_continue(void *ud, const struct store_row *row)
{
    json_t *item = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "webtoonId", row->cols[0].s,
                             "seriesId", row->cols[1].type == STORE_T_TEXT ? row->cols[1].s : "",
                             "title", row->cols[2].s, "episode", (json_int_t)row->cols[3].i, "page",
                             (json_int_t)row->cols[4].i, "pages", (json_int_t)row->cols[5].i,
                             "updatedAt", webtoon_time_json(row->cols[6].i));
    return item && json_array_append_new(ud, item) == 0 ? 0 : RC_NOMEM;
}

int webtoon_store_continue_reading(struct store *st, const char *user, json_t **out)
{
    *out = json_array();
    if (!*out)
        return RC_NOMEM;
    int rc = store_exec(st,
                        "SELECT p.webtoon_id, w.series_id, w.title, w.episode, p.page, w.pages,"
                        " p.updated_at FROM progress p JOIN webtoons w"
                        " ON w.webtoon_id = p.webtoon_id WHERE p.user_id = $1"
                        " ORDER BY p.updated_at DESC, p.webtoon_id LIMIT $2",
                        STORE_ARGS(STORE_TEXT(user), STORE_INT(WEBTOON_CONTINUE_MAX)),
                        webtoon_take_continue, *out, NULL);
    if (rc != RC_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* --- images ---------------------------------------------------------------------- */

#define WEBTOON_IMAGE_COLUMNS                                                                      \
    "i.sha, i.width, i.height, i.original_type, i.reading_sha, i.reading_type, i.thumb_sha,"       \
    " i.thumb_type"

static int webtoon_take_image(void *ud, const struct store_row *row)
{
    struct webtoon_image *img = ud;
    img->found = true;
    store_row_text(img->sha, sizeof img->sha, &row->cols[0]);
    img->width = store_row_int(&row->cols[1], 0);
    img->height = store_row_int(&row->cols[2], 0);
    store_row_text(img->original_type, sizeof img->original_type, &row->cols[3]);
    store_row_text(img->reading_sha, sizeof img->reading_sha, &row->cols[4]);
    store_row_text(img->reading_type, sizeof img->reading_type, &row->cols[5]);
    store_row_text(img->thumb_sha, sizeof img->thumb_sha, &row->cols[6]);
    store_row_text(img->thumb_type, sizeof img->thumb_type, &row->cols[7]);
    return 0;
}

int webtoon_store_image_put(struct store *st, const struct webtoon_image *img)
{
    return store_exec(st,
                      "INSERT INTO images (sha, width, height, original_type, reading_sha,"
                      " reading_type, thumb_sha, thumb_type, created_at)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (sha) DO NOTHING",
                      STORE_ARGS(STORE_TEXT(img->sha), STORE_INT(img->width),
                                 STORE_INT(img->height), STORE_TEXT(img->original_type),
                                 STORE_TEXT(img->reading_sha), STORE_TEXT(img->reading_type),
                                 STORE_TEXT(img->thumb_sha), STORE_TEXT(img->thumb_type),
                                 STORE_INT(clock_wall_ms())),
                      NULL, NULL, NULL);
}

int webtoon_store_image_get(struct store *st, const char *sha, struct webtoon_image *out)
{
    *out = (struct webtoon_image){0};
    return store_exec(st, "SELECT " WEBTOON_IMAGE_COLUMNS " FROM images i WHERE i.sha = $1",
                      STORE_ARGS(STORE_TEXT(sha)), webtoon_take_image, out, NULL);
}

int webtoon_store_cover_set(struct store *st, const char *series, const char *sha)
{
    int rc = store_exec(st, "UPDATE series SET cover = $2, updated_at = $3 WHERE series_id = $1",
                        STORE_ARGS(STORE_TEXT(series), STORE_TEXT(sha), STORE_INT(clock_wall_ms())),
                        NULL, NULL, NULL);
    return rc == RC_OK ? webtoon_store_bump_catalog(st) : rc;
}

int webtoon_store_cover_get(struct store *st, const char *series, struct webtoon_image *out)
{
    *out = (struct webtoon_image){0};
    return store_exec(st,
                      "SELECT " WEBTOON_IMAGE_COLUMNS " FROM series s JOIN images i"
                      " ON i.sha = s.cover WHERE s.series_id = $1",
                      STORE_ARGS(STORE_TEXT(series)), webtoon_take_image, out, NULL);
}

/* Keeps webtoons.pages, which episode answers show, equal to the count. */
static int webtoon_store_count_pages(struct store *st, const char *webtoon)
{
    int rc = store_exec(st,
                        "UPDATE webtoons SET pages = (SELECT COUNT(*) FROM pages"
                        " WHERE webtoon_id = $1) WHERE webtoon_id = $1",
                        STORE_ARGS(STORE_TEXT(webtoon)), NULL, NULL, NULL);
    return rc == RC_OK ? webtoon_store_bump_catalog(st) : rc;
}

int webtoon_store_page_add(struct store *st, const char *webtoon, const char *sha, int64_t *number)
{
    bool found;
    int rc = store_query_int(st, "SELECT COUNT(*) FROM pages WHERE webtoon_id = $1",
                             STORE_ARGS(STORE_TEXT(webtoon)), number, &found);
    *number += 1;
    if (rc == RC_OK && *number > WEBTOON_PAGE_MAX)
        return RC_INVALID_STATE;
    if (rc == RC_OK)
        rc = store_exec(st, "INSERT INTO pages (webtoon_id, number, image) VALUES ($1, $2, $3)",
                        STORE_ARGS(STORE_TEXT(webtoon), STORE_INT(*number), STORE_TEXT(sha)), NULL,
                        NULL, NULL);
    return rc == RC_OK ? webtoon_store_count_pages(st, webtoon) : rc;
}

int webtoon_store_page_get(struct store *st, const char *webtoon, int64_t number,
                           struct webtoon_image *out)
{
    *out = (struct webtoon_image){0};
    return store_exec(st,
                      "SELECT " WEBTOON_IMAGE_COLUMNS " FROM pages p JOIN images i"
                      " ON i.sha = p.image WHERE p.webtoon_id = $1 AND p.number = $2",
                      STORE_ARGS(STORE_TEXT(webtoon), STORE_INT(number)), webtoon_take_image, out,
                      NULL);
}

int webtoon_store_pages_reorder(struct store *st, const char *webtoon, const int64_t *order,
                                int64_t n)
{
    /* Out of the way first (negative numbers), then to their new places,
     * so the primary key never sees two pages with one number. */
    int rc = store_exec(st, "UPDATE pages SET number = -number WHERE webtoon_id = $1",
                        STORE_ARGS(STORE_TEXT(webtoon)), NULL, NULL, NULL);
    for (int64_t i = 0; rc == RC_OK && i < n; i++)
        rc = store_exec(st, "UPDATE pages SET number = $3 WHERE webtoon_id = $1 AND number = $2",
                        STORE_ARGS(STORE_TEXT(webtoon), STORE_INT(-order[i]), STORE_INT(i + 1)),
                        NULL, NULL, NULL);
    return rc == RC_OK ? webtoon_store_bump_catalog(st) : rc;
}

int webtoon_store_page_delete(struct store *st, const char *webtoon, int64_t number, bool *found)
{
    int64_t n = 0;
    int rc = store_exec(st, "DELETE FROM pages WHERE webtoon_id = $1 AND number = $2",
                        STORE_ARGS(STORE_TEXT(webtoon), STORE_INT(number)), NULL, NULL, &n);
    *found = n == 1;
    if (rc != RC_OK || !*found)
        return rc;
    /* Later pages move up one, in two steps for the primary key's sake. */
    rc = store_exec(st,
                    "UPDATE pages SET number = -(number - 1) WHERE webtoon_id = $1 AND number > $2",
                    STORE_ARGS(STORE_TEXT(webtoon), STORE_INT(number)), NULL, NULL, NULL);
    if (rc == RC_OK)
        rc =
            store_exec(st, "UPDATE pages SET number = -number WHERE webtoon_id = $1 AND number < 0",
                       STORE_ARGS(STORE_TEXT(webtoon)), NULL, NULL, NULL);
    return rc == RC_OK ? webtoon_store_count_pages(st, webtoon) : rc;
}

struct webtoon_pages_out {
    const char *webtoon;
    json_t *items;
};

static int webtoon_take_page(void *ud, const struct store_row *row)
{
    struct webtoon_pages_out *out = ud;
    struct webtoon_image img = {0};
    webtoon_take_image(&img, &(struct store_row){row->ncols - 1, row->cols + 1});
    json_t *item = webtoon_page_json(out->webtoon, row->cols[0].i, &img);
    return item && json_array_append_new(out->items, item) == 0 ? 0 : RC_NOMEM;
}

int webtoon_store_pages(struct store *st, const char *webtoon, json_t **out)
{
    struct webtoon_pages_out pages = {webtoon, json_array()};
    *out = NULL;
    if (!pages.items)
        return RC_NOMEM;
    int rc = store_exec(st,
                        "SELECT p.number, " WEBTOON_IMAGE_COLUMNS " FROM pages p JOIN images i"
                        " ON i.sha = p.image WHERE p.webtoon_id = $1 ORDER BY p.number",
                        STORE_ARGS(STORE_TEXT(webtoon)), webtoon_take_page, &pages, NULL);
    if (rc != RC_OK)
        json_decref(pages.items);
    else
        *out = pages.items;
    return rc;
}

json_t *webtoon_page_json(const char *webtoon, int64_t number, const struct webtoon_image *img)
{
    char self[160], reading[240], thumb[240];
    snprintf(self, sizeof self, "/webtoons/%s/pages/%lld", webtoon, (long long)number);
    snprintf(reading, sizeof reading, "%s?size=reading&v=%s", self, img->reading_sha);
    snprintf(thumb, sizeof thumb, "%s?size=thumb&v=%s", self, img->thumb_sha);
    return json_pack("{s:s, s:I, s:I, s:I, s:{s:{s:s}, s:{s:s}, s:{s:s}}}", "webtoonId", webtoon,
                     "number", (json_int_t)number, "width", (json_int_t)img->width, "height",
                     (json_int_t)img->height, "_links", "self", "href", self, "reading", "href",
                     reading, "thumbnail", "href", thumb);
}
