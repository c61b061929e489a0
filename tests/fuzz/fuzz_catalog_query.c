/*
 * Fuzzes what a client sends the catalog as text: the search query (?q=),
 * whose words reach FTS5 and PostgreSQL's tsquery, freeFrom's RFC 3339
 * time, and a page image's access capability (?access=), which no input
 * but the one signed with the key may pass. The match expressions must hold only quoted words (no quote,
 * operator or malformed UTF-8 of the input left), every word within its
 * bound; a time that parses must print back to one that parses the same.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/mem.h"
#include "svc/webtoon/webtoon.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void fuzz_search(const char *q)
{
    struct webtoon_search s;
    char expr[WEBTOON_QUERY_WORDS * (WEBTOON_QUERY_WORD_MAX + 8) + 1];
    char param[WEBTOON_QUERY_WORDS * (WEBTOON_QUERY_WORD_MAX * 3 + 3) + 1];
    webtoon_search_parse(q, &s);
    FUZZ_CHECK(s.n <= WEBTOON_QUERY_WORDS);
    for (size_t i = 0; i < s.n; i++) {
        size_t len = strlen(s.words[i]);
        FUZZ_CHECK(len > 0 && len <= WEBTOON_QUERY_WORD_MAX);
        FUZZ_CHECK(!strpbrk(s.words[i], "\"'*:&|!()<>- \\^"));
    }
    webtoon_search_expr(&s, false, expr, sizeof expr);
    size_t quotes = 0;
    for (const char *p = expr; *p; p++)
        quotes += *p == '"';
    FUZZ_CHECK(quotes == 2 * s.n);
    webtoon_search_expr(&s, true, expr, sizeof expr);
    quotes = 0;
    for (const char *p = expr; *p; p++)
        quotes += *p == '\'';
    FUZZ_CHECK(quotes == 2 * s.n);
    webtoon_search_param(&s, param, sizeof param);
    for (const unsigned char *p = (const unsigned char *)param; *p; p++)
        FUZZ_CHECK(*p < 0x80 && *p != ' ' && *p != '&' && *p != '#');
}

static void fuzz_time(const char *text)
{
    int64_t ms, again;
    if (!webtoon_parse_time(text, &ms))
        return;
    FUZZ_CHECK(ms >= 0);
    char printed[40];
    clock_format_rfc3339(ms, printed, sizeof printed);
    FUZZ_CHECK(webtoon_parse_time(printed, &again) && again == ms);
}

static void fuzz_access(const char *text)
{
    static const unsigned char key[32] = {7};
    char real[WEBTOON_ACCESS_MAX];
    webtoon_access_sign(key, sizeof key, "alice", "niceguy-1", 4102444800, real, sizeof real);
    bool valid = webtoon_access_is_valid(key, sizeof key, "alice", "niceguy-1", text, 0);
    FUZZ_CHECK(valid == !strcmp(text, real));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = mem_alloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_search(text);
    fuzz_time(text);
    fuzz_access(text);
    mem_free(text);
    return 0;
}
