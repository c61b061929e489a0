/* W3C traceparent parsing and formatting, child contexts, the thread's
 * current context, and spans: their ids, bounded attributes and strings
 * that are always valid UTF-8. */
#include "support/test_support.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/wait.h>

#include "core/base/bug.h"
#include "core/base/rc.h"
#include "core/trace/trace.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

static bool parses(const char *s, struct trace_ctx *out)
{
    return trace_parse(s, strlen(s), out) == RC_OK;
}

static void test_parse_valid(void **state)
{
    (void)state;
    struct trace_ctx c;
    assert_true(parses("00-" TID "-" SID "-01", &c));
    assert_string_equal(c.trace_id, TID);
    assert_string_equal(c.span_id, SID);
    assert_true(c.sampled);
    assert_true(trace_ctx_is_valid(&c));
    assert_true(parses("00-" TID "-" SID "-00", &c));
    assert_false(c.sampled); /* propagated, not recorded */
    /* only bit 0 means anything today; the other bits are ignored */
    assert_true(parses("00-" TID "-" SID "-09", &c) && c.sampled);
    assert_true(parses("00-" TID "-" SID "-fe", &c) && !c.sampled);
    /* blanks around the value are the header's, not the value's */
    assert_true(parses("  00-" TID "-" SID "-01\t", &c) && c.sampled);
}

static void test_parse_future_versions(void **state)
{
    (void)state;
    struct trace_ctx c;
    /* a later version is read as far as this one goes */
    assert_true(parses("cc-" TID "-" SID "-01", &c) && c.sampled);
    assert_true(parses("01-" TID "-" SID "-01-what-the-future-will-be-like", &c));
    assert_string_equal(c.trace_id, TID);
    assert_true(parses("fe-" TID "-" SID "-00-", &c) && !c.sampled);
    /* ... but what follows the flags must start with '-' */
    assert_false(parses("cc-" TID "-" SID "-01x", &c));
    assert_false(parses("cc-" TID "-" SID "-011", &c));
    /* ff is forbidden; 00 has nothing after the flags */
    assert_false(parses("ff-" TID "-" SID "-01", &c));
    assert_false(parses("00-" TID "-" SID "-01-extra", &c));
    assert_false(parses("00-" TID "-" SID "-01-", &c));
}

static void test_parse_invalid(void **state)
{
    (void)state;
    struct trace_ctx c;
    const char *bad[] = {
        "",
        "00",
        "00-" TID "-" SID "-0",                           /* short */
        "00-" TID "-" SID,                                /* no flags */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01", /* uppercase trace id */
        "00-" TID "-00F067AA0BA902B7-01",                 /* uppercase span id */
        "00-" TID "-" SID "-0A",                          /* uppercase flags */
        "0A-" TID "-" SID "-01",                          /* uppercase version */
        "00-00000000000000000000000000000000-" SID "-01", /* zero trace id */
        "00-" TID "-0000000000000000-01",                 /* zero span id */
        "00_" TID "-" SID "-01",                          /* separators */
        "00-" TID "_" SID "-01",
        "00-" TID "-" SID "_01",
        "00-" TID "-" SID "-0g", /* not hex */
        "0g-" TID "-" SID "-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-" SID "-01x", /* ids of the wrong length */
        "00-" TID "-00f067aa0ba902b-01x",
        "00-" TID "-" SID "-01 ,00-" TID "-" SID "-01", /* two values in one */
        "00- " TID "-" SID "-01",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        memcpy(c.trace_id, "x", 2); /* cleared on failure */
        if (parses(bad[i], &c))
            fail_msg("accepted '%s'", bad[i]);
        assert_false(trace_ctx_is_valid(&c));
        assert_string_equal(c.trace_id, "");
    }
    /* a NUL inside is not the end of the value */
    char withnul[] = "00-" TID "-" SID "-01";
    withnul[10] = '\0';
    assert_int_equal(trace_parse(withnul, sizeof withnul - 1, &c), RC_INVALID);
    assert_false(trace_ctx_is_valid(NULL));
}

