/*
 * `webtoon token <user>`: an access token for <user>, signed with the
 * built-in issuer's key from the local data directory (made when missing),
 * for the confidential client, exactly as the issuer's own token endpoint
 * would sign one. For scripts, tests and operators on the machine that
 * holds the key; with an external issuer there is no key here, and the
 * issuer's token endpoint is the way.
 *
 * app_service_token is what operator commands (`webtoon demo`) act with:
 * a token of the confidential client's service account, minted here for
 * the built-in issuer, asked of the external issuer's token endpoint
 * (client_credentials, found through its discovery document) otherwise.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "core/auth/issuer.h"
#include "core/auth/keys.h"
#include "core/auth/mint.h"
#include "core/base/buf.h"
#include "core/base/mem.h"
#include "core/json/jx.h"
#include "core/base/rc.h"
#include "domain/events.h"
#include "domain/users.h"

int app_token_mint(const struct config *cfg, const char *user, bool admin, int64_t ttl_s,
                   char **out, char *err, size_t errlen)
{
    *out = NULL;
    char dir[4096], iss[1100];
    int rc = auth_issuer_dir(cfg, dir, sizeof dir);
    auth_issuer_url(cfg, iss, sizeof iss);
    if (rc != RC_OK) {
        snprintf(err, errlen, "the data directory path is too long");
        return rc;
    }
    struct auth_signer *signer = NULL;
    if ((rc = auth_keys_ensure(dir, err, errlen)) != RC_OK ||
        (rc = auth_signer_load(dir, &signer, err, errlen)) != RC_OK)
        return rc;
    struct auth_claims c = {
        .issuer = iss,
        .audience = config_str(cfg, CONFIG_AUTH_AUDIENCE),
        .subject = user,
        .username = user,
        .admin = admin,
        .client_id = config_str(cfg, CONFIG_AUTH_CLI_CLIENT),
        .scope = "profile",
        .iat = (int64_t)time(NULL),
        .ttl_s = ttl_s,
    };
    json_t *claims = NULL;
    if ((rc = auth_claims_access(&c, &claims)) == RC_OK)
        rc = auth_mint(signer, claims, out);
    if (rc != RC_OK)
        snprintf(err, errlen, "cannot sign the token: %s", rc_title(rc));
    json_decref(claims);
    auth_signer_free(signer);
    return rc;
}

int app_token(const struct config *cfg, const char *user, bool admin, int64_t ttl_s)
{
    if (!auth_issuer_is_builtin(cfg)) {
        fprintf(stderr,
                "webtoon token: the tokens come from the issuer %s (WEBTOON_AUTH_ISSUER), "
                "whose key is not here; get one from its token endpoint instead (grant "
                "client_credentials or password, client %s)\n",
                config_str(cfg, CONFIG_AUTH_ISSUER), config_str(cfg, CONFIG_AUTH_CLI_CLIENT));
        return 2;
    }
    if (!domain_id_is_valid(user)) {
        fprintf(stderr,
                "webtoon token: '%s' is not a user id (1 to %d letters, digits and . _ : -)\n",
                user, DOMAIN_ID_MAX);
        return 2;
    }
    char err[512] = "";
    char *token = NULL;
    if (app_token_mint(cfg, user, admin, ttl_s ? ttl_s : config_int(cfg, CONFIG_AUTH_TOKEN_TTL_S),
                       &token, err, sizeof err) != RC_OK) {
        fprintf(stderr, "webtoon token: %s\n", err);
        return 1;
    }
    printf("%s\n", token);
    mem_free(token);
    return 0;
}

#define APP_ISSUER_REPLY_MAX (64 * 1024)

static size_t app_curl_write(char *data, size_t size, size_t n, void *ud)
{
    return buf_append(ud, data, size * n) == RC_OK ? size * n : 0;
}

/* GET <url> (or POST form <post>, with Basic <user>/<password> when
 * given); the answer's JSON object into <out> (new). */
static int app_issuer_call(const char *url, const char *post, const char *user,
                           const char *password, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    struct buf body;
    buf_init(&body, APP_ISSUER_REPLY_MAX);
    CURL *c = curl_easy_init();
    long status = 0;
    int rc = RC_UNAVAILABLE;
    if (!c) {
        snprintf(err, errlen, "cannot start libcurl");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, app_curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    if (post)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    if (user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, password);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    char detail[128] = "";
    if (cc != CURLE_OK)
        snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(cc));
    else if (status != 200)
        snprintf(err, errlen, "%s answered %ld: %.200s", url, status, body.data ? body.data : "");
    else if (!body.data || jx_parse(body.data, body.len, true, out, detail, sizeof detail) != RC_OK)
        snprintf(err, errlen, "%s did not answer JSON: %s", url, detail);
    else
        rc = RC_OK;
out:
    curl_easy_cleanup(c);
    buf_cleanup(&body);
    return rc;
}

/* The confidential client's secret, from its file. */
static int app_cli_secret(const struct config *cfg, char *out, size_t len, char *err, size_t errlen)
{
    char path[4096];
    FILE *f =
        auth_issuer_cli_secret_path(cfg, path, sizeof path) == RC_OK ? fopen(path, "re") : NULL;
    bool ok = f && fgets(out, (int)len, f);
    if (f)
        fclose(f);
    out[ok ? strcspn(out, "\r\n") : 0] = '\0';
    if (!*out) {
        snprintf(err, errlen, "no client secret in %s (WEBTOON_AUTH_CLI_SECRET_FILE)", path);
        return RC_CONFIG;
    }
    return RC_OK;
}

int app_service_token(const struct config *cfg, char **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *client = config_str(cfg, CONFIG_AUTH_CLI_CLIENT);
    if (auth_issuer_is_builtin(cfg)) {
        char subject[256];
        snprintf(subject, sizeof subject, "service-account-%s", client);
        return app_token_mint(cfg, subject, true, config_int(cfg, CONFIG_AUTH_TOKEN_TTL_S), out,
                              err, errlen);
    }
    const char *iss = config_str(cfg, CONFIG_AUTH_ISSUER);
    char url[1200], secret[256];
    size_t n = strlen(iss);
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration",
             (int)(n && iss[n - 1] == '/' ? n - 1 : n), iss);
    json_t *discovery = NULL, *answer = NULL;
    int rc = app_cli_secret(cfg, secret, sizeof secret, err, errlen);
    if (rc == RC_OK)
        rc = app_issuer_call(url, NULL, NULL, NULL, &discovery, err, errlen);
    const char *endpoint = json_string_value(json_object_get(discovery, "token_endpoint"));
    if (rc == RC_OK && !endpoint) {
        snprintf(err, errlen, "%s names no token_endpoint", url);
        rc = RC_UNAVAILABLE;
    }
    if (rc == RC_OK)
        rc = app_issuer_call(endpoint, "grant_type=client_credentials", client, secret, &answer,
                             err, errlen);
    const char *token = json_string_value(json_object_get(answer, "access_token"));
    if (rc == RC_OK && !token) {
        snprintf(err, errlen, "the token endpoint gave no access_token");
        rc = RC_UNAVAILABLE;
    }
    if (rc == RC_OK && !(*out = mem_strdup(token)))
        rc = RC_NOMEM;
    json_decref(discovery);
    json_decref(answer);
    memset(secret, 0, sizeof secret);
    return rc;
}
