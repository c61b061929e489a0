/* The JSON line logger: every line is one valid JSON object in valid UTF-8,
 * also when the message or the service name is too long for its buffer;
 * lines written under a trace context carry its ids. */
#include "support/test_support.h"

#include <locale.h>
#include <wchar.h>

#include "core/base/rc.h"
#include "core/log/log.h"
#include "core/trace/trace.h"

#define MSG_ROOM 1023 /* bytes of a message that fit log.c's buffer */

/* Runs log_write(LOG_INFO, ...) with "%s" and <msg>, with stdout sent to a
 * temporary file, and returns what was written (free with free). */
static char *capture(const char *msg)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(f), STDOUT_FILENO) >= 0);
    log_write(LOG_INFO, NULL, NULL, "%s", msg);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    long len = ftell(f);
    assert_true(len > 0);
    char *out = calloc(1, (size_t)len + 1);
    assert_non_null(out);
    rewind(f);
    assert_int_equal(fread(out, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return out;
}

/* Asserts <text> is valid UTF-8, decoded by the C library rather than by
 * jansson, which wrote it. */
static void assert_utf8(const char *text)
{
    assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
    mbstate_t st = {0};
    const char *p = text;
    assert_true(mbsrtowcs(NULL, &p, 0, &st) != (size_t)-1);
    setlocale(LC_CTYPE, "C");
}

/* Parses <line> (one JSON object and a newline); returns it (json_decref). */
static json_t *parse_line(const char *line)
{
    size_t len = strlen(line);
    assert_true(len > 1 && line[len - 1] == '\n');
    assert_null(memchr(line, '\n', len - 1));
    assert_utf8(line);
    json_error_t err;
    json_t *obj = json_loadb(line, len - 1, 0, &err);
    if (!obj)
        fail_msg("not JSON: %s in %s", err.text, line);
    assert_true(json_is_object(obj));
    return obj;
}

/* A message of <n> 'a's then <ch> repeated: for n just under MSG_ROOM the
 * buffer ends inside the first <ch>. */
static void check_cut(size_t n, const char *ch)
{
    char msg[MSG_ROOM + 64];
    size_t len = n, w = strlen(ch);
    memset(msg, 'a', n);
    for (int i = 0; i < 8; i++, len += w)
        memcpy(msg + len, ch, w);
    msg[len] = '\0';
    char *out = capture(msg);
    json_t *line = parse_line(out);
    const char *got = json_string_value(json_object_get(line, "msg"));
    if (!got)
        fail_msg("no msg in %s", out);
    /* the whole characters that fit, and nothing of the one that did not */
    size_t keep = n + (MSG_ROOM - n) / strlen(ch) * strlen(ch);
    assert_int_equal(strlen(got), keep);
    assert_memory_equal(got, msg, keep);
    json_decref(line);
    free(out);
}

static void test_message_cut_at_a_character_boundary(void **state)
{
    (void)state;
    log_init("test", LOG_INFO);
    const char *chars[] = {"\xc3\xa9" /* é */, "\xe2\x82\xac" /* € */, "\xf0\x9f\x8e\xa8" /* 🎨 */};
    for (size_t c = 0; c < sizeof chars / sizeof chars[0]; c++)
        for (size_t before = 1; before < strlen(chars[c]); before++)
            check_cut(MSG_ROOM - before, chars[c]); /* <before> bytes of it fit */
    check_cut(MSG_ROOM - 3, "\xe2\x82\xac");        /* exactly fits: kept whole */
}

static void test_short_message_unchanged(void **state)
{
    (void)state;
    log_init("test", LOG_INFO);
    char *out = capture("caf\xc3\xa9 \xf0\x9f\x8e\xa8");
    json_t *line = parse_line(out);
    assert_string_equal(json_string_value(json_object_get(line, "msg")),
                        "caf\xc3\xa9 \xf0\x9f\x8e\xa8");
    assert_string_equal(json_string_value(json_object_get(line, "service")), "test");
    assert_string_equal(json_string_value(json_object_get(line, "level")), "info");
    json_decref(line);
    free(out);
}

static void test_service_name_cut_at_a_character_boundary(void **state)
{
    (void)state;
    /* 30 ASCII bytes, then a 3-byte character across the 31-byte room */
    log_init("abcdefghijklmnopqrstuvwxyz0123\xe2\x82\xac", LOG_INFO);
    char *out = capture("hello");
    json_t *line = parse_line(out);
    const char *service = json_string_value(json_object_get(line, "service"));
    if (!service)
        fail_msg("no service in %s", out);
    assert_string_equal(service, "abcdefghijklmnopqrstuvwxyz0123");
    json_decref(line);
    free(out);
}

static void test_trace_ids_while_a_context_is_current(void **state)
{
    (void)state;
    log_init("test", LOG_INFO);
    char *out = capture("before");
    json_t *line = parse_line(out);
    assert_null(json_object_get(line, "traceId")); /* no context: no ids */
    assert_null(json_object_get(line, "spanId"));
    json_decref(line);
    free(out);

    struct trace_ctx c;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert_int_equal(trace_parse(tp, strlen(tp), &c), RC_OK);
    trace_set_current(&c);
    out = capture("during");
    line = parse_line(out);
    assert_string_equal(json_string_value(json_object_get(line, "traceId")),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_object_get(line, "spanId")), "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(line, "msg")), "during");
    json_decref(line);
    free(out);

    trace_set_current(NULL);
    out = capture("after");
    line = parse_line(out);
    assert_null(json_object_get(line, "traceId"));
    json_decref(line);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_cut_at_a_character_boundary),
        cmocka_unit_test(test_short_message_unchanged),
        cmocka_unit_test(test_service_name_cut_at_a_character_boundary),
        cmocka_unit_test(test_trace_ids_while_a_context_is_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
