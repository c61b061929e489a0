/* Catalog rules of the webtoon service: what an open decides (every
 * status × price × ownership, and free from a date before and after it
 * comes), whether a cancel may revoke an episode, how the editable fields
 * of episodes and series are read, which series an episode goes into, and
 * how a search query becomes a safe match expression. */
#include "support/test_machine.h"

#include "core/base/bug.h"
#include "core/base/rc.h"
#include "svc/webtoon/webtoon.h"

enum listing { LISTING_PUBLISHED, LISTING_HIDDEN, LISTINGS };
enum price { PRICE_FREE, PRICE_PAID, PRICES };

static const char *const listing_names[LISTINGS] = {"published", "hidden"};
static const char *const open_names[] = {
    [WEBTOON_OPEN_FREE] = "free",
    [WEBTOON_OPEN_OWNED] = "owned",
    [WEBTOON_OPEN_HIDDEN] = "hidden",
    [WEBTOON_OPEN_NOT_OWNED] = "not owned",
};

/* A hidden episode opens for nobody, owner or not; a free one for
 * everyone; a paid one for its owners. */
static const struct {
    enum listing listing;
    enum price price;
    enum webtoon_open not_owned, owned;
} rows[] = {
    {LISTING_PUBLISHED, PRICE_FREE, WEBTOON_OPEN_FREE, WEBTOON_OPEN_FREE},
    {LISTING_PUBLISHED, PRICE_PAID, WEBTOON_OPEN_NOT_OWNED, WEBTOON_OPEN_OWNED},
    {LISTING_HIDDEN, PRICE_FREE, WEBTOON_OPEN_HIDDEN, WEBTOON_OPEN_HIDDEN},
    {LISTING_HIDDEN, PRICE_PAID, WEBTOON_OPEN_HIDDEN, WEBTOON_OPEN_HIDDEN},
};

static void cell(size_t i, int *listing, int *price)
{
    *listing = (int)rows[i].listing;
    *price = (int)rows[i].price;
}

static void test_every_open(void **state)
{
    (void)state;
    test_cells_once(ARRAY_LEN(rows), LISTINGS, PRICES, cell);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        for (int owned = 0; owned <= 1; owned++) {
            struct webtoon_item w = {
                .found = true, .point = rows[i].price == PRICE_FREE ? 0 : 30, .free_from = -1};
            snprintf(w.status, sizeof w.status, "%s", listing_names[rows[i].listing]);
            enum webtoon_open got = webtoon_decide_open(&w, owned, 1000);
            enum webtoon_open want = owned ? rows[i].owned : rows[i].not_owned;
            if (got != want)
                fail_msg("%s, %s, %s: %s, expected %s", w.status, w.point ? "paid" : "free",
                         owned ? "owned" : "not owned", open_names[got], open_names[want]);
        }
}

/* Wait until free: a paid episode with a freeFrom opens for everyone from
 * that millisecond on, not one before; a hidden one still for nobody. */
