/* Configuration from the environment: defaults, overrides, refusal of bad
 * values with a message naming the variable, and the documented table. */
#include "support/test_support.h"

#include "core/base/bug.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/config/config.h"

extern char **environ;

/* Removes every WEBTOON_* variable so each test starts from the defaults. */
static int clear_env(void **state)
{
    (void)state;
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            if (!strncmp(*e, "WEBTOON_", 8)) {
                const char *eq = strchr(*e, '=');
                size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
                if (len < sizeof name) {
                    memcpy(name, *e, len);
                    name[len] = '\0';
                }
                break;
            }
        }
        if (!name[0])
            return 0;
        unsetenv(name);
    }
}

static void set(enum config_id id, const char *value)
{
    assert_int_equal(setenv(config_name(id), value, 1), 0);
}

/* Loads with only <id>=<value> set and expects success. */
static void load_ok(struct config *cfg, enum config_id id, const char *value)
{
    clear_env(NULL);
    set(id, value);
    char err[256] = "";
    int rc = config_load(cfg, err, sizeof err);
    if (rc != RC_OK)
        fail_msg("%s=%s refused: %s", config_name(id), value, err);
}

/* Loads with only <id>=<value> set and expects RC_CONFIG naming <id>. */
static void load_refused(enum config_id id, const char *value)
{
    clear_env(NULL);
    set(id, value);
    struct config cfg;
    char err[256] = "";
    int rc = config_load(&cfg, err, sizeof err);
    if (rc != RC_CONFIG)
        fail_msg("%s=%s: expected RC_CONFIG, got %s", config_name(id), value, rc_name(rc));
    if (!strstr(err, config_name(id)))
        fail_msg("%s=%s: message does not name the variable: %s", config_name(id), value, err);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(config_name(CONFIG_DATA_DIR), "WEBTOON_DATA_DIR");
    assert_string_equal(config_name(CONFIG_LOG_LEVEL), "WEBTOON_LOG_LEVEL");
    assert_string_equal(config_name(CONFIG_RELAY_PAUSED), "WEBTOON_RELAY_PAUSED");
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    char err[256];
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    assert_string_equal(config_str(&cfg, CONFIG_DATA_DIR), "./var");
    assert_string_equal(config_str(&cfg, CONFIG_LISTEN_ADDR), "127.0.0.1");
    assert_string_equal(config_str(&cfg, CONFIG_STORE_URL), "");
    assert_string_equal(config_str(&cfg, CONFIG_EVENT_LOG), "");
    assert_string_equal(config_str(&cfg, CONFIG_TOPIC), "webtoon.events");
    assert_int_equal(config_int(&cfg, CONFIG_PORT), 0);
    assert_int_equal(config_int(&cfg, CONFIG_POINTER_PORT), 8082);
    assert_int_equal(config_int(&cfg, CONFIG_PURCHASE_PORT), 8086);
    assert_int_equal(config_int(&cfg, CONFIG_HTTP_MAX_BODY), 65536);
    assert_int_equal(config_int(&cfg, CONFIG_OUTBOX_RETENTION_MS), 86400000);
    assert_int_equal(config_int(&cfg, CONFIG_LOG_LEVEL), CONFIG_LEVEL_INFO);
    assert_false(config_bool(&cfg, CONFIG_RELAY_PAUSED));
    config_cleanup(&cfg);
}

static void test_overrides(void **state)
{
    (void)state;
    set(CONFIG_DATA_DIR, "/srv/webtoon");
    set(CONFIG_PORT, "9000");
    set(CONFIG_LOG_LEVEL, "debug");
    set(CONFIG_RELAY_PAUSED, "true");
    set(CONFIG_OUTBOX_RETENTION_MS, "31536000000"); /* the maximum, beyond 32 bits */
    struct config cfg;
    char err[256];
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    assert_string_equal(config_str(&cfg, CONFIG_DATA_DIR), "/srv/webtoon");
    assert_int_equal(config_int(&cfg, CONFIG_PORT), 9000);
    assert_int_equal(config_int(&cfg, CONFIG_LOG_LEVEL), CONFIG_LEVEL_DEBUG);
    assert_true(config_bool(&cfg, CONFIG_RELAY_PAUSED));
    assert_int_equal(config_int(&cfg, CONFIG_OUTBOX_RETENTION_MS), 31536000000LL);
    assert_int_equal(config_int(&cfg, CONFIG_POINTER_PORT), 8082); /* untouched */
    config_cleanup(&cfg);
}

