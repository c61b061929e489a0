/* The S3 blob store against a real S3 server (SeaweedFS, scripts/s3.sh):
 * the backend contract (support/blob_contract.h), bucket creation, refused
 * credentials, a server that is down, one that never answers, one that
 * answers 503, and a server restart under an open store.
 *
 * WEBTOON_S3_ENDPOINT names the server (CTest's s3 fixture starts one);
 * without it every test is skipped. The keys come from WEBTOON_S3_ACCESS_KEY
 * and WEBTOON_S3_SECRET_KEY, or from the keys file of scripts/s3.sh that
 * WEBTOON_TEST_S3_KEYS names. When WEBTOON_TEST_S3_SCRIPT names
 * scripts/s3.sh, one test also stops and restarts the server. */
#include "support/test_support.h"

#include "core/base/id.h"
#include "support/blob_contract.h"

#define TEST_BUCKET "webtoon-test"

struct fixture {
    char endpoint[256];
    char access_key[128];
    char secret_key[128];
    char prefix[32]; /* this run's keys: runs share the bucket */
    struct blob_store *b;
};

static struct blob_s3_settings settings_of(const struct fixture *f)
{
    return (struct blob_s3_settings){.endpoint = f->endpoint,
                                     .region = "us-east-1",
                                     .access_key = f->access_key,
                                     .secret_key = f->secret_key,
                                     .timeout_ms = 10000};
}

/* Reads "name=value" lines of the keys file <path> into <f>. */
static void read_keys(struct fixture *f, const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in)
        fail_msg("cannot read the S3 keys in %s", path);
    char line[sizeof f->secret_key + 11]; /* "secret_key=" and a value that fits */
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "access_key=", 11))
            snprintf(f->access_key, sizeof f->access_key, "%s", line + 11);
        if (!strncmp(line, "secret_key=", 11))
            snprintf(f->secret_key, sizeof f->secret_key, "%s", line + 11);
    }
    fclose(in);
}

static struct blob_store *open_bucket(const char *bucket, const struct blob_s3_settings *s3)
{
    char url[128], err[512] = "";
    struct blob_store *b = NULL;
    snprintf(url, sizeof url, "s3://%s", bucket);
    if (blob_open(url, "/unused", s3, &b, err, sizeof err) != RC_OK)
        fail_msg("blob_open %s: %s", url, err);
    return b;
}

static int setup(void **state)
{
    const char *endpoint = getenv("WEBTOON_S3_ENDPOINT");
    if (!endpoint || !*endpoint)
        skip();
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->endpoint, sizeof f->endpoint, "%s", endpoint);
    const char *keys = getenv("WEBTOON_TEST_S3_KEYS");
    if (getenv("WEBTOON_S3_ACCESS_KEY") && *getenv("WEBTOON_S3_ACCESS_KEY")) {
        snprintf(f->access_key, sizeof f->access_key, "%s", getenv("WEBTOON_S3_ACCESS_KEY"));
        snprintf(f->secret_key, sizeof f->secret_key, "%s", getenv("WEBTOON_S3_SECRET_KEY"));
    } else if (keys && *keys) {
        read_keys(f, keys);
    }
    char uuid[ID_UUID_LEN + 1];
    id_uuid(uuid);
    snprintf(f->prefix, sizeof f->prefix, "unit-%.8s", uuid);
    struct blob_s3_settings s3 = settings_of(f);
    f->b = open_bucket(TEST_BUCKET, &s3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    blob_close(f->b);
    free(f);
    return 0;
}

BLOB_CONTRACT_TESTS

static void test_a_missing_bucket_is_created(void **state)
{
    struct fixture *f = *state;
    char bucket[32], uuid[ID_UUID_LEN + 1];
    id_uuid(uuid);
    snprintf(bucket, sizeof bucket, "wt-%.8s", uuid);
    struct blob_s3_settings s3 = settings_of(f);
    struct blob_store *b = open_bucket(bucket, &s3);
    assert_int_equal(blob_put(b, "cover", "c", 1, "image/png"), RC_OK);
    blob_close(b);
    /* Opening it again finds it, with its object. */
    b = open_bucket(bucket, &s3);
    blob_contract_expect(b, "cover", "c", 1);
    blob_close(b);
}

