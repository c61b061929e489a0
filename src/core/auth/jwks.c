/* The issuer's URL and public keys; see jwks.h. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth/issuer.h"
#include "core/auth/jwks.h"
#include "core/base/rc.h"

#define JWKS_MAX_BYTES (1 << 20) /* a key set is a few KB; more is not one */
#define JWKS_TIMEOUT_MS 3000

bool auth_issuer_is_builtin(const struct config *cfg)
{
    return config_str(cfg, CONFIG_AUTH_ISSUER)[0] == '\0';
}

void auth_issuer_url(const struct config *cfg, char *url, size_t len)
{
    const char *builtin = config_str(cfg, CONFIG_AUTH_BUILTIN_URL);
    if (auth_issuer_is_builtin(cfg) && builtin[0])
        snprintf(url, len, "%s", builtin);
    else if (auth_issuer_is_builtin(cfg))
        snprintf(url, len, "http://127.0.0.1:%lld", (long long)config_int(cfg, CONFIG_AUTH_PORT));
    else
        snprintf(url, len, "%s", config_str(cfg, CONFIG_AUTH_ISSUER));
}

struct jwks_body {
    char *data;
    size_t len;
    bool too_large;
};

static size_t jwks_collect(char *ptr, size_t size, size_t n, void *ud)
{
    struct jwks_body *b = ud;
    size_t add = size * n;
    if (b->len + add > JWKS_MAX_BYTES) {
        b->too_large = true;
        return 0;
    }
    char *grown = realloc(b->data, b->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* GETs <url> (http, https or file only) and parses it as a JSON object. */
static int jwks_get_json(const char *url, json_t **out, char *err, size_t errlen)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return RC_NOMEM;
    struct jwks_body body = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)JWKS_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, jwks_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    CURLcode cc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    int rc = RC_OK;
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", url,
                 body.too_large ? "larger than a key set can be" : curl_easy_strerror(cc));
        rc = RC_UNAVAILABLE;
    } else {
        json_error_t jerr;
        *out = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
        if (!json_is_object(*out)) {
            snprintf(err, errlen, "%s: not a JSON object (%s)", url, jerr.text);
            json_decref(*out);
            *out = NULL;
            rc = RC_UNAVAILABLE;
        }
    }
    free(body.data);
    return rc;
}

int auth_jwks_fetch(const struct config *cfg, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    char url[2048];
    const char *configured = config_str(cfg, CONFIG_AUTH_JWKS_URL);
    int rc;
    if (configured[0]) {
        snprintf(url, sizeof url, "%s", configured);
    } else if (auth_issuer_is_builtin(cfg)) {
        char dir[1536];
        if (auth_issuer_dir(cfg, dir, sizeof dir) != RC_OK) {
            snprintf(err, errlen, "the data directory's name is too long");
            return RC_UNAVAILABLE;
        }
        snprintf(url, sizeof url, "file://%s/jwks.json", dir);
    } else {
        /* OpenID Connect Discovery 1.0, section 4. */
        char issuer[1024];
        auth_issuer_url(cfg, issuer, sizeof issuer);
        size_t n = strlen(issuer);
        snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration",
                 (int)(n && issuer[n - 1] == '/' ? n - 1 : n), issuer);
        json_t *discovery;
        if ((rc = jwks_get_json(url, &discovery, err, errlen)) != RC_OK)
            return rc;
        const char *jwks_uri = json_string_value(json_object_get(discovery, "jwks_uri"));
        if (!jwks_uri || strncmp(jwks_uri, "http", 4) != 0) {
            snprintf(err, errlen, "%s names no http(s) jwks_uri", url);
            json_decref(discovery);
            return RC_UNAVAILABLE;
        }
        snprintf(url, sizeof url, "%s", jwks_uri);
        json_decref(discovery);
    }
    if ((rc = jwks_get_json(url, out, err, errlen)) != RC_OK)
        return rc;
    if (!json_is_array(json_object_get(*out, "keys"))) {
        snprintf(err, errlen, "%s has no \"keys\" array", url);
        json_decref(*out);
        *out = NULL;
        return RC_UNAVAILABLE;
    }
    return RC_OK;
}