static void test_format_round_trip(void **state)
{
    (void)state;
    struct trace_ctx c, back;
    char text[TRACE_PARENT_LEN + 1];
    assert_true(parses("cc-" TID "-" SID "-03-later", &c));
    trace_format(&c, text);
    assert_string_equal(text, "00-" TID "-" SID "-01"); /* we speak version 00 */
    assert_true(parses(text, &back));
    assert_memory_equal(&c, &back, sizeof c);
    c.sampled = false;
    trace_format(&c, text);
    assert_string_equal(text, "00-" TID "-" SID "-00");
}

static bool is_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

static void test_child_contexts(void **state)
{
    (void)state;
    struct trace_ctx parent, child, root1, root2;
    char parent_span[TRACE_SPAN_HEX + 1];
    assert_true(parses("00-" TID "-" SID "-01", &parent));
    trace_ctx_child(&parent, &child, parent_span);
    assert_string_equal(child.trace_id, TID);
    assert_string_not_equal(child.span_id, SID);
    assert_true(is_lower_hex(child.span_id, TRACE_SPAN_HEX));
    assert_string_equal(parent_span, SID);
    assert_true(child.sampled);
    parent.sampled = false;
    trace_ctx_child(&parent, &child, NULL);
    assert_false(child.sampled); /* an unsampled trace stays unsampled */
    /* no parent, or a broken one: a new trace, recorded */
    trace_ctx_child(NULL, &root1, parent_span);
    assert_string_equal(parent_span, "");
    struct trace_ctx broken = {.trace_id = "nope"};
    trace_ctx_child(&broken, &root2, parent_span);
    assert_string_equal(parent_span, "");
    assert_true(trace_ctx_is_valid(&root1) && trace_ctx_is_valid(&root2));
    assert_true(root1.sampled && root2.sampled);
    assert_true(is_lower_hex(root1.trace_id, TRACE_ID_HEX));
    assert_string_not_equal(root1.trace_id, root2.trace_id);
}

static int compare_ids(const void *a, const void *b) { return strcmp(a, b); }

static void *new_trace_id(void *arg)
{
    struct trace_ctx c;
    trace_ctx_child(NULL, &c, NULL);
    memcpy(arg, c.trace_id, sizeof c.trace_id);
    return NULL;
}

static void test_ids_never_repeat(void **state)
{
    (void)state;
    enum { N = 20000 };
    static char ids[N][TRACE_SPAN_HEX + 1];
    struct trace_ctx parent, c;
    trace_ctx_child(NULL, &parent, NULL);
    for (int i = 0; i < N; i++) {
        trace_ctx_child(&parent, &c, NULL);
        memcpy(ids[i], c.span_id, sizeof ids[i]);
    }
    qsort(ids, N, sizeof ids[0], compare_ids);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    /* threads have generators of their own */
    char a[TRACE_ID_HEX + 1], b[TRACE_ID_HEX + 1];
    pthread_t t1, t2;
    pthread_create(&t1, NULL, new_trace_id, a);
    pthread_create(&t2, NULL, new_trace_id, b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_string_not_equal(a, b);
    /* a forked child does not go on with its parent's sequence */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        trace_ctx_child(NULL, &c, NULL);
        _exit(write(fds[1], c.trace_id, TRACE_ID_HEX) == TRACE_ID_HEX ? 0 : 1);
    }
    char theirs[TRACE_ID_HEX + 1] = "";
    assert_int_equal(read(fds[0], theirs, TRACE_ID_HEX), TRACE_ID_HEX);
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    close(fds[1]);
    trace_ctx_child(NULL, &c, NULL);
    assert_string_not_equal(theirs, c.trace_id);
}

static void *current_elsewhere(void *arg)
{
    (void)arg;
    return (void *)trace_current(); /* another thread has none of ours */
}