static void test_free_from(void **state)
{
    (void)state;
    struct webtoon_item w = {.found = true, .point = 30, .free_from = 5000, .status = "published"};
    assert_false(webtoon_is_free_now(&w, 4999));
    assert_int_equal(webtoon_decide_open(&w, false, 4999), WEBTOON_OPEN_NOT_OWNED);
    assert_int_equal(webtoon_decide_open(&w, true, 4999), WEBTOON_OPEN_OWNED);
    assert_true(webtoon_is_free_now(&w, 5000));
    assert_int_equal(webtoon_decide_open(&w, false, 5000), WEBTOON_OPEN_FREE);
    assert_int_equal(webtoon_decide_open(&w, true, 9000), WEBTOON_OPEN_FREE);
    w.free_from = -1; /* never free by date */
    assert_int_equal(webtoon_decide_open(&w, false, INT64_MAX), WEBTOON_OPEN_NOT_OWNED);
    w.free_from = 0;
    snprintf(w.status, sizeof w.status, "hidden");
    assert_int_equal(webtoon_decide_open(&w, true, 9000), WEBTOON_OPEN_HIDDEN);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms = -1;
    assert_true(webtoon_parse_time("1970-01-01T00:00:00Z", &ms));
    assert_int_equal(ms, 0);
    assert_true(webtoon_parse_time("2026-12-02T10:00:00.5Z", &ms));
    assert_int_equal(ms, 1796205600500);
    assert_true(webtoon_parse_time("2026-12-02T19:00:00+09:00", &ms));
    assert_int_equal(ms, 1796205600000);
    assert_true(webtoon_parse_time("2026-12-02T05:30:00.123456-04:30", &ms));
    assert_int_equal(ms, 1796205600123);
    assert_true(webtoon_parse_time("2028-02-29t00:00:00z", &ms)); /* a leap year */
    assert_true(webtoon_parse_time("9999-12-31T23:59:59.999Z", &ms));
    assert_false(webtoon_parse_time("9999-12-31T23:59:59-01:00", &ms)); /* year 10000 */
    assert_true(webtoon_parse_time("0001-01-01T00:00:00Z", &ms)); /* before 1970: free already */
    assert_int_equal(ms, 0);
    static const char *const bad[] = {
        "",
        "2026-12-02",
        "2026-12-02T10:00:00",
        "2026-12-02 10:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-12-02T24:00:00Z",
        "2026-12-02T10:00:00Zjunk",
        "2026-12-02T10:00:00.Z",
        "2026-12-02T10:00:00+9:00",
        "2027-02-29T00:00:00Z",
        "tomorrow",
        "+026-12-02T10:00:00Z",
        "2026-12-02T10:00:00+09:60",
        "2026-1-02T10:00:00Z",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (webtoon_parse_time(bad[i], &ms))
            fail_msg("'%s' read as a time", bad[i]);
}

/* The original API's episodes go into the series their id names. */
static void test_series_of_episode(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"niceguy-1", "niceguy"},
        {"niceguy-12", "niceguy"},
        {"niceguy", "niceguy"},
        {"tower-of-dreams-2", "tower-of-dreams"},
        {"a-1-2", "a-1"},
        {"season2", "season2"},
        {"-1", "-1"},
        {"x-", "x-"},
        {"niceguy-1a", "niceguy-1a"},
        {".-3", ".-3"},
        {"x--1", "x-"},
    };
    char out[DOMAIN_ID_MAX + 1];
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        webtoon_series_of_episode(cases[i][0], out, sizeof out);
        if (strcmp(out, cases[i][1]) != 0)
            fail_msg("%s: series '%s', expected '%s'", cases[i][0], out, cases[i][1]);
    }
}

/* webtoon_read_series_fields on <text>, into <s>. */
static int read_series(const char *text, bool partial, struct webtoon_series *s, char *detail)
{
    json_error_t err;
    json_t *body = json_loads(text, 0, &err);
    if (!body)
        fail_msg("bad test body: %s", err.text);
    int rc = webtoon_read_series_fields(body, partial, s, detail, 256);
    json_decref(body);
    return rc;
}

static void test_series_fields(void **state)
{
    (void)state;
    struct webtoon_series s = {0};
    char detail[256] = "";
    assert_int_equal(read_series("{\"title\":\"T\",\"author\":\"A\"}", false, &s, detail), RC_OK);
    assert_string_equal(s.status, "ongoing");
    assert_string_equal(s.genres, "");
    assert_string_equal(s.synopsis, "");
    /* genres: kept once each, in the fixed order */
    assert_int_equal(read_series("{\"title\":\"T\",\"author\":\"A\",\"synopsis\":\"\","
                                 "\"genres\":[\"sports\",\"action\",\"sports\"],"
                                 "\"status\":\"hiatus\"}",
                                 false, &s, detail),
                     RC_OK);
    assert_string_equal(s.genres, "action,sports");
    assert_string_equal(s.status, "hiatus");
    static const char *const bad[] = {
        "{\"genres\":[\"romcom\"]}",
        "{\"genres\":\"action\"}",
        "{\"genres\":[1]}",
        "{\"genres\":[\"action\",\"action\",\"action\",\"action\",\"action\",\"action\","
        "\"action\",\"action\",\"action\"]}",
        "{\"status\":\"published\"}",
        "{\"status\":\"Ongoing\"}",
        "{\"title\":\"\"}",
        "{\"synopsis\":7}",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (read_series(bad[i], true, &s, detail) != RC_INVALID)
            fail_msg("%s accepted", bad[i]);
        assert_string_equal(s.genres, "action,sports"); /* a refused read changes nothing */
        assert_string_equal(s.status, "hiatus");
    }
    /* PATCH keeps what is absent */
    assert_int_equal(read_series("{\"genres\":[]}", true, &s, detail), RC_OK);
    assert_string_equal(s.genres, "");
    assert_string_equal(s.title, "T");
    assert_true(webtoon_genre_is_valid("slice-of-life"));
    assert_false(webtoon_genre_is_valid("Action"));
    assert_true(webtoon_series_status_is_valid("completed"));
    assert_false(webtoon_series_status_is_valid(""));
}