static void test_the_settings_open_it(void **state)
{
    struct fixture *f = *state;
    setenv("WEBTOON_BLOB_URL", "s3://" TEST_BUCKET, 1);
    setenv("WEBTOON_S3_ENDPOINT", f->endpoint, 1);
    setenv("WEBTOON_S3_ACCESS_KEY", f->access_key, 1);
    setenv("WEBTOON_S3_SECRET_KEY", f->secret_key, 1);
    struct config cfg;
    char err[512] = "";
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    struct blob_store *b = NULL;
    assert_int_equal(blob_open_config(&cfg, &b, err, sizeof err), RC_OK);
    char key[BLOB_KEY_MAX + 1];
    blob_contract_key(key, sizeof key, f->prefix, "from-settings");
    assert_int_equal(blob_put(b, key, "yes", 3, NULL), RC_OK);
    blob_contract_expect(f->b, key, "yes", 3);
    blob_close(b);
    config_cleanup(&cfg);
}

/* Opens <bucket> with <s3>, which must fail with <want>; returns the
 * reason in <err>. */
static void open_fails(const struct blob_s3_settings *s3, int want, char *err, size_t errlen)
{
    struct blob_store *b = NULL;
    err[0] = '\0';
    assert_int_equal(blob_open("s3://" TEST_BUCKET, "/unused", s3, &b, err, errlen), want);
    assert_null(b);
    assert_true(strlen(err) > 0);
}

static void test_refused_credentials_say_so(void **state)
{
    struct fixture *f = *state;
    char err[512];
    struct blob_s3_settings s3 = settings_of(f);
    s3.secret_key = "not-the-secret-at-all";
    open_fails(&s3, RC_FORBIDDEN, err, sizeof err);
    assert_non_null(strstr(err, f->access_key));
    assert_non_null(strstr(err, "WEBTOON_S3_SECRET_KEY"));
    assert_null(strstr(err, "not-the-secret-at-all"));
    assert_null(strstr(err, f->secret_key));

    s3 = settings_of(f);
    s3.access_key = "WTNOSUCHKEY";
    open_fails(&s3, RC_FORBIDDEN, err, sizeof err);
    assert_non_null(strstr(err, "WTNOSUCHKEY"));
}

static void test_bad_settings_are_refused(void **state)
{
    struct fixture *f = *state;
    char err[512];
    struct blob_s3_settings s3 = settings_of(f);
    s3.secret_key = "";
    open_fails(&s3, RC_CONFIG, err, sizeof err);
    s3 = settings_of(f);
    s3.endpoint = "127.0.0.1:9";
    open_fails(&s3, RC_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "WEBTOON_S3_ENDPOINT"));
    s3 = settings_of(f);
    const char *buckets[] = {"s3://Upper", "s3://ab", "s3://-dash", "s3://a_b", "s3://a/b"};
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        struct blob_store *b = NULL;
        assert_int_equal(blob_open(buckets[i], "/unused", &s3, &b, err, sizeof err), RC_CONFIG);
        assert_null(b);
    }
}

/* A loopback listener; <out> gets its port. With <close_it> it is closed
 * again at once, leaving a port nobody listens on. */
static int listener(int *out, bool close_it)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *out = ntohs(addr.sin_port);
    if (close_it) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_a_server_that_is_down_is_unavailable(void **state)
{
    struct fixture *f = *state;
    char endpoint[64], err[512];
    int port = 0;
    listener(&port, true);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    struct blob_s3_settings s3 = settings_of(f);
    s3.endpoint = endpoint;
    open_fails(&s3, RC_UNAVAILABLE, err, sizeof err);
    assert_non_null(strstr(err, endpoint));
}