static void test_current_is_per_thread(void **state)
{
    (void)state;
    assert_null(trace_current());
    struct trace_ctx c;
    assert_true(parses("00-" TID "-" SID "-01", &c));
    trace_set_current(&c);
    memset(&c, 0, sizeof c); /* a copy was kept */
    const struct trace_ctx *now = trace_current();
    assert_non_null(now);
    assert_string_equal(now->trace_id, TID);
    pthread_t t;
    void *seen = (void *)1;
    assert_int_equal(pthread_create(&t, NULL, current_elsewhere, NULL), 0);
    pthread_join(t, &seen);
    assert_null(seen);
    trace_set_current(NULL);
    assert_null(trace_current());
}

static void test_span_without_exporter(void **state)
{
    (void)state;
    assert_false(trace_export_is_running());
    struct trace_ctx parent;
    assert_true(parses("00-" TID "-" SID "-01", &parent));
    struct trace_span sp;
    int64_t before = trace_now_ns();
    trace_span_begin(&sp, "GET /x", TRACE_SERVER, &parent);
    assert_string_equal(sp.ctx.trace_id, TID);
    assert_string_equal(sp.parent_span_id, SID);
    assert_true(trace_ctx_is_valid(&sp.ctx));
    assert_false(sp.recording); /* nothing to record for */
    assert_true(sp.start_ns >= before && sp.start_ns <= trace_now_ns());
    trace_span_attr_str(&sp, "k", "v");
    trace_span_attr_int(&sp, "n", 1);
    assert_int_equal(sp.nattrs, 0);
    trace_span_end(&sp);
    assert_true(sp.end_ns >= sp.start_ns);
    trace_span_begin(&sp, NULL, TRACE_INTERNAL, NULL);
    assert_string_equal(sp.name, "");
    assert_string_equal(sp.parent_span_id, "");
}

static void test_span_make(void **state)
{
    (void)state;
    struct trace_span sp;
    assert_int_equal(
        trace_span_make(&sp, "GET /webtoons", TRACE_SERVER, TID, SID, NULL, true, 1000, 2000),
        RC_OK);
    assert_string_equal(sp.ctx.trace_id, TID);
    assert_string_equal(sp.ctx.span_id, SID);
    assert_string_equal(sp.parent_span_id, "");
    assert_int_equal(sp.start_ns, 1000);
    assert_int_equal(sp.end_ns, 2000);
    assert_int_equal(
        trace_span_make(&sp, "x", TRACE_SERVER, TID, SID, "a0f067aa0ba902b7", false, 5, 5), RC_OK);
    assert_string_equal(sp.parent_span_id, "a0f067aa0ba902b7");
    assert_false(sp.ctx.sampled);
    const char *bad_ids[][3] = {
        {"4BF92F3577B34DA6A3CE929D0E0E4736", SID, ""},
        {"00000000000000000000000000000000", SID, ""},
        {TID, "0000000000000000", ""},
        {TID, SID, "0000000000000000"},
        {TID, SID, "00f067aa0ba902b"},
        {"4bf92f3577b34da6a3ce929d0e0e47", SID, ""},
        {TID, "zzf067aa0ba902b7", ""},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad_ids); i++)
        assert_int_equal(trace_span_make(&sp, "x", TRACE_SERVER, bad_ids[i][0], bad_ids[i][1],
                                         bad_ids[i][2], true, 1, 2),
                         RC_INVALID);
    assert_int_equal(trace_span_make(&sp, "x", TRACE_SERVER, NULL, SID, NULL, true, 1, 2),
                     RC_INVALID);
    assert_int_equal(trace_span_make(&sp, "x", TRACE_SERVER, TID, SID, NULL, true, 3, 2),
                     RC_INVALID); /* ends before it starts */
    assert_int_equal(trace_span_make(&sp, "x", TRACE_SERVER, TID, SID, NULL, true, 0, 2),
                     RC_INVALID);
}

