/* The built-in issuer's keys and tokens: files and their modes, one key
 * for concurrent first starts, tokens that verify against the published
 * JWKS, rotation that keeps the previous key, and the issuer URL. */
#include "support/test_support.h"

#include <cjose/cjose.h>
#include <jansson.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/auth/issuer.h"
#include "core/auth/keys.h"
#include "core/auth/mint.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

static char *slurp(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[3][16384];
    static int which;
    char *b = buf[which++ % 3];
    size_t n = fread(b, 1, sizeof buf[0] - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static mode_t mode_of(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s%s%s", dir, *name ? "/" : "", name);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mode & 0777;
}

static void keydir(char *tmp, size_t len, char *dir, size_t dlen)
{
    test_tmpdir(tmp, len);
    snprintf(dir, dlen, "%s/data/auth", tmp);
}

static json_t *jwks_of(const char *dir)
{
    char *text = NULL;
    assert_int_equal(auth_keys_read_jwks(dir, &text), RC_OK);
    json_t *doc = json_loads(text, 0, NULL);
    mem_free(text);
    assert_non_null(doc);
    return doc;
}

/* Verifies <token> against the key named by its kid in <dir>'s JWKS, as a
 * relying party would; returns its claims (new) or NULL. */
static json_t *verify(const char *dir, const char *token, char *kid_out)
{
    cjose_err err;
    cjose_jws_t *jws = cjose_jws_import(token, strlen(token), &err);
    assert_non_null(jws);
    cjose_header_t *hdr = cjose_jws_get_protected(jws);
    assert_string_equal(cjose_header_get(hdr, "alg", &err), "ES256");
    assert_string_equal(cjose_header_get(hdr, "typ", &err), "JWT");
    const char *kid = cjose_header_get(hdr, "kid", &err);
    assert_non_null(kid);
    if (kid_out)
        snprintf(kid_out, AUTH_KID_MAX + 1, "%s", kid);
    json_t *jwks = jwks_of(dir), *k, *claims = NULL;
    size_t i;
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "kid")), kid) != 0)
            continue;
        assert_null(json_object_get(k, "d")); /* public keys only */
        char *text = json_dumps(k, 0);
        cjose_jwk_t *jwk = cjose_jwk_import(text, strlen(text), &err);
        free(text);
        assert_non_null(jwk);
        if (cjose_jws_verify(jws, jwk, &err)) {
            uint8_t *plain = NULL;
            size_t plen = 0;
            assert_true(cjose_jws_get_plaintext(jws, &plain, &plen, &err));
            claims = json_loadb((const char *)plain, plen, 0, NULL);
        }
        cjose_jwk_release(jwk);
    }
    json_decref(jwks);
    cjose_jws_release(jws);
    return claims;
}

static char *mint_for(const char *dir, const char *user, bool admin)
{
    struct auth_signer *s = NULL;
    char err[256] = "";
    assert_int_equal(auth_signer_load(dir, &s, err, sizeof err), RC_OK);
    struct auth_claims c = {.issuer = "http://127.0.0.1:8089",
                            .audience = "webtoon-api",
                            .subject = "sub-1",
                            .username = user,
                            .admin = admin,
                            .client_id = "webtoon-cli",
                            .scope = "profile",
                            .iat = 1700000000,
                            .ttl_s = 300};
    json_t *claims = NULL;
    assert_int_equal(auth_claims_access(&c, &claims), RC_OK);
    char *token = NULL;
    assert_int_equal(auth_mint(s, claims, &token), RC_OK);
    json_decref(claims);
    auth_signer_free(s);
    return token;
}

