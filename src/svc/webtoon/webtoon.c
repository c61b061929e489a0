/* Catalog rules: pure functions, no I/O. */
#define _DEFAULT_SOURCE /* timegm */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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

const char *const webtoon_genres[] = {
    "action", "comedy",        "drama",  "fantasy",  "horror", "romance",
    "sci-fi", "slice-of-life", "sports", "thriller", NULL,
};

bool webtoon_genre_is_valid(const char *genre)
{
    for (size_t i = 0; webtoon_genres[i]; i++)
        if (!strcmp(genre, webtoon_genres[i]))
            return true;
    return false;
}

bool webtoon_series_status_is_valid(const char *status)
{
    return !strcmp(status, "ongoing") || !strcmp(status, "completed") || !strcmp(status, "hiatus");
}

/* Reads the genres array of <r> into <out> as a comma-separated list in
 * webtoon_genres order (so a genre listed twice counts once). */
static void webtoon_read_genres(struct jx_reader *r, const json_t *genres, char *out, size_t len)
{
    if (!json_is_array(genres) || json_array_size(genres) > WEBTOON_GENRES_MAX) {
        jx_fail(r, RC_INVALID, "field 'genres' must be an array of at most %d genres",
                WEBTOON_GENRES_MAX);
        return;
    }
    bool listed[sizeof webtoon_genres / sizeof webtoon_genres[0]] = {0};
    size_t i;
    json_t *g;
    json_array_foreach(genres, i, g)
    {
        const char *name = json_string_value(g);
        size_t k = 0;
        while (name && webtoon_genres[k] && strcmp(name, webtoon_genres[k]) != 0)
            k++;
        if (!name || !webtoon_genres[k]) {
            jx_fail(r, RC_INVALID,
                    "field 'genres' may list only action, comedy, drama, fantasy, horror, "
                    "romance, sci-fi, slice-of-life, sports, thriller");
            return;
        }
        listed[k] = true;
    }
    size_t used = 0;
    out[0] = '\0';
    for (size_t k = 0; webtoon_genres[k]; k++)
        if (listed[k])
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "",
                                     webtoon_genres[k]);
}

int webtoon_read_series_fields(const json_t *body, bool partial, struct webtoon_series *s,
                               char *detail, size_t len)
{
    enum jx_presence need = partial ? JX_OPTIONAL : JX_REQUIRED;
    struct jx_reader r;
    jx_reader_init(&r, body);
    const char *title = jx_text(&r, "title", need, WEBTOON_TITLE_MAX);
    const char *author = jx_text(&r, "author", need, WEBTOON_AUTHOR_MAX);
    /* jx_text wants one character at least; a synopsis may be empty. */
    const json_t *synopsis_v = json_object_get(body, "synopsis");
    bool empty_synopsis = json_is_string(synopsis_v) && json_string_length(synopsis_v) == 0;
    const char *synopsis =
        empty_synopsis ? "" : jx_text(&r, "synopsis", JX_OPTIONAL, WEBTOON_SYNOPSIS_MAX);
    const char *status = jx_str(&r, "status", JX_OPTIONAL, 16);
    if (status && !webtoon_series_status_is_valid(status))
        jx_fail(&r, RC_INVALID, "field 'status' must be \"ongoing\", \"completed\" or \"hiatus\"");
    char genres[sizeof s->genres];
    const json_t *genres_v = json_object_get(body, "genres");
    if (genres_v && !r.rc)
        webtoon_read_genres(&r, genres_v, genres, sizeof genres);
    if (r.rc) {
        snprintf(detail, len, "%s", r.detail);
        return r.rc;
    }
    webtoon_set(s->title, sizeof s->title, title);
    webtoon_set(s->author, sizeof s->author, author);
    webtoon_set(s->synopsis, sizeof s->synopsis, synopsis ? synopsis : partial ? NULL : "");
    webtoon_set(s->genres, sizeof s->genres, genres_v ? genres : partial ? NULL : "");
    webtoon_set(s->status, sizeof s->status, status ? status : partial ? NULL : "ongoing");
    return RC_OK;
}

void webtoon_series_of_episode(const char *webtoon_id, char *out, size_t len)
{
    size_t n = strlen(webtoon_id), digits = 0;
    while (digits < n && webtoon_id[n - 1 - digits] >= '0' && webtoon_id[n - 1 - digits] <= '9')
        digits++;
    snprintf(out, len, "%s", webtoon_id);
    if (digits == 0 || digits + 1 >= n || webtoon_id[n - 1 - digits] != '-')
        return;
    out[n - 1 - digits] = '\0';
    if (!domain_id_is_valid(out))
        snprintf(out, len, "%s", webtoon_id);
}