/* The FTS5 and tsquery expressions and the link parameter of <q>. */
static void search(const char *q, const char *fts5, const char *tsquery, const char *param)
{
    struct webtoon_search s;
    char out[1024];
    webtoon_search_parse(q, &s);
    webtoon_search_expr(&s, false, out, sizeof out);
    if (strcmp(out, fts5) != 0)
        fail_msg("%s: FTS5 %s, expected %s", q, out, fts5);
    webtoon_search_expr(&s, true, out, sizeof out);
    if (strcmp(out, tsquery) != 0)
        fail_msg("%s: tsquery %s, expected %s", q, out, tsquery);
    webtoon_search_param(&s, out, sizeof out);
    if (strcmp(out, param) != 0)
        fail_msg("%s: parameter %s, expected %s", q, out, param);
}

/* Whatever a reader types, only words reach the engine: no quote,
 * operator or malformed UTF-8 does. */
static void test_search_words(void **state)
{
    (void)state;
    search("nic", "\"nic\"*", "'nic':*", "nic");
    search("Nice Guy", "\"Nice\" \"Guy\"*", "'Nice' & 'Guy':*", "Nice%20Guy");
    search("\"", "", "", "");
    search("*", "", "", "");
    search("NEAR(nice guy)", "\"NEAR\" \"nice\" \"guy\"*", "'NEAR' & 'nice' & 'guy':*",
           "NEAR%20nice%20guy");
    search("-nice OR 'guy", "\"nice\" \"OR\" \"guy\"*", "'nice' & 'OR' & 'guy':*",
           "nice%20OR%20guy");
    search("title:x^y", "\"title\" \"x\" \"y\"*", "'title' & 'x' & 'y':*", "title%20x%20y");
    search("a & !b | c <-> d", "\"a\" \"b\" \"c\" \"d\"*", "'a' & 'b' & 'c' & 'd':*",
           "a%20b%20c%20d");
    search("서울 밤", "\"서울\" \"밤\"*", "'서울' & '밤':*", "%EC%84%9C%EC%9A%B8%20%EB%B0%A4");
    search("café", "\"café\"*", "'café':*", "caf%C3%A9");
    /* malformed UTF-8 separates words: truncated, overlong, surrogate, stray */
    search("ab\xc3 cd", "\"ab\" \"cd\"*", "'ab' & 'cd':*", "ab%20cd");
    search("a\xc0\xaf"
           "b\xed\xa0\x80"
           "c\x80"
           "d",
           "\"a\" \"b\" \"c\" \"d\"*", "'a' & 'b' & 'c' & 'd':*", "a%20b%20c%20d");
    search(NULL, "", "", "");
    /* at most WEBTOON_QUERY_WORDS words of WEBTOON_QUERY_WORD_MAX bytes */
    struct webtoon_search s;
    webtoon_search_parse("1 2 3 4 5 6 7 8 9 10", &s);
    assert_int_equal(s.n, WEBTOON_QUERY_WORDS);
    assert_string_equal(s.words[WEBTOON_QUERY_WORDS - 1], "8");
    char long_word[200];
    memset(long_word, 'x', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = '\0';
    webtoon_search_parse(long_word, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(strlen(s.words[0]), WEBTOON_QUERY_WORD_MAX);
    /* cut on a character boundary: 21 three-byte characters fit in 64 */
    char korean[3 * 30 + 1] = "";
    for (int i = 0; i < 30; i++)
        memcpy(korean + 3 * i, "밤", 3);
    webtoon_search_parse(korean, &s);
    assert_int_equal(strlen(s.words[0]), 63);
}

/* An access capability opens the pages of one episode for one user until
 * it expires; any change to any part of it, or another key, refuses it. */
static void test_access_capability(void **state)
{
    (void)state;
    const unsigned char key[32] = {1, 2, 3}, other[32] = {9};
    char access[WEBTOON_ACCESS_MAX];
    webtoon_access_sign(key, sizeof key, "alice", "niceguy-1", 5000, access, sizeof access);
    assert_non_null(strchr(access, '.'));
    assert_null(strpbrk(access, "+/=")); /* base64url, unpadded: safe in a query */
    assert_true(webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-1", access, 4999));
    assert_true(webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-1", access, 5000));
    assert_false(webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-1", access, 5001));
    assert_false(webtoon_access_is_valid(key, sizeof key, "bob", "niceguy-1", access, 10));
    assert_false(webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-2", access, 10));
    assert_false(webtoon_access_is_valid(other, sizeof other, "alice", "niceguy-1", access, 10));
    char forged[WEBTOON_ACCESS_MAX + 8];
    snprintf(forged, sizeof forged, "9999%s", access); /* a later expiry, same MAC */
    assert_false(webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-1", forged, 10));
    snprintf(forged, sizeof forged, "%s", access);
    forged[strlen(forged) - 1] ^= 1;
    assert_false(webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-1", forged, 10));
    static const char *const junk[] = {
        "", ".", "5000", "5000.", "-1.abc", "abc.def", "99999999999999999999.x"};
    for (size_t i = 0; i < ARRAY_LEN(junk); i++)
        assert_false(webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-1", junk[i], 10));
    assert_false(webtoon_access_is_valid(key, sizeof key, NULL, "niceguy-1", access, 10));
    assert_false(webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-1", NULL, 10));
}

static void test_page_order(void **state)
{
    (void)state;
    int64_t out[4];
    static const struct {
        const char *json;
        int64_t n;
        bool ok;
    } cases[] = {
        {"[3,1,2]", 3, true},  {"[1]", 1, true},          {"[]", 0, true},
        {"[1,2]", 3, false},   {"[1,1,2]", 3, false},     {"[0,1,2]", 3, false},
        {"[1,2,4]", 3, false}, {"[1,2,\"3\"]", 3, false}, {"{}", 0, false},
        {"[1.0]", 1, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        if (webtoon_order_is_permutation(v, cases[i].n, out) != cases[i].ok)
            fail_msg("%s of %lld pages: %s", cases[i].json, (long long)cases[i].n,
                     cases[i].ok ? "refused" : "accepted");
        json_decref(v);
    }
    json_t *v = json_loads("[3,1,2]", 0, NULL);
    assert_true(webtoon_order_is_permutation(v, 3, out));
    assert_int_equal(out[0], 3);
    assert_int_equal(out[2], 2);
    json_decref(v);
}

/* Only the purchase that granted an episode, unread, may revoke it. */
static void test_cancel_refusal(void **state)
{
    (void)state;
    struct webtoon_ownership none = {0};
    struct webtoon_ownership unread = {.found = true, .purchase_id = "p1"};
    struct webtoon_ownership read = {.found = true, .purchase_id = "p1", .read = true};
    assert_null(webtoon_cancel_refusal(&unread, "p1"));
    assert_string_equal(webtoon_cancel_refusal(&none, "p1"),
                        "the purchase does not own the episode");
    assert_string_equal(webtoon_cancel_refusal(&unread, "p2"),
                        "the purchase does not own the episode");
    assert_string_equal(webtoon_cancel_refusal(&read, "p2"),
                        "the purchase does not own the episode");
    assert_string_equal(webtoon_cancel_refusal(&read, "p1"), "the episode was already read");
}

/* webtoon_read_fields on <text>, into <w>. */
static int read_fields(const char *text, bool partial, struct webtoon_item *w, char *detail)
{
    json_error_t err;
    json_t *body = json_loads(text, 0, &err);
    if (!body)
        fail_msg("bad test body: %s", err.text);
    int rc = webtoon_read_fields(body, partial, w, detail, 256);
    json_decref(body);
    return rc;
}

static void test_read_fields_create(void **state)
{
    (void)state;
    struct webtoon_item w = {0};
    char detail[256] = "";
    assert_int_equal(read_fields("{\"title\":\"T\",\"author\":\"A\",\"point\":0,\"episode\":1}",
                                 false, &w, detail),
                     RC_OK);
    assert_string_equal(w.title, "T");
    assert_string_equal(w.author, "A");
    assert_int_equal(w.point, 0);
    assert_int_equal(w.episode, 1);
    assert_string_equal(w.status, "published"); /* the default */
    /* on create every field but status is required */
    assert_int_equal(
        read_fields("{\"title\":\"T\",\"author\":\"A\",\"point\":3}", false, &w, detail),
        RC_INVALID);
    assert_non_null(strstr(detail, "episode"));
    /* bounds: a price up to WEBTOON_POINT_MAX, episodes from 1 */
    assert_int_equal(
        read_fields("{\"title\":\"T\",\"author\":\"A\",\"point\":100001,\"episode\":1}", false, &w,
                    detail),
        RC_INVALID);
    assert_int_equal(read_fields("{\"title\":\"T\",\"author\":\"A\",\"point\":1,\"episode\":0}",
                                 false, &w, detail),
                     RC_INVALID);
}

static void test_read_fields_status(void **state)
{
    (void)state;
    struct webtoon_item w = {0};
    char detail[256] = "";
    assert_int_equal(read_fields("{\"title\":\"T\",\"author\":\"A\",\"point\":1,\"episode\":1,"
                                 "\"status\":\"hidden\"}",
                                 false, &w, detail),
                     RC_OK);
    assert_string_equal(w.status, "hidden");
    assert_int_equal(read_fields("{\"status\":\"draft\"}", true, &w, detail), RC_INVALID);
    assert_string_equal(detail, "field 'status' must be \"published\" or \"hidden\"");
    assert_string_equal(w.status, "hidden"); /* a refused read changes nothing */
}

/* PATCH: what is absent keeps its value, what is present is checked. */
static void test_read_fields_partial(void **state)
{
    (void)state;
    struct webtoon_item w = {.point = 5, .episode = 2, .status = "hidden"};
    snprintf(w.title, sizeof w.title, "Old");
    snprintf(w.author, sizeof w.author, "Ann");
    char detail[256] = "";
    assert_int_equal(read_fields("{\"point\":9}", true, &w, detail), RC_OK);
    assert_int_equal(w.point, 9);
    assert_int_equal(w.episode, 2);
    assert_string_equal(w.title, "Old");
    assert_string_equal(w.author, "Ann");
    assert_string_equal(w.status, "hidden");
    assert_int_equal(read_fields("{}", true, &w, detail), RC_OK);
    assert_int_equal(w.point, 9);
    assert_int_equal(read_fields("{\"title\":\"\"}", true, &w, detail), RC_INVALID);
    assert_string_equal(w.title, "Old");
}

/* seriesId and freeFrom: optional; junk is refused and changes nothing; a
 * PUT without freeFrom clears it. */
static void test_read_fields_series(void **state)
{
    (void)state;
    struct webtoon_item w = {.point = 5, .episode = 2, .status = "published", .free_from = -1};
    char detail[256] = "";
    assert_int_equal(read_fields("{\"seriesId\":\"tower\",\"freeFrom\":\"1970-01-01T00:00:01Z\"}",
                                 true, &w, detail),
                     RC_OK);
    assert_string_equal(w.series_id, "tower");
    assert_int_equal(w.free_from, 1000);
    assert_int_equal(read_fields("{\"freeFrom\":\"soon\"}", true, &w, detail), RC_INVALID);
    assert_non_null(strstr(detail, "freeFrom"));
    assert_int_equal(read_fields("{\"seriesId\":\"a b\"}", true, &w, detail), RC_INVALID);
    assert_int_equal(w.free_from, 1000);
    assert_string_equal(w.series_id, "tower");
    assert_int_equal(read_fields("{\"freeFrom\":7}", true, &w, detail), RC_INVALID);
    /* PUT: a freeFrom left out is none */
    w.free_from = 1000;
    assert_int_equal(read_fields("{\"title\":\"T\",\"author\":\"A\",\"point\":1,\"episode\":1}",
                                 false, &w, detail),
                     RC_OK);
    assert_int_equal(w.free_from, -1);
    assert_string_equal(w.series_id, "tower");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_open),          cmocka_unit_test(test_cancel_refusal),
        cmocka_unit_test(test_read_fields_create),  cmocka_unit_test(test_read_fields_status),
        cmocka_unit_test(test_read_fields_partial), cmocka_unit_test(test_free_from),
        cmocka_unit_test(test_read_fields_series),  cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_series_of_episode),   cmocka_unit_test(test_series_fields),
        cmocka_unit_test(test_search_words),        cmocka_unit_test(test_access_capability),
        cmocka_unit_test(test_page_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
