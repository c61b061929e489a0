/* The Redis client: hash slots and redirections as the cluster spec defines
 * them, the URLs it accepts, and, against fake cluster nodes on loopback
 * that answer as Redis would, that it follows MOVED (and keeps the new
 * owner), follows ASK for one command only, loads a script where a node
 * does not know it, and scans every primary. */
#include "support/test_support.h"

#include <poll.h>
#include <pthread.h>

#include "core/base/bug.h"
#include "core/base/rc.h"
#include "core/redis/rcli.h"

static void test_key_slots_are_redis_ones(void **state)
{
    (void)state;
    /* from `redis-cli cluster keyslot` on Redis 7.0 */
    static const struct {
        const char *key;
        unsigned slot;
    } cases[] = {
        {"foo", 12182},
        {"bar", 5061},
        {"hello", 866},
        {"123456789", 12739},
        {"{user1000}.following", 3443},
        {"foo{}{bar}", 8363},    /* an empty tag: the whole key */
        {"foo{{bar}}zap", 4015}, /* the tag is "{bar" */
        {"foo{bar}{zap}", 5061}, /* the first tag: "bar" */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        assert_int_equal(rcli_key_slot(cases[i].key, strlen(cases[i].key)), cases[i].slot);
}

static void test_redirections_are_parsed(void **state)
{
    (void)state;
    struct rcli_redirect r;
    assert_int_equal(rcli_parse_redirect("MOVED 3999 127.0.0.1:6381", &r), RC_OK);
    assert_false(r.ask);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);
    assert_int_equal(rcli_parse_redirect("ASK 16383 ::1:7000", &r), RC_OK);
    assert_true(r.ask);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "::1");
    assert_int_equal(rcli_parse_redirect("MOVED 1 :6380", &r), RC_OK); /* the node that answered */
    assert_string_equal(r.host, "");
    static const char *const not_redirects[] = {
        "ERR unknown command", "MOVED",      "MOVED 16384 h:1", "MOVED -1 h:1",
        "MOVED x h:1",         "MOVED 1 h",  "MOVED 1 h:",      "MOVED 1 h:0",
        "MOVED 1 h:65536",     "ASK 1 h:1x", "MOVED 1  h:1x",
    };
    for (size_t i = 0; i < ARRAY_LEN(not_redirects); i++)
        assert_int_equal(rcli_parse_redirect(not_redirects[i], &r), RC_INVALID);
}

static void test_urls(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        int rc;
        bool cluster;
    } cases[] = {
        {"redis://localhost", RC_OK, false},
        {"redis://127.0.0.1:6380/3", RC_OK, false},
        {"redis://h/", RC_OK, false},
        {"redis+cluster://a:7000", RC_OK, true},
        {"redis+cluster://a:7000,b:7001,a:7000", RC_OK, true},
        {"redis://", RC_CONFIG, false},
        {"redis://h:0", RC_CONFIG, false},
        {"redis://h/x", RC_CONFIG, false},
        {"redis://h/1001", RC_CONFIG, false},
        {"redis+cluster://", RC_CONFIG, false},
        {"redis+cluster://a", RC_CONFIG, false}, /* a cluster's nodes need their ports */
        {"redis+cluster://a:7000,", RC_CONFIG, false},
        {"redis+cluster://a:7000/0", RC_CONFIG, false},
        {"redis+cluster://:7000", RC_CONFIG, false},
        {"rediss://h", RC_CONFIG, false},
        {"", RC_CONFIG, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct rcli *c = NULL;
        int rc = rcli_new(cases[i].url, &c);
        if (rc != cases[i].rc)
            fail_msg("%s: %d, not %d", cases[i].url, rc, cases[i].rc);
        if (c)
            assert_int_equal(rcli_is_cluster(c), cases[i].cluster);
        rcli_free(c);
    }
}

/* --- fake nodes ------------------------------------------------------------------ */

#define FAKE_ARGS 8
#define FAKE_LOG 16

/* One fake node: a thread serving RESP commands on 127.0.0.1:<port> with
 * <answer>, logging each command's first words. */
struct fake {
    int listen_fd, port;
    pthread_t thread;
    volatile bool stop;
    /* Writes the RESP answer to <argv> into <out> (of <size>). */
    void (*answer)(struct fake *f, int argc, char argv[][128], char *out, size_t size);
    struct fake *peer; /* the other node, for redirections */
    bool moved;        /* a slot moved to <peer> */
    bool asking;       /* the last command was ASKING */
    bool loaded;       /* the script is loaded */
    int nlog;
    char log[FAKE_LOG][64];
};

/* Reads one CRLF-terminated line from <fd> into <out>; false at EOF. */
static bool fake_line(int fd, char *out, size_t size)
{
    size_t n = 0;
    char ch;
    while (read(fd, &ch, 1) == 1) {
        if (ch == '\n') {
            out[n > 0 ? n - 1 : 0] = '\0';
            return true;
        }
        if (n + 1 < size)
            out[n++] = ch;
    }
    return false;
}