#define WEBTOON_TIME_MAX_MS 253402300799999 /* 9999-12-31T23:59:59.999Z */

static int webtoon_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

bool webtoon_parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int used = 0;
    char t = 0;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &t,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 7 ||
        used != 19 || (t != 'T' && t != 't') || s[4] != '-' || s[7] != '-' || tm.tm_mon < 1 ||
        tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return false;
    for (int i = 0; i < 19; i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !(s[i] >= '0' && s[i] <= '9'))
            return false; /* sscanf took a sign or a space */
    const char *p = s + used;
    int64_t frac = 0, scale = 1000;
    if (*p == '.') {
        if (!(p[1] >= '0' && p[1] <= '9'))
            return false;
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (scale > 1)
                frac += (*p - '0') * (scale /= 10);
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (strlen(p) != 6 || p[3] != ':' || !(p[1] >= '0' && p[1] <= '2') ||
            !(p[2] >= '0' && p[2] <= '9') || !(p[4] >= '0' && p[4] <= '5') ||
            !(p[5] >= '0' && p[5] <= '9'))
            return false;
        int oh = (p[1] - '0') * 10 + (p[2] - '0'), om = (p[4] - '0') * 10 + (p[5] - '0');
        if (oh > 23)
            return false;
        offset = (*p == '-' ? -1 : 1) * ((int64_t)oh * 3600 + om * 60);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    if (tm.tm_mday > webtoon_days_in_month(tm.tm_year, tm.tm_mon))
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t secs = timegm(&tm); /* a leap second (:60) is the next one */
    int64_t at = ((int64_t)secs - offset) * 1000 + frac;
    if (at > WEBTOON_TIME_MAX_MS) /* an offset pushed it past year 9999: not printable */
        return false;
    *ms = at < 0 ? 0 : at;
    return true;
}

bool webtoon_is_free_now(const struct webtoon_item *w, int64_t now)
{
    return w->point == 0 || (w->free_from >= 0 && w->free_from <= now);
}

/* Reads the optional freeFrom of an episode: absent leaves <free_from>
 * alone (jx_only refused a null: PUT without it clears it). */
static void webtoon_read_free_from(struct jx_reader *r, const json_t *body, int64_t *free_from)
{
    const json_t *v = json_object_get(body, "freeFrom");
    int64_t ms;
    if (!v || r->rc)
        return;
    if (json_is_string(v) && webtoon_parse_time(json_string_value(v), &ms))
        *free_from = ms;
    else
        jx_fail(r, RC_INVALID,
                "field 'freeFrom' must be an RFC 3339 date-time such as "
                "\"2026-12-24T00:00:00Z\"");
}

int webtoon_read_fields(const json_t *body, bool partial, struct webtoon_item *w, char *detail,
                        size_t len)
{
    enum jx_presence need = partial ? JX_OPTIONAL : JX_REQUIRED;
    struct jx_reader r;
    jx_reader_init(&r, body);
    const char *series = jx_id(&r, "seriesId", JX_OPTIONAL, DOMAIN_ID_MAX);
    int64_t free_from = partial ? w->free_from : -1;
    webtoon_read_free_from(&r, body, &free_from);
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
    webtoon_set(w->series_id, sizeof w->series_id, series);
    w->free_from = free_from;
    webtoon_set(w->status, sizeof w->status, status ? status : partial ? NULL : "published");
    return RC_OK;
}

enum webtoon_open webtoon_decide_open(const struct webtoon_item *w, bool owned, int64_t now)
{
    if (strcmp(w->status, "published") != 0)
        return WEBTOON_OPEN_HIDDEN;
    if (webtoon_is_free_now(w, now))
        return WEBTOON_OPEN_FREE;
    return owned ? WEBTOON_OPEN_OWNED : WEBTOON_OPEN_NOT_OWNED;
}

const char *webtoon_cancel_refusal(const struct webtoon_ownership *own, const char *purchase)
{
    if (!own->found || strcmp(own->purchase_id, purchase) != 0)
        return "the purchase does not own the episode";
    return own->read ? "the episode was already read" : NULL;
}

/* Length of the well-formed UTF-8 sequence beyond ASCII at <p> (0: not
 * one): no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t webtoon_utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) || (c == 0xF0 && p[1] < 0x90) ||
        (c == 0xF4 && p[1] > 0x8F))
        return 0;
    return n;
}

/* Length of the word character at <p>: an ASCII letter or digit, or a
 * well-formed UTF-8 character beyond ASCII; 0: a separator. */
