/* Verifying bearer tokens against the built-in issuer's published keys, and
 * the per-thread cache of verified tokens: a caller's next request costs a
 * lookup, for as many callers as the cache holds; the least recently seen
 * make room; a forged or refused token is never kept; a new key set
 * checks every token again. */
#include "support/test_support.h"

#include <time.h>
#include <unistd.h>

#include "core/auth/issuer.h"
#include "core/auth/keys.h"
#include "core/auth/mint.h"
#include "core/auth/verify.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/metrics/metrics.h"

#define CACHED AUTH_CACHE_ENTRIES

static char tmp[1024], dir[1100];
static struct config cfg;
static struct auth_verifier *verifier;
static struct auth_signer *signer;

static uint64_t checks(void)
{
    return metrics_counter_value(metrics_counter("webtoon_auth_signature_checks_total", "", ""));
}

static uint64_t hits(void)
{
    return metrics_counter_value(metrics_counter("webtoon_auth_cache_hits_total", "", ""));
}

static char *mint(const char *user)
{
    struct auth_claims c = {.issuer = "http://127.0.0.1:18089",
                            .audience = "webtoon-api",
                            .subject = user,
                            .username = user,
                            .client_id = "webtoon-cli",
                            .iat = (int64_t)time(NULL),
                            .ttl_s = 600};
    json_t *claims = NULL;
    assert_int_equal(auth_claims_access(&c, &claims), RC_OK);
    char *token = NULL;
    assert_int_equal(auth_mint(signer, claims, &token), RC_OK);
    json_decref(claims);
    return token;
}

static enum auth_verdict verify(struct auth_cache *cache, const char *token, const char *user)
{
    struct auth_identity id;
    char why[256] = "";
    enum auth_verdict v = auth_verify(verifier, cache, token, strlen(token), &id, why, sizeof why);
    if (v == AUTH_VALID && user)
        assert_string_equal(id.user, user);
    return v;
}

static void wait_for_generation(uint64_t after)
{
    for (int i = 0; i < 1000 && auth_keys_generation(verifier) <= after; i++)
        usleep(10 * 1000);
    assert_true(auth_keys_generation(verifier) > after);
}

static int setup(void **state)
{
    (void)state;
    test_tmpdir(tmp, sizeof tmp);
    snprintf(dir, sizeof dir, "%s/data", tmp);
    setenv("WEBTOON_DATA_DIR", dir, 1);
    setenv("WEBTOON_AUTH_PORT", "18089", 1);
    unsetenv("WEBTOON_AUTH_ISSUER");
    unsetenv("WEBTOON_AUTH_JWKS_URL");
    char err[256] = "", keys[1200];
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    assert_int_equal(auth_issuer_dir(&cfg, keys, sizeof keys), RC_OK);
    assert_int_equal(auth_keys_ensure(keys, err, sizeof err), RC_OK);
    assert_int_equal(auth_signer_load(keys, &signer, err, sizeof err), RC_OK);
    assert_int_equal(auth_verifier_start(&cfg, &verifier, err, sizeof err), RC_OK);
    wait_for_generation(0);
    assert_true(auth_verifier_has_keys(verifier));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    auth_verifier_stop(verifier);
    auth_signer_free(signer);
    config_cleanup(&cfg);
    test_rmtree(tmp);
    return 0;
}

static void test_the_cache_keeps_its_last_callers(void **state)
{
    (void)state;
    static char *tokens[CACHED + 1];
    char user[32];
    for (int i = 0; i <= CACHED; i++) {
        snprintf(user, sizeof user, "u%d", i);
        tokens[i] = mint(user);
    }
    struct auth_cache *cache = auth_cache_new();
    assert_non_null(cache);
    uint64_t c0 = checks(), h0 = hits();
    for (int i = 0; i < CACHED; i++) {
        snprintf(user, sizeof user, "u%d", i);
        assert_int_equal(verify(cache, tokens[i], user), AUTH_VALID);
    }
    assert_int_equal(checks() - c0, CACHED);
    assert_int_equal(hits() - h0, 0);
    /* every one of them again: lookups only, each still the right user */
    for (int i = 0; i < CACHED; i++) {
        snprintf(user, sizeof user, "u%d", i);
        assert_int_equal(verify(cache, tokens[i], user), AUTH_VALID);
    }
    assert_int_equal(checks() - c0, CACHED);
    assert_int_equal(hits() - h0, CACHED);
    /* one caller more pushes out the one seen longest ago (u0), only it */
    assert_int_equal(verify(cache, tokens[CACHED], NULL), AUTH_VALID);
    assert_int_equal(verify(cache, tokens[1], "u1"), AUTH_VALID);
    assert_int_equal(checks() - c0, CACHED + 1);
    assert_int_equal(verify(cache, tokens[0], "u0"), AUTH_VALID);
    assert_int_equal(checks() - c0, CACHED + 2);
    auth_cache_free(cache);
    for (int i = 0; i <= CACHED; i++)
        mem_free(tokens[i]);
}

static void test_a_refused_token_is_never_kept(void **state)
{
    (void)state;
    char *token = mint("reader-1");
    size_t n = strlen(token);
    char kept = token[n - 2];
    token[n - 2] = kept == 'A' ? 'B' : 'A'; /* the signature, changed */
    struct auth_cache *cache = auth_cache_new();
    uint64_t c0 = checks();
    assert_int_equal(verify(cache, token, NULL), AUTH_REFUSED);
    assert_int_equal(verify(cache, token, NULL), AUTH_REFUSED);
    assert_int_equal(checks() - c0, 2);
    /* without a cache every token is checked, and nothing is counted */
    token[n - 2] = kept;
    uint64_t h0 = hits();
    c0 = checks();
    assert_int_equal(verify(NULL, token, "reader-1"), AUTH_VALID);
    assert_int_equal(verify(NULL, token, "reader-1"), AUTH_VALID);
    assert_int_equal(checks() - c0, 0);
    assert_int_equal(hits() - h0, 0);
    auth_cache_free(cache);
    mem_free(token);
}

static void test_a_new_key_set_checks_cached_tokens_again(void **state)
{
    (void)state;
    char *token = mint("reader-2");
    struct auth_cache *cache = auth_cache_new();
    uint64_t c0 = checks();
    assert_int_equal(verify(cache, token, "reader-2"), AUTH_VALID);
    assert_int_equal(verify(cache, token, "reader-2"), AUTH_VALID);
    assert_int_equal(checks() - c0, 1);
    char keys[1200], err[256] = "";
    assert_int_equal(auth_issuer_dir(&cfg, keys, sizeof keys), RC_OK);
    assert_int_equal(auth_keys_rotate(keys, NULL, err, sizeof err), RC_OK);
    wait_for_generation(auth_keys_refresh(verifier));
    /* the previous key is still published: valid, but checked once more */
    assert_int_equal(verify(cache, token, "reader-2"), AUTH_VALID);
    assert_int_equal(checks() - c0, 2);
    assert_int_equal(verify(cache, token, "reader-2"), AUTH_VALID);
    assert_int_equal(checks() - c0, 2);
    auth_cache_free(cache);
    mem_free(token);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_cache_keeps_its_last_callers),
        cmocka_unit_test(test_a_refused_token_is_never_kept),
        cmocka_unit_test(test_a_new_key_set_checks_cached_tokens_again),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