static void fake_serve(struct fake *f, int fd)
{
    char line[256], argv[FAKE_ARGS][128], out[1024];
    while (fake_line(fd, line, sizeof line) && line[0] == '*') {
        int argc = (int)strtol(line + 1, NULL, 10);
        for (int i = 0; i < argc; i++) {
            char arg[256] = "";
            if (!fake_line(fd, line, sizeof line) || !fake_line(fd, arg, sizeof arg))
                return;
            if (i < FAKE_ARGS)
                snprintf(argv[i], sizeof argv[i], "%.127s", arg);
        }
        if (f->nlog < FAKE_LOG)
            snprintf(f->log[f->nlog++], sizeof f->log[0], "%.15s%s%.45s", argv[0],
                     argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
        f->answer(f, argc < FAKE_ARGS ? argc : FAKE_ARGS, argv, out, sizeof out);
        f->asking = !strcmp(argv[0], "ASKING");
        if (write(fd, out, strlen(out)) < 0)
            return;
    }
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    while (!f->stop) {
        struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 20) != 1)
            continue;
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd >= 0) {
            fake_serve(f, fd);
            close(fd);
        }
    }
    return NULL;
}

static void fake_start(struct fake *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->listen_fd >= 0);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->listen_fd, 4), 0);
    assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
    f->stop = true;
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
}

/* The client's connections end before the fakes stop: each serves one at a time. */
static void fake_log_is(const struct fake *f, const char *const *want, int n)
{
    for (int i = 0; i < n && i < f->nlog; i++)
        assert_string_equal(f->log[i], want[i]);
    assert_int_equal(f->nlog, n);
}

/* A client of the server or cluster <f> stands for (its seed). */
static struct rcli *fake_client(const struct fake *f, bool cluster)
{
    char url[64];
    struct rcli *c = NULL;
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", cluster ? "redis+cluster" : "redis", f->port);
    assert_int_equal(rcli_new(url, &c), RC_OK);
    return c;
}

/* GET k on <c> answers <want>. */
static void get_is(struct rcli *c, const char *want)
{
    const char *get[] = {"GET", "k"};
    redisReply *r = rcli_command(c, "k", 2, get);
    assert_non_null(r);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
}

/* CLUSTER SLOTS: slots 0..<split>-1 on <a>, the rest on <b> (<split> 16384: all on <a>). */
static void fake_slots(const struct fake *a, const struct fake *b, int split, char *out,
                       size_t size)
{
    if (split >= RCLI_SLOTS)
        snprintf(out, size, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
                 a->port);
    else
        snprintf(out, size,
                 "*2\r\n*3\r\n:0\r\n:%d\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n"
                 "*3\r\n:%d\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
                 split - 1, a->port, split, b->port);
}

static bool is(const char *arg, const char *word) { return !strcasecmp(arg, word); }

/* --- MOVED --------------------------------------------------------------------- */

/* The first node: owns every slot until it answers MOVED, then names its peer. */
static void moved_from(struct fake *f, int argc, char argv[][128], char *out, size_t size)
{
    (void)argc;
    if (is(argv[0], "CLUSTER"))
        fake_slots(f->moved ? f->peer : f, NULL, RCLI_SLOTS, out, size);
    else {
        f->moved = true;
        snprintf(out, size, "-MOVED %u 127.0.0.1:%d\r\n", rcli_key_slot(argv[1], strlen(argv[1])),
                 f->peer->port);
    }
}

static void value_here(struct fake *f, int argc, char argv[][128], char *out, size_t size)
{
    (void)argc;
    if (is(argv[0], "CLUSTER"))
        fake_slots(f, NULL, RCLI_SLOTS, out, size);
    else
        snprintf(out, size, "$4\r\nhere\r\n");
}

static void test_moved_is_followed_and_the_new_owner_kept(void **state)
{
    (void)state;
    struct fake a = {.answer = moved_from}, b = {.answer = value_here};
    a.peer = &b;
    fake_start(&a);
    fake_start(&b);
    struct rcli *c = fake_client(&a, true);
    get_is(c, "here");
    get_is(c, "here");
    rcli_free(c);
    fake_stop(&a);
    fake_stop(&b);
    /* the map, then the command; after MOVED the map again, which now names b */
    const char *want_a[] = {"CLUSTER SLOTS", "GET k", "CLUSTER SLOTS"};
    const char *want_b[] = {"GET k", "GET k"};
    fake_log_is(&a, want_a, 3);
    fake_log_is(&b, want_b, 2);
}

/* --- ASK ----------------------------------------------------------------------- */