static void test_a_server_that_never_answers_times_out(void **state)
{
    struct fixture *f = *state;
    char endpoint[64], err[512];
    int port = 0;
    /* The kernel completes the connection; nobody ever reads or answers. */
    int fd = listener(&port, false);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    struct blob_s3_settings s3 = settings_of(f);
    s3.endpoint = endpoint;
    s3.timeout_ms = 300;
    open_fails(&s3, RC_UNAVAILABLE, err, sizeof err);
    assert_non_null(strstr(err, "imeout")); /* libcurl's "Timeout was reached" */
    close(fd);
}

/* A stand-in for an S3 server in trouble: answers every request on <fd>
 * with 503 SlowDown, as S3 does when overloaded, until the listener
 * closes. */
static void *answer_503(void *arg)
{
    int fd = *(int *)arg;
    static const char body[] = "<Error><Code>SlowDown</Code><Message>Reduce your request rate."
                               "</Message></Error>";
    char reply[512];
    int len = snprintf(reply, sizeof reply,
                       "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                       sizeof body - 1, body);
    for (int c; (c = accept(fd, NULL, NULL)) >= 0;) {
        char request[8192] = "";
        size_t got = 0;
        for (ssize_t n; got < sizeof request - 1 && !strstr(request, "\r\n\r\n") &&
                        (n = read(c, request + got, sizeof request - 1 - got)) > 0;)
            got += (size_t)n;
        assert_true(write(c, reply, (size_t)len) == len);
        close(c);
    }
    return NULL;
}

static void test_a_server_error_is_unavailable_with_its_reason(void **state)
{
    struct fixture *f = *state;
    char endpoint[64], err[512];
    int port = 0;
    int fd = listener(&port, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, answer_503, &fd), 0);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    struct blob_s3_settings s3 = settings_of(f);
    s3.endpoint = endpoint;
    open_fails(&s3, RC_UNAVAILABLE, err, sizeof err);
    assert_non_null(strstr(err, "HTTP 503 SlowDown: Reduce your request rate."));
    shutdown(fd, SHUT_RDWR); /* ends accept() */
    pthread_join(thread, NULL);
    close(fd);
}

static int run_script(const char *script, const char *verb)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' %s >&2", script, verb);
    return system(cmd);
}

static void test_a_server_restart_under_an_open_store(void **state)
{
    struct fixture *f = *state;
    const char *script = getenv("WEBTOON_TEST_S3_SCRIPT");
    if (!script || !*script)
        skip();
    char key[BLOB_KEY_MAX + 1];
    struct buf got;
    buf_init(&got, 1024);
    blob_contract_key(key, sizeof key, f->prefix, "restart");
    assert_int_equal(blob_put(f->b, key, "before", 6, NULL), RC_OK);
    assert_int_equal(run_script(script, "stop"), 0);
    /* Down: each call fails at once as unavailable. */
    assert_int_equal(blob_put(f->b, key, "during", 6, NULL), RC_UNAVAILABLE);
    assert_int_equal(blob_get(f->b, key, &got), RC_UNAVAILABLE);
    assert_int_equal(blob_delete(f->b, key), RC_UNAVAILABLE);
    assert_int_equal(run_script(script, "start"), 0);
    /* Back: the same store works again, and nothing was half-written. */
    blob_contract_expect(f->b, key, "before", 6);
    assert_int_equal(blob_put(f->b, key, "after", 5, NULL), RC_OK);
    blob_contract_expect(f->b, key, "after", 5);
    buf_cleanup(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_missing_bucket_is_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_settings_open_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_credentials_say_so, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_settings_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_server_that_is_down_is_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_server_that_never_answers_times_out, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_server_error_is_unavailable_with_its_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_server_restart_under_an_open_store, setup, teardown),
        BLOB_CONTRACT_ENTRIES /* the shared contract */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
