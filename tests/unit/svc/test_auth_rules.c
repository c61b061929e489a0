/* The issuer's rules over strings (svc/auth/auth.c): form bodies, PKCE,
 * scopes, redirect URIs and origins, passwords, HTML and URL escaping,
 * cookies and Basic credentials. */
#include "support/test_support.h"

#include "core/base/buf.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "svc/auth/auth.h"

static int parse(const char *text, struct auth_form *f, const char **why)
{
    return auth_form_parse(text, strlen(text), f, why);
}

static void test_form(void **state)
{
    (void)state;
    struct auth_form f;
    const char *why;
    assert_int_equal(
        parse("grant_type=password&username=al+ice&password=p%40ss%21&empty=&flag", &f, &why),
        RC_OK);
    assert_string_equal(auth_form_get(&f, "grant_type"), "password");
    assert_string_equal(auth_form_get(&f, "username"), "al ice");
    assert_string_equal(auth_form_get(&f, "password"), "p@ss!");
    assert_null(auth_form_get(&f, "empty")); /* empty is absent (RFC 6749 3.1) */
    assert_null(auth_form_get(&f, "flag"));
    assert_null(auth_form_get(&f, "missing"));
    auth_form_cleanup(&f);

    assert_int_equal(parse("", &f, &why), RC_OK);
    assert_int_equal(f.n, 0);
    assert_int_equal(parse("&&&", &f, &why), RC_OK);
    auth_form_cleanup(&f);
    assert_int_equal(parse("caf%C3%A9=%E2%82%AC", &f, &why), RC_OK);
    assert_string_equal(auth_form_get(&f, "café"), "€");
    auth_form_cleanup(&f);

    const char *bad[] = {"a=%zz",   "a=%4",  "a=%",      "a=%00",
                         "a=1&a=2", "a=%FF", "%C0%AF=x", "a=%ED%A0%80"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(parse(bad[i], &f, &why), RC_INVALID);
        assert_non_null(why);
        auth_form_cleanup(&f);
    }
    char many[400] = "";
    for (int i = 0; i < AUTH_FORM_MAX_FIELDS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "f%d=1&", i);
    assert_int_equal(parse(many, &f, &why), RC_INVALID);
    auth_form_cleanup(&f);

    /* Allocation failures: a clean RC_NOMEM, nothing leaked. */
    for (long n = 0; n < 8; n++) {
        mem_fail_after(n);
        int rc = parse("a=1&b=2&c=3", &f, &why);
        mem_fail_reset();
        assert_true(rc == RC_OK || rc == RC_NOMEM);
        auth_form_cleanup(&f);
    }
}