static void test_int_bounds(void **state)
{
    (void)state;
    struct config cfg;
    load_ok(&cfg, CONFIG_PORT, "65535");
    assert_int_equal(config_int(&cfg, CONFIG_PORT), 65535);
    config_cleanup(&cfg);
    load_ok(&cfg, CONFIG_HTTP_THREADS, "1");
    assert_int_equal(config_int(&cfg, CONFIG_HTTP_THREADS), 1);
    config_cleanup(&cfg);
    load_ok(&cfg, CONFIG_HTTP_THREADS, "64");
    config_cleanup(&cfg);
    load_refused(CONFIG_PORT, "65536");
    load_refused(CONFIG_PORT, "-1");
    load_ok(&cfg, CONFIG_HTTP_THREADS, "0"); /* one per usable CPU */
    config_cleanup(&cfg);
    load_refused(CONFIG_HTTP_THREADS, "65");
    load_refused(CONFIG_HTTP_MAX_BODY, "1023");
    load_refused(CONFIG_INBOX_RETENTION_MS, "59999");
    load_refused(CONFIG_OUTBOX_RETENTION_MS, "31536000001");
}

static void test_int_syntax(void **state)
{
    (void)state;
    const char *bad[] = {"abc",
                         "80x",
                         "80 ",
                         "8 0",
                         "1e3",
                         "0x10",
                         "1.5",
                         "-",
                         "+",
                         "99999999999999999999",
                         "-99999999999999999999",
                         " "};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        load_refused(CONFIG_POINTER_PORT, bad[i]);
}

static void test_bool(void **state)
{
    (void)state;
    const char *yes[] = {"true", "1", "yes"}, *no[] = {"false", "0", "no"};
    struct config cfg;
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        load_ok(&cfg, CONFIG_RELAY_PAUSED, yes[i]);
        assert_true(config_bool(&cfg, CONFIG_RELAY_PAUSED));
        config_cleanup(&cfg);
        load_ok(&cfg, CONFIG_RELAY_PAUSED, no[i]);
        assert_false(config_bool(&cfg, CONFIG_RELAY_PAUSED));
        config_cleanup(&cfg);
    }
    const char *bad[] = {"on", "2", "truee", "y", "-1"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        load_refused(CONFIG_RELAY_PAUSED, bad[i]);
}

static void test_level(void **state)
{
    (void)state;
    const char *names[] = {"debug", "info", "warn", "error"};
    const int levels[] = {CONFIG_LEVEL_DEBUG, CONFIG_LEVEL_INFO, CONFIG_LEVEL_WARN,
                          CONFIG_LEVEL_ERROR};
    struct config cfg;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        load_ok(&cfg, CONFIG_LOG_LEVEL, names[i]);
        assert_int_equal(config_int(&cfg, CONFIG_LOG_LEVEL), levels[i]);
        config_cleanup(&cfg);
    }
    load_refused(CONFIG_LOG_LEVEL, "verbose");
    load_refused(CONFIG_LOG_LEVEL, "warning");
    load_refused(CONFIG_LOG_LEVEL, "infos");
    load_refused(CONFIG_LOG_LEVEL, "0");
}

static void test_string_length(void **state)
{
    (void)state;
    char s[1100];
    struct config cfg;
    memset(s, 'a', sizeof s);
    s[200] = '\0';
    load_ok(&cfg, CONFIG_TOPIC, s);
    assert_int_equal(strlen(config_str(&cfg, CONFIG_TOPIC)), 200);
    config_cleanup(&cfg);
    s[200] = 'a';
    s[201] = '\0';
    load_refused(CONFIG_TOPIC, s);
    s[201] = 'a';
    s[65] = '\0';
    load_refused(CONFIG_LISTEN_ADDR, s);
    s[65] = 'a';
    s[1025] = '\0';
    load_refused(CONFIG_DATA_DIR, s);
    s[1024] = '\0';
    load_ok(&cfg, CONFIG_DATA_DIR, s);
    config_cleanup(&cfg);
}