static size_t webtoon_word_char(const unsigned char *p)
{
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
        return 1;
    return *p >= 0x80 ? webtoon_utf8_len(p) : 0;
}

void webtoon_search_parse(const char *q, struct webtoon_search *out)
{
    out->n = 0;
    const unsigned char *p = (const unsigned char *)(q ? q : "");
    while (*p && out->n < WEBTOON_QUERY_WORDS) {
        size_t c = webtoon_word_char(p);
        if (!c) {
            p++;
            continue;
        }
        char *word = out->words[out->n++];
        size_t used = 0;
        for (; c; p += c, c = webtoon_word_char(p)) {
            if (used + c <= WEBTOON_QUERY_WORD_MAX) {
                memcpy(word + used, p, c);
                used += c;
            }
        }
        word[used] = '\0';
    }
}

void webtoon_search_expr(const struct webtoon_search *s, bool postgres, char *out, size_t len)
{
    /* Words hold no quote, so quoting each makes it a plain term of either
     * syntax (FTS5: "word", the last "word"*; tsquery: 'word' & 'word':*). */
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->n && used < len; i++) {
        bool last = i + 1 == s->n;
        if (postgres)
            used += (size_t)snprintf(out + used, len - used, "%s'%s'%s", i ? " & " : "",
                                     s->words[i], last ? ":*" : "");
        else
            used += (size_t)snprintf(out + used, len - used, "%s\"%s\"%s", i ? " " : "",
                                     s->words[i], last ? "*" : "");
    }
}

void webtoon_search_param(const struct webtoon_search *s, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i && used + 3 < len) {
            memcpy(out + used, "%20", 3);
            used += 3;
        }
        for (const unsigned char *p = (const unsigned char *)s->words[i]; *p && used + 3 < len;
             p++) {
            if (*p < 0x80) {
                out[used++] = (char)*p;
            } else {
                out[used++] = '%';
                out[used++] = hex[*p >> 4];
                out[used++] = hex[*p & 15];
            }
        }
    }
    out[used] = '\0';
}

/* The base64url MAC of <user>, <webtoon> and <expiry> into <out> (at least 44 bytes). */
static void webtoon_access_mac(const unsigned char *key, size_t keylen, const char *user,
                               const char *webtoon, int64_t expiry, char *out)
{
    char msg[2 * DOMAIN_ID_MAX + 32];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%lld", user, webtoon, (long long)expiry);
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, (size_t)n, mac, &maclen);
    unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    int len = EVP_EncodeBlock(b64, mac, (int)maclen);
    int used = 0;
    for (int i = 0; i < len && b64[i] != '='; i++)
        out[used++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[used] = '\0';
}

void webtoon_access_sign(const unsigned char *key, size_t keylen, const char *user,
                         const char *webtoon, int64_t expiry, char *out, size_t len)
{
    char mac[64];
    webtoon_access_mac(key, keylen, user, webtoon, expiry, mac);
    snprintf(out, len, "%lld.%s", (long long)expiry, mac);
}

bool webtoon_access_is_valid(const unsigned char *key, size_t keylen, const char *user,
                             const char *webtoon, const char *access, int64_t now_s)
{
    if (!access || !user || !domain_id_is_valid(user) || strlen(access) >= WEBTOON_ACCESS_MAX)
        return false;
    int64_t expiry = 0;
    const char *p = access;
    for (; *p >= '0' && *p <= '9' && p - access < 12; p++)
        expiry = expiry * 10 + (*p - '0');
    if (p == access || *p != '.' || expiry < now_s)
        return false;
    char want[64];
    webtoon_access_mac(key, keylen, user, webtoon, expiry, want);
    size_t n = strlen(want);
    return strlen(p + 1) == n && CRYPTO_memcmp(want, p + 1, n) == 0;
}

bool webtoon_order_is_permutation(const json_t *order, int64_t n, int64_t *out)
{
    if (!json_is_array(order) || (int64_t)json_array_size(order) != n)
        return false;
    /* Each number once: seen[k] for k in 1..n. */
    bool seen[WEBTOON_PAGE_MAX + 1] = {0};
    size_t i;
    json_t *v;
    json_array_foreach(order, i, v)
    {
        json_int_t k = json_is_integer(v) ? json_integer_value(v) : 0;
        if (k < 1 || k > n || k > WEBTOON_PAGE_MAX || seen[k])
            return false;
        seen[k] = true;
        out[i] = k;
    }
    return true;
}
