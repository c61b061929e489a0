/* The directory blob store: the backend contract (support/blob_contract.h)
 * on a fresh directory, a put that crashes halfway (the old object stays
 * whole under its key), where objects land on disk, keys that would need a
 * file and a directory of one name, out of memory at each allocation, and
 * the URLs blob_open accepts. */
#include "support/test_support.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/base/mem.h"
#include "support/blob_contract.h"

struct fixture {
    char dir[512];
    const char *prefix; /* of the contract's keys */
    struct blob_store *b;
};

static struct blob_store *open_ok(const char *url, const char *data_dir)
{
    struct blob_store *b = NULL;
    char err[256] = "";
    if (blob_open(url, data_dir, NULL, &b, err, sizeof err) != RC_OK)
        fail_msg("blob_open %s: %s", url, err);
    return b;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir);
    f->prefix = "run";
    f->b = open_ok("", f->dir); /* the default: <data_dir>/blobs */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    blob_close(f->b);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

BLOB_CONTRACT_TESTS

static void test_objects_are_files_under_the_data_directory(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(blob_put(f->b, "img/ab12/thumb", "thumb", 5, "image/webp"), RC_OK);
    char path[700];
    snprintf(path, sizeof path, "%s/blobs/img/ab12/thumb", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 5);
    /* A store opened again on the same directory sees it. */
    struct blob_store *again = open_ok("", f->dir);
    blob_contract_expect(again, "img/ab12/thumb", "thumb", 5);
    blob_close(again);
}

/* Counts the entries of <dir> whose name starts with <prefix>. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

static void test_a_put_that_crashes_halfway_leaves_the_old_object(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(blob_put(f->b, "pages/1", "old page", 8, NULL), RC_OK);
    size_t big = 4u << 20;
    char *data = malloc(big);
    assert_non_null(data);
    memset(data, 'n', big);
    /* The child dies in the middle of writing: the kernel refuses to let a
     * file grow past 1 MiB and kills it (SIGXFSZ), as a crash or power cut
     * would stop it at any point. */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit fsize = {.rlim_cur = 1u << 20, .rlim_max = 1u << 20}, core = {0, 0};
        setrlimit(RLIMIT_CORE, &core);
        setrlimit(RLIMIT_FSIZE, &fsize);
        signal(SIGXFSZ, SIG_DFL);
        blob_put(f->b, "pages/1", data, big, NULL);
        _exit(0); /* not reached when the limit works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGXFSZ);
    /* The key still gives the old object, whole; the half-written copy sits
     * under a name no key can reach. */
    blob_contract_expect(f->b, "pages/1", "old page", 8);
    char dir[700];
    snprintf(dir, sizeof dir, "%s/blobs/pages", f->dir);
    assert_int_equal(count_entries(dir, "~"), 1);
    /* The next put works and replaces it. */
    assert_int_equal(blob_put(f->b, "pages/1", data, big, NULL), RC_OK);
    blob_contract_expect(f->b, "pages/1", data, big);
    free(data);
}

static void test_a_failed_put_leaves_no_temporary_file(void **state)
{
    struct fixture *f = *state;
    /* "series" is an object, so "series/cover" cannot be one in a directory. */
    assert_int_equal(blob_put(f->b, "series", "s", 1, NULL), RC_OK);
    assert_int_equal(blob_put(f->b, "series/cover", "c", 1, NULL), RC_CONFLICT);
    assert_int_equal(blob_put(f->b, "img/x/full", "x", 1, NULL), RC_OK);
    assert_int_equal(blob_put(f->b, "img/x", "x", 1, NULL), RC_CONFLICT);
    char dir[700];
    snprintf(dir, sizeof dir, "%s/blobs/img", f->dir);
    assert_int_equal(count_entries(dir, "~"), 0);
    blob_contract_expect(f->b, "series", "s", 1);
}

static void test_out_of_memory_anywhere_is_a_clean_error(void **state)
{
    struct fixture *f = *state;
    char big[200000];
    memset(big, 'm', sizeof big); /* several buffer growths on the way back */
    for (long i = 0;; i++) {
        assert_true(i < 100);
        struct blob_store *b = NULL;
        char err[256] = "";
        struct buf got;
        buf_init(&got, sizeof big);
        mem_fail_after(i);
        int rc = blob_open("", f->dir, NULL, &b, err, sizeof err);
        if (rc == RC_OK)
            rc = blob_put(b, "oom/object", big, sizeof big, NULL);
        if (rc == RC_OK)
            rc = blob_get(b, "oom/object", &got);
        long refused = mem_fail_count();
        mem_fail_reset();
        if (rc != RC_OK) {
            assert_int_equal(rc, RC_NOMEM);
            assert_int_equal(got.len, 0);
        }
        blob_close(b);
        buf_cleanup(&got);
        if (refused == 0) { /* every allocation succeeded: done */
            assert_int_equal(rc, RC_OK);
            break;
        }
    }
}

static void test_the_settings_open_it(void **state)
{
    struct fixture *f = *state;
    setenv("WEBTOON_DATA_DIR", f->dir, 1);
    unsetenv("WEBTOON_BLOB_URL");
    struct config cfg;
    char err[256] = "";
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    struct blob_store *b = NULL;
    assert_int_equal(blob_open_config(&cfg, &b, err, sizeof err), RC_OK);
    assert_int_equal(blob_put(b, "from-settings", "yes", 3, NULL), RC_OK);
    blob_contract_expect(f->b, "from-settings", "yes", 3); /* the same <data_dir>/blobs */
    blob_close(b);
    config_cleanup(&cfg);
}

static void test_urls(void **state)
{
    struct fixture *f = *state;
    char url[600], err[256];
    snprintf(url, sizeof url, "file://%s/elsewhere/deeper", f->dir);
    struct blob_store *b = open_ok(url, "/nonexistent-data-dir");
    assert_int_equal(blob_put(b, "k", "v", 1, NULL), RC_OK);
    blob_close(b);
    char path[700];
    snprintf(path, sizeof path, "%s/elsewhere/deeper/k", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);

    /* The default data directory is relative (./var): so is its blobs/. */
    char cwd[600];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    b = open_ok("", "./var");
    assert_int_equal(blob_put(b, "rel", "r", 1, NULL), RC_OK);
    blob_close(b);
    assert_int_equal(chdir(cwd), 0);
    snprintf(path, sizeof path, "%s/var/blobs/rel", f->dir);
    assert_int_equal(stat(path, &st), 0);

    const char *bad[] = {"file://relative/dir", "ftp://host/x", "/just/a/path", "s3://"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = (struct blob_store *)1;
        err[0] = '\0';
        assert_int_equal(blob_open(bad[i], f->dir, NULL, &b, err, sizeof err), RC_CONFIG);
        assert_null(b);
        assert_true(strlen(err) > 0);
    }
    /* A directory that cannot be made: a file is in the way. */
    snprintf(url, sizeof url, "file://%s/elsewhere/deeper/k/sub", f->dir);
    assert_int_equal(blob_open(url, f->dir, NULL, &b, err, sizeof err), RC_IO);
    assert_non_null(strstr(err, "k/sub"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_objects_are_files_under_the_data_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_put_that_crashes_halfway_leaves_the_old_object,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_put_leaves_no_temporary_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory_anywhere_is_a_clean_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_settings_open_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_urls, setup, teardown),
        BLOB_CONTRACT_ENTRIES /* the shared contract */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