static void test_empty_means_default(void **state)
{
    (void)state;
    set(CONFIG_DATA_DIR, "");
    set(CONFIG_POINTER_PORT, "");
    set(CONFIG_LOG_LEVEL, "");
    set(CONFIG_RELAY_PAUSED, "");
    set(CONFIG_TOPIC, "");
    struct config cfg;
    char err[256];
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    assert_string_equal(config_str(&cfg, CONFIG_DATA_DIR), "./var");
    assert_int_equal(config_int(&cfg, CONFIG_POINTER_PORT), 8082);
    assert_int_equal(config_int(&cfg, CONFIG_LOG_LEVEL), CONFIG_LEVEL_INFO);
    assert_false(config_bool(&cfg, CONFIG_RELAY_PAUSED));
    assert_string_equal(config_str(&cfg, CONFIG_TOPIC), "webtoon.events");
    config_cleanup(&cfg);
}

/* The first bad variable is reported, and nothing loaded so far leaks
 * (LeakSanitizer checks the strings copied before the failure). */
static void test_failure_after_strings(void **state)
{
    (void)state;
    set(CONFIG_DATA_DIR, "/data");
    set(CONFIG_RETRY_MAX_MS, "soon");
    struct config cfg;
    char err[256];
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_CONFIG);
    assert_non_null(strstr(err, "WEBTOON_RETRY_MAX_MS"));
    assert_non_null(strstr(err, "soon"));
    config_cleanup(&cfg); /* harmless after a failed load */
}

static void test_str_for_service(void **state)
{
    (void)state;
    struct config cfg;
    char out[64];
    load_ok(&cfg, CONFIG_STORE_URL, "postgres://db:5432/webtoon_{service}?app={service}");
    config_str_for(&cfg, CONFIG_STORE_URL, "pointer", out, sizeof out);
    assert_string_equal(out, "postgres://db:5432/webtoon_pointer?app=pointer");
    char small[16];
    config_str_for(&cfg, CONFIG_STORE_URL, "pointer", small, sizeof small);
    assert_string_equal(small, "postgres://db:5"); /* truncated, still terminated */
    config_cleanup(&cfg);
    load_ok(&cfg, CONFIG_UPSTREAM_HOST, "{service");
    config_str_for(&cfg, CONFIG_UPSTREAM_HOST, "web", out, sizeof out);
    assert_string_equal(out, "{service"); /* not the placeholder: kept as it is */
    config_cleanup(&cfg);
    clear_env(NULL);
    assert_int_equal(config_load(&cfg, out, sizeof out), RC_OK);
    config_str_for(&cfg, CONFIG_UPSTREAM_HOST, "web", out, sizeof out);
    assert_string_equal(out, "127.0.0.1");
    config_cleanup(&cfg);
}

static void test_markdown_lists_every_variable(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    config_write_markdown(out);
    assert_int_equal(fclose(out), 0);
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + CONFIG__COUNT);
    assert_true(!strncmp(text, "| variable | default |", 22));
    for (int id = 0; id < CONFIG__COUNT; id++) {
        char cell[128];
        snprintf(cell, sizeof cell, "\n| `%s` |", config_name((enum config_id)id));
        if (!strstr(text, cell))
            fail_msg("%s missing from the table", config_name((enum config_id)id));
    }
    assert_non_null(strstr(text, "| `WEBTOON_POINTER_PORT` | `8082` | 1–65535 |"));
    assert_non_null(strstr(text, "| `WEBTOON_STORE_URL` | `(empty)` |"));
    free(text);
}

static void test_oom(void **state)
{
    (void)state;
    set(CONFIG_DATA_DIR, "/data");
    for (long i = 0;; i++) {
        assert_true(i < 100);
        struct config cfg;
        char err[256] = "";
        mem_fail_after(i);
        int rc = config_load(&cfg, err, sizeof err);
        mem_fail_reset();
        if (rc == RC_OK) {
            assert_string_equal(config_str(&cfg, CONFIG_DATA_DIR), "/data");
            config_cleanup(&cfg);
            break;
        }
        assert_int_equal(rc, RC_NOMEM);
        assert_true(strlen(err) > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_names, clear_env),
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_overrides, clear_env),
        cmocka_unit_test_setup(test_int_bounds, clear_env),
        cmocka_unit_test_setup(test_int_syntax, clear_env),
        cmocka_unit_test_setup(test_bool, clear_env),
        cmocka_unit_test_setup(test_level, clear_env),
        cmocka_unit_test_setup(test_string_length, clear_env),
        cmocka_unit_test_setup(test_empty_means_default, clear_env),
        cmocka_unit_test_setup(test_failure_after_strings, clear_env),
        cmocka_unit_test_setup(test_str_for_service, clear_env),
        cmocka_unit_test_setup(test_markdown_lists_every_variable, clear_env),
        cmocka_unit_test_setup(test_oom, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