static void test_pkce(void **state)
{
    (void)state;
    /* RFC 7636 appendix B */
    const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const char *challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert_true(auth_pkce_challenge_is_valid(challenge));
    assert_true(auth_pkce_matches(verifier, challenge));
    assert_false(auth_pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge));
    assert_false(auth_pkce_matches(challenge, challenge));
    assert_false(auth_pkce_matches("short", challenge));
    assert_false(auth_pkce_matches(verifier, verifier)); /* the right form, the wrong hash */
    assert_false(auth_pkce_challenge_is_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
    assert_false(auth_pkce_challenge_is_valid("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));
    assert_false(auth_pkce_challenge_is_valid(""));
}

static void test_scope(void **state)
{
    (void)state;
    char out[64];
    auth_scope_grant(NULL, out, sizeof out);
    assert_string_equal(out, "profile");
    auth_scope_grant("email profile openid openid", out, sizeof out);
    assert_string_equal(out, "openid profile");
    auth_scope_grant("offline_access", out, sizeof out);
    assert_string_equal(out, "offline_access");
    auth_scope_grant("email", out, sizeof out);
    assert_string_equal(out, "");
    assert_true(auth_scope_has("openid profile", "profile"));
    assert_false(auth_scope_has("openid profiles", "profile"));
    assert_false(auth_scope_has(NULL, "openid"));
    assert_true(auth_scope_within("profile", "openid profile"));
    assert_true(auth_scope_within("", "openid"));
    assert_false(auth_scope_within("openid offline_access", "openid profile"));
}

static void test_redirects_and_origins(void **state)
{
    (void)state;
    char r[AUTH_REDIRECTS_MAX][AUTH_URI_MAX], o[256];
    assert_int_equal(auth_redirects_parse("", 8088, r), 2);
    assert_string_equal(r[0], "http://127.0.0.1:8088/callback");
    assert_string_equal(r[1], "http://localhost:8088/callback");
    assert_int_equal(auth_redirects_parse(" https://a.example/cb , http://b:1/x,,", 1, r), 2);
    assert_string_equal(r[0], "https://a.example/cb");
    assert_string_equal(r[1], "http://b:1/x");
    assert_true(auth_uri_origin("http://127.0.0.1:8088/callback?x=1", o, sizeof o));
    assert_string_equal(o, "http://127.0.0.1:8088");
    assert_true(auth_uri_origin("https://a.example", o, sizeof o));
    assert_string_equal(o, "https://a.example");
    assert_false(auth_uri_origin("javascript:alert(1)", o, sizeof o));
    assert_false(auth_uri_origin("http://user@evil/", o, sizeof o));
    assert_false(auth_uri_origin("http:///nohost", o, sizeof o));
    assert_false(auth_uri_origin("//a.example/", o, sizeof o));
}

static void test_passwords_and_escaping(void **state)
{
    (void)state;
    assert_null(auth_password_problem("12345678"));
    assert_non_null(auth_password_problem("1234567"));
    assert_non_null(auth_password_problem("ééééééé")); /* 7 characters, 14 bytes */
    assert_null(auth_password_problem("éééééééé"));
    char big[AUTH_PASSWORD_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_non_null(auth_password_problem(big));

    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(auth_html_escape(&b, "<a href=\"x\">'&'</a>"), RC_OK);
    assert_string_equal(b.data, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    buf_reset(&b);
    assert_int_equal(auth_url_encode(&b, "a b&c=d/é~"), RC_OK);
    assert_string_equal(b.data, "a%20b%26c%3Dd%2F%C3%A9~");
    buf_cleanup(&b);
}

static void test_cookies_and_basic(void **state)
{
    (void)state;
    char v[64], id[64], secret[64];
    assert_true(
        auth_cookie_get("a=1; webtoon_auth_flow=abc; b=2", "webtoon_auth_flow", v, sizeof v));
    assert_string_equal(v, "abc");
    assert_false(auth_cookie_get("xwebtoon_auth_flow=abc", "webtoon_auth_flow", v, sizeof v));
    assert_false(auth_cookie_get("webtoon_auth_flow=", "webtoon_auth_flow", v, sizeof v));
    assert_false(auth_cookie_get(NULL, "a", v, sizeof v));
    assert_false(auth_cookie_get("a=0123456789", "a", v, 5)); /* too long: absent */

    /* "webtoon-cli:s3cr%3At" */
    assert_true(auth_basic_parse("Basic d2VidG9vbi1jbGk6czNjciUzQXQ=", id, secret, sizeof id));
    assert_string_equal(id, "webtoon-cli");
    assert_string_equal(secret, "s3cr:t");
    assert_false(auth_basic_parse("Bearer xyz", id, secret, sizeof id));
    assert_false(auth_basic_parse("Basic !!!", id, secret, sizeof id));
    assert_false(auth_basic_parse("Basic bm9jb2xvbg==", id, secret, sizeof id)); /* "nocolon" */
    assert_false(auth_basic_parse(NULL, id, secret, sizeof id));
}

static void test_is_printable(void **state)
{
    (void)state;
    assert_true(auth_is_printable("abc DEF-123_~!", 64));
    assert_false(auth_is_printable("", 64));
    assert_false(auth_is_printable("tab\there", 64));
    assert_false(auth_is_printable("é", 64));
    assert_false(auth_is_printable("abcd", 3));
}

int main(void)
{
    mem_install_json_hooks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_pkce),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_redirects_and_origins),
        cmocka_unit_test(test_passwords_and_escaping),
        cmocka_unit_test(test_cookies_and_basic),
        cmocka_unit_test(test_is_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