static void test_ensure_creates_files_once(void **state)
{
    (void)state;
    char tmp[256], dir[512], err[256] = "";
    keydir(tmp, sizeof tmp, dir, sizeof dir);
    assert_int_equal(auth_keys_ensure(dir, err, sizeof err), RC_OK);
    assert_int_equal(mode_of(dir, ""), 0700);
    assert_int_equal(mode_of(dir, "signing-key.pem"), 0600);
    char *pem = slurp(dir, "signing-key.pem");
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
    json_t *jwks = jwks_of(dir);
    json_t *keys = json_object_get(jwks, "keys");
    assert_int_equal(json_array_size(keys), 1);
    json_t *k = json_array_get(keys, 0);
    assert_string_equal(json_string_value(json_object_get(k, "kty")), "EC");
    assert_string_equal(json_string_value(json_object_get(k, "crv")), "P-256");
    assert_string_equal(json_string_value(json_object_get(k, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
    assert_int_equal(strlen(json_string_value(json_object_get(k, "kid"))), 43);
    assert_null(json_object_get(k, "d"));
    char first[4096];
    snprintf(first, sizeof first, "%s", pem);

    /* Again: nothing changes. */
    assert_int_equal(auth_keys_ensure(dir, err, sizeof err), RC_OK);
    assert_string_equal(slurp(dir, "signing-key.pem"), first);
    json_t *again = jwks_of(dir);
    assert_true(json_equal(jwks, again));
    json_decref(again);

    /* A lost jwks.json is written again for the same key. */
    char path[700];
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    unlink(path);
    assert_int_equal(auth_keys_ensure(dir, err, sizeof err), RC_OK);
    again = jwks_of(dir);
    assert_true(json_equal(jwks, again));
    json_decref(again);
    json_decref(jwks);
    test_rmtree(tmp);
}

static void test_concurrent_first_start_agrees(void **state)
{
    (void)state;
    char tmp[256], dir[512], err[256] = "";
    keydir(tmp, sizeof tmp, dir, sizeof dir);
    enum { N = 4 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0)
            _exit(auth_keys_ensure(dir, err, sizeof err) == RC_OK ? 0 : 1);
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    json_t *jwks = jwks_of(dir);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    char *token = mint_for(dir, "alice", false);
    json_t *claims = verify(dir, token, NULL);
    assert_non_null(claims);
    json_decref(claims);
    mem_free(token);
    json_decref(jwks);
    test_rmtree(tmp);
}

static void test_minted_token_verifies(void **state)
{
    (void)state;
    char tmp[256], dir[512], err[256] = "", kid[AUTH_KID_MAX + 1];
    keydir(tmp, sizeof tmp, dir, sizeof dir);
    assert_int_equal(auth_keys_ensure(dir, err, sizeof err), RC_OK);
    char *token = mint_for(dir, "alice", true);
    json_t *claims = verify(dir, token, kid);
    assert_non_null(claims);
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), "http://127.0.0.1:8089");
    assert_string_equal(json_string_value(json_object_get(claims, "aud")), "webtoon-api");
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "sub-1");
    assert_string_equal(json_string_value(json_object_get(claims, "preferred_username")), "alice");
    assert_string_equal(json_string_value(json_object_get(claims, "azp")), "webtoon-cli");
    assert_string_equal(json_string_value(json_object_get(claims, "scope")), "profile");
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), 1700000000);
    assert_int_equal(json_integer_value(json_object_get(claims, "nbf")), 1700000000);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), 1700000300);
    assert_true(strlen(json_string_value(json_object_get(claims, "jti"))) >= 16);
    json_t *roles = json_object_get(json_object_get(claims, "realm_access"), "roles");
    assert_int_equal(json_array_size(roles), 2);
    assert_string_equal(json_string_value(json_array_get(roles, 0)), "reader");
    assert_string_equal(json_string_value(json_array_get(roles, 1)), "admin");
    json_decref(claims);

    /* A changed payload no longer verifies. */
    char *dot = strchr(token, '.');
    dot[2] = dot[2] == 'A' ? 'B' : 'A';
    assert_null(verify(dir, token, NULL));
    mem_free(token);

    /* Two tokens never share a jti. */
    char *a = mint_for(dir, "bob", false), *b = mint_for(dir, "bob", false);
    json_t *ca = verify(dir, a, NULL), *cb = verify(dir, b, NULL);
    assert_string_not_equal(json_string_value(json_object_get(ca, "jti")),
                            json_string_value(json_object_get(cb, "jti")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(ca, "realm_access"), "roles")),
                     1);
    json_decref(ca);
    json_decref(cb);
    mem_free(a);
    mem_free(b);
    test_rmtree(tmp);
}

static void test_id_token_claims(void **state)
{
    (void)state;
    struct auth_claims c = {.issuer = "http://i",
                            .audience = "webtoon-api",
                            .subject = "s",
                            .username = "u",
                            .client_id = "webtoon-web",
                            .nonce = "n-1",
                            .iat = 10,
                            .ttl_s = 5};
    json_t *claims = NULL;
    assert_int_equal(auth_claims_id(&c, &claims), RC_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "aud")), "webtoon-web");
    assert_string_equal(json_string_value(json_object_get(claims, "nonce")), "n-1");
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), 15);
    json_decref(claims);
}