static bool valid_utf8(const char *s)
{
    json_t *j = json_string(s); /* jansson refuses what is not UTF-8 */
    json_decref(j);
    return j != NULL;
}

static void test_span_strings_bounded_and_utf8(void **state)
{
    (void)state;
    struct trace_span sp;
    trace_span_begin(&sp, "caf\xc3\xa9 \xff\xfe broken \xc3", TRACE_INTERNAL, NULL);
    assert_string_equal(sp.name, "caf\xc3\xa9 ?? broken ?");
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname + TRACE_NAME_MAX - 3, "\xe2\x82\xac", 3); /* € across the end */
    longname[sizeof longname - 1] = '\0';
    trace_span_set_name(&sp, longname);
    assert_int_equal(strlen(sp.name), TRACE_NAME_MAX - 3); /* the € did not fit whole */
    assert_true(valid_utf8(sp.name));
    trace_span_set_error(&sp, "\xed\xa0\x80 surrogate");
    assert_true(sp.error);
    assert_true(valid_utf8(sp.status_message));
    assert_string_equal(sp.status_message, "??? surrogate");
}

static void test_attributes_bounded(void **state)
{
    (void)state;
    /* Attributes are kept only while spans are recorded: an exporter runs
     * (towards nothing; nothing is submitted). */
    struct trace_export_options o = {.endpoint = "http://127.0.0.1:9", .service_name = "t"};
    char err[256];
    assert_int_equal(trace_export_start(&o, err, sizeof err), RC_OK);
    struct trace_span sp;
    trace_span_begin(&sp, "x", TRACE_INTERNAL, NULL);
    assert_true(sp.recording);
    char value[200];
    memset(value, 'v', sizeof value);
    value[sizeof value - 1] = '\0';
    trace_span_attr_str(&sp, "a.long.key.that.goes.on.and.on.and.on", value);
    for (int i = 1; i < TRACE_ATTRS_MAX + 3; i++)
        trace_span_attr_int(&sp, "n", i);
    assert_int_equal(sp.nattrs, TRACE_ATTRS_MAX);
    assert_int_equal(sp.dropped_attrs, 3);
    assert_int_equal(strlen(sp.attrs[0].key), TRACE_ATTR_KEY_MAX - 1);
    assert_int_equal(strlen(sp.attrs[0].s), TRACE_ATTR_STR_MAX - 1);
    assert_true(sp.attrs[1].is_int && sp.attrs[1].i == 1);
    /* an unsampled context records nothing */
    struct trace_ctx unsampled;
    assert_true(parses("00-" TID "-" SID "-00", &unsampled));
    trace_span_begin(&sp, "x", TRACE_INTERNAL, &unsampled);
    assert_false(sp.recording);
    trace_span_attr_int(&sp, "n", 1);
    assert_int_equal(sp.nattrs, 0);
    trace_export_stop(0);
    assert_false(trace_export_is_running());
}

/* Span names hold standard methods only: whatever else a client sends is
 * "_OTHER", so names stay a bounded set. */
static void test_http_method_is_bounded(void **state)
{
    (void)state;
    assert_string_equal(trace_http_method("GET"), "GET");
    assert_string_equal(trace_http_method("PATCH"), "PATCH");
    assert_string_equal(trace_http_method("get"), "_OTHER");
    assert_string_equal(trace_http_method("BREW"), "_OTHER");
    assert_string_equal(trace_http_method(""), "_OTHER");
    assert_string_equal(trace_http_method(NULL), "_OTHER");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_http_method_is_bounded),
        cmocka_unit_test(test_parse_future_versions),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_child_contexts),
        cmocka_unit_test(test_ids_never_repeat),
        cmocka_unit_test(test_current_is_per_thread),
        cmocka_unit_test(test_span_without_exporter),
        cmocka_unit_test(test_span_make),
        cmocka_unit_test(test_span_strings_bounded_and_utf8),
        cmocka_unit_test(test_attributes_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
