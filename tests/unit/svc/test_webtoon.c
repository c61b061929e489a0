/* Catalog rules of the webtoon service: what an open decides (every
 * status × price × ownership), whether a cancel may revoke an episode, and
 * how the editable fields are read. */
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
            struct webtoon_item w = {.found = true, .point = rows[i].price == PRICE_FREE ? 0 : 30};
            snprintf(w.status, sizeof w.status, "%s", listing_names[rows[i].listing]);
            enum webtoon_open got = webtoon_decide_open(&w, owned);
            enum webtoon_open want = owned ? rows[i].owned : rows[i].not_owned;
            if (got != want)
                fail_msg("%s, %s, %s: %s, expected %s", w.status, w.point ? "paid" : "free",
                         owned ? "owned" : "not owned", open_names[got], open_names[want]);
        }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_open),          cmocka_unit_test(test_cancel_refusal),
        cmocka_unit_test(test_read_fields_create),  cmocka_unit_test(test_read_fields_status),
        cmocka_unit_test(test_read_fields_partial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