static void ask_from(struct fake *f, int argc, char argv[][128], char *out, size_t size)
{
    (void)argc;
    if (is(argv[0], "CLUSTER"))
        fake_slots(f, NULL, RCLI_SLOTS, out, size);
    else if (f->moved)
        snprintf(out, size, "$5\r\nowner\r\n");
    else {
        f->moved = true; /* the next one is served here: the migration is done */
        snprintf(out, size, "-ASK %u 127.0.0.1:%d\r\n", rcli_key_slot(argv[1], strlen(argv[1])),
                 f->peer->port);
    }
}

/* Serves a command only after ASKING, as a node importing the slot does. */
static void importing(struct fake *f, int argc, char argv[][128], char *out, size_t size)
{
    (void)argc;
    if (is(argv[0], "ASKING"))
        snprintf(out, size, "+OK\r\n");
    else if (f->asking)
        snprintf(out, size, "$9\r\nimporting\r\n");
    else
        snprintf(out, size, "-MOVED %u 127.0.0.1:%d\r\n", rcli_key_slot(argv[1], strlen(argv[1])),
                 f->peer->port);
}

static void test_ask_is_followed_for_one_command(void **state)
{
    (void)state;
    struct fake a = {.answer = ask_from}, b = {.answer = importing};
    a.peer = &b;
    b.peer = &a;
    fake_start(&a);
    fake_start(&b);
    struct rcli *c = fake_client(&a, true);
    get_is(c, "importing");
    get_is(c, "owner"); /* the slot's owner is still a */
    rcli_free(c);
    fake_stop(&a);
    fake_stop(&b);
    const char *want_a[] = {"CLUSTER SLOTS", "GET k", "GET k"};
    const char *want_b[] = {"ASKING", "GET k"};
    fake_log_is(&a, want_a, 3);
    fake_log_is(&b, want_b, 2);
}

/* --- scripts ------------------------------------------------------------------- */

static void knows_a_script_once_loaded(struct fake *f, int argc, char argv[][128], char *out,
                                       size_t size)
{
    (void)argc;
    if (is(argv[0], "SCRIPT")) {
        f->loaded = !strcmp(argv[2], "return 1");
        snprintf(out, size, "$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n");
    } else if (f->loaded && !strcmp(argv[1], "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")) {
        snprintf(out, size, ":1\r\n");
    } else {
        snprintf(out, size, "-NOSCRIPT No matching script. Please use EVAL.\r\n");
    }
}

static void test_a_script_is_loaded_where_it_is_missing(void **state)
{
    (void)state;
    struct fake a = {.answer = knows_a_script_once_loaded};
    fake_start(&a);
    struct rcli *c = fake_client(&a, false);
    struct rcli_script s;
    rcli_script_init(&s, "return 1");
    assert_string_equal(s.sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    const char *keys[] = {"k"}, *args[] = {"x"};
    for (int i = 0; i < 2; i++) {
        redisReply *r = rcli_eval(c, &s, 1, keys, 1, args);
        assert_non_null(r);
        assert_int_equal(r->integer, 1);
        freeReplyObject(r);
    }
    rcli_free(c);
    fake_stop(&a);
    const char *want[] = {"EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "SCRIPT LOAD",
                          "EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
                          "EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db"};
    fake_log_is(&a, want, 4);
}

/* --- scans ----------------------------------------------------------------------- */

/* Owns half the slots; SCAN finds one key named after its port. */
static void half_of_the_keys(struct fake *f, int argc, char argv[][128], char *out, size_t size)
{
    (void)argc;
    if (is(argv[0], "CLUSTER")) {
        fake_slots(f->moved ? f->peer : f, f->moved ? f : f->peer, 8192, out, size);
    } else {
        char key[16];
        snprintf(key, sizeof key, "k%d", f->port);
        snprintf(out, size, "*2\r\n$1\r\n0\r\n*1\r\n$%zu\r\n%s\r\n", strlen(key), key);
    }
}

static int collect(void *arg, const char *key)
{
    char *seen = arg;
    size_t n = strlen(seen);
    snprintf(seen + n, 64 - n, "%s%s", n ? " " : "", key);
    return RC_OK;
}

static void test_a_scan_covers_every_primary(void **state)
{
    (void)state;
    struct fake a = {.answer = half_of_the_keys}, b = {.answer = half_of_the_keys, .moved = true};
    a.peer = &b;
    b.peer = &a;
    fake_start(&a);
    fake_start(&b);
    char seen[64] = "", want[64];
    struct rcli *c = fake_client(&a, true);
    assert_int_equal(rcli_scan(c, "*", collect, seen), RC_OK);
    rcli_free(c);
    fake_stop(&a);
    fake_stop(&b);
    snprintf(want, sizeof want, "k%d k%d", a.port, b.port);
    assert_string_equal(seen, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_slots_are_redis_ones),
        cmocka_unit_test(test_redirections_are_parsed),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_moved_is_followed_and_the_new_owner_kept),
        cmocka_unit_test(test_ask_is_followed_for_one_command),
        cmocka_unit_test(test_a_script_is_loaded_where_it_is_missing),
        cmocka_unit_test(test_a_scan_covers_every_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