static void test_rotation_keeps_previous_key(void **state)
{
    (void)state;
    char tmp[256], dir[512], err[256] = "";
    char kid0[AUTH_KID_MAX + 1], kid1[AUTH_KID_MAX + 1], kid2[AUTH_KID_MAX + 1];
    keydir(tmp, sizeof tmp, dir, sizeof dir);
    assert_int_equal(auth_keys_ensure(dir, err, sizeof err), RC_OK);
    struct auth_signer *s = NULL;
    assert_int_equal(auth_signer_load(dir, &s, err, sizeof err), RC_OK);
    assert_false(auth_signer_is_stale(s));
    char *old = mint_for(dir, "alice", false);
    json_t *claims = verify(dir, old, kid0);
    json_decref(claims);

    assert_int_equal(auth_keys_rotate(dir, kid1, err, sizeof err), RC_OK);
    assert_string_not_equal(kid0, kid1);
    assert_true(auth_signer_is_stale(s));
    assert_int_equal(mode_of(dir, "signing-key.pem"), 0600);
    json_t *jwks = jwks_of(dir);
    json_t *keys = json_object_get(jwks, "keys");
    assert_int_equal(json_array_size(keys), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), kid1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 1), "kid")), kid0);
    json_decref(jwks);
    /* The token signed before still verifies; new ones use the new key. */
    claims = verify(dir, old, NULL);
    assert_non_null(claims);
    json_decref(claims);
    char *fresh = mint_for(dir, "alice", false), got[AUTH_KID_MAX + 1];
    claims = verify(dir, fresh, got);
    assert_non_null(claims);
    assert_string_equal(got, kid1);
    json_decref(claims);

    /* A second rotation drops the oldest key. */
    assert_int_equal(auth_keys_rotate(dir, kid2, err, sizeof err), RC_OK);
    assert_null(verify(dir, old, NULL));
    claims = verify(dir, fresh, NULL);
    assert_non_null(claims);
    json_decref(claims);
    auth_signer_free(s);
    mem_free(old);
    mem_free(fresh);
    test_rmtree(tmp);
}

static void test_garbage_key_is_an_error(void **state)
{
    (void)state;
    char tmp[256], dir[512], err[256] = "", path[700];
    keydir(tmp, sizeof tmp, dir, sizeof dir);
    assert_int_equal(auth_keys_ensure(dir, err, sizeof err), RC_OK);
    snprintf(path, sizeof path, "%s/signing-key.pem", dir);
    FILE *f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    struct auth_signer *s = NULL;
    assert_int_not_equal(auth_signer_load(dir, &s, err, sizeof err), RC_OK);
    assert_null(s);
    assert_non_null(strstr(err, "not a private key"));
    assert_int_not_equal(auth_keys_ensure(dir, err, sizeof err), RC_OK);
    auth_signer_free(NULL);
    test_rmtree(tmp);
}

static void test_issuer_url(void **state)
{
    (void)state;
    struct config cfg;
    char err[256] = "", url[256];
    setenv("WEBTOON_AUTH_PORT", "18089", 1);
    unsetenv("WEBTOON_AUTH_ISSUER");
    setenv("WEBTOON_DATA_DIR", "/d", 1);
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    assert_true(auth_issuer_is_builtin(&cfg));
    assert_int_equal(auth_issuer_url(&cfg, url, sizeof url), RC_OK);
    assert_string_equal(url, "http://127.0.0.1:18089");
    assert_int_equal(auth_issuer_jwks_url(&cfg, url, sizeof url), RC_OK);
    assert_string_equal(url, "file:/d/auth/jwks.json");
    assert_int_equal(auth_issuer_cli_secret_path(&cfg, url, sizeof url), RC_OK);
    assert_string_equal(url, "/d/auth/cli-client-secret");
    char small[8];
    assert_int_equal(auth_issuer_url(&cfg, small, sizeof small), RC_CONFIG);
    assert_string_equal(small, "");
    config_cleanup(&cfg);

    setenv("WEBTOON_AUTH_ISSUER", "http://127.0.0.1:8180/realms/webtoon", 1);
    assert_int_equal(config_load(&cfg, err, sizeof err), RC_OK);
    assert_false(auth_issuer_is_builtin(&cfg));
    assert_int_equal(auth_issuer_url(&cfg, url, sizeof url), RC_OK);
    assert_string_equal(url, "http://127.0.0.1:8180/realms/webtoon");
    assert_int_equal(auth_issuer_jwks_url(&cfg, url, sizeof url), RC_OK);
    assert_string_equal(url, "");
    config_cleanup(&cfg);
    unsetenv("WEBTOON_AUTH_ISSUER");
    unsetenv("WEBTOON_AUTH_PORT");
    unsetenv("WEBTOON_DATA_DIR");
}

int main(void)
{
    mem_install_json_hooks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ensure_creates_files_once),
        cmocka_unit_test(test_concurrent_first_start_agrees),
        cmocka_unit_test(test_minted_token_verifies),
        cmocka_unit_test(test_id_token_claims),
        cmocka_unit_test(test_rotation_keeps_previous_key),
        cmocka_unit_test(test_garbage_key_is_an_error),
        cmocka_unit_test(test_issuer_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
