/*
 * `webtoon serve web`: the web frontend's static files (the Vite build in
 * WEBTOON_WEB_ROOT) served by h2o's file handler, behind the gateway. Until
 * the frontend is built, a placeholder page says how to build it.
 *
 * Two answers are made here rather than read from the build:
 * - GET /config.json, what the app needs to sign in (the issuer, its client
 *   id and the API's audience), from the configuration, so one build runs
 *   against the built-in issuer and Keycloak alike;
 * - GET /callback, where the issuer sends the browser back after sign-in:
 *   the app's index.html (the screens live after the '#', so this is the
 *   one real path besides the files).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "app/app.h"
#include "core/auth/issuer.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

static const char web_placeholder[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Webtoon</title></head><body><main><h1>Webtoon</h1>"
    "<p>The web frontend is not built yet. Run <code>make build</code> (or "
    "<code>make run</code>) from the repository, or set <code>WEBTOON_WEB_ROOT</code>.</p>"
    "<p>The API is here all the same: <a href=\"/webtoons\">/webtoons</a>, "
    "<a href=\"/openapi.json\">/openapi.json</a>.</p></main></body></html>\n";

/* The largest index.html served at /callback (Vite's is under 1 KiB). */
#define WEB_INDEX_MAX (1024 * 1024)

static const struct config *web_cfg(struct http_req *req)
{
    return ((struct service_ctx *)http_req_ctx(req))->cfg;
}

static int web_handle_config_get(struct http_req *req)
{
    const struct config *cfg = web_cfg(req);
    char issuer[1100]; /* WEBTOON_AUTH_ISSUER is at most 1024 bytes */
    auth_issuer_url(cfg, issuer, sizeof issuer);
    json_t *body = json_pack("{s:s, s:s, s:s}", "issuer", issuer, "clientId",
                             config_str(cfg, CONFIG_AUTH_WEB_CLIENT), "audience",
                             config_str(cfg, CONFIG_AUTH_AUDIENCE));
    if (!body)
        return RC_NOMEM;
    /* A changed issuer reaches browsers within a minute. */
    http_reply_header(req, "Cache-Control", "max-age=60");
    return http_reply_json(req, 200, body, NULL);
}

static int web_handle_placeholder_get(struct http_req *req)
{
    return http_reply(req, 200, "text/html; charset=utf-8", web_placeholder,
                      sizeof web_placeholder - 1);
}

/* Reads <path> (at most WEB_INDEX_MAX bytes) into a new string. */
static int web_read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? RC_NOT_FOUND : RC_IO;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > WEB_INDEX_MAX) {
        fclose(f);
        return RC_IO;
    }
    size_t size = (size_t)st.st_size;
    char *data = mem_alloc(size + 1);
    if (!data) {
        fclose(f);
        return RC_NOMEM;
    }
    size_t n = fread(data, 1, size, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        mem_free(data);
        return RC_IO;
    }
    data[n] = '\0';
    *out = data;
    *len = n;
    return RC_OK;
}

/* The sign-in callback: the app's index.html, read afresh (a rebuild
 * replaces it), never cached, and with no Referer leaving the page while
 * the authorization code is in its address. */
static int web_handle_callback_get(struct http_req *req)
{
    const struct config *cfg = web_cfg(req);
    char path[4200];
    snprintf(path, sizeof path, "%s/index.html", config_str(cfg, CONFIG_WEB_ROOT));
    char *html;
    size_t len;
    int rc = web_read_file(path, &html, &len);
    if (rc == RC_NOT_FOUND)
        return web_handle_placeholder_get(req);
    if (rc != RC_OK)
        return http_fail(req, rc, "cannot read the web app's index.html");
    http_reply_header(req, "Cache-Control", "no-store");
    http_reply_header(req, "Referrer-Policy", "no-referrer");
    rc = http_reply(req, 200, "text/html; charset=utf-8", html, len);
    mem_free(html);
    return rc;
}

static const struct http_route web_routes[] = {
    {"GET", "/config.json", web_handle_config_get},
    {"GET", "/callback", web_handle_callback_get},
    {0},
};

static const struct http_route web_placeholder_routes[] = {
    {"GET", "/", web_handle_placeholder_get},
    {"GET", "/index.html", web_handle_placeholder_get},
    {"GET", "/config.json", web_handle_config_get},
    {"GET", "/callback", web_handle_callback_get},
    {0},
};

int app_serve_web(const struct config *cfg)
{
    const char *root = config_str(cfg, CONFIG_WEB_ROOT);
    char index[4096];
    snprintf(index, sizeof index, "%s/index.html", root);
    struct stat st;
    bool built = stat(index, &st) == 0;
    const struct service_def web = {
        .name = "web",
        .port_setting = CONFIG_WEB_PORT,
        .routes = built ? web_routes : web_placeholder_routes,
        .stateless = true,
        .static_root = built ? root : NULL,
    };
    return service_run(&web, cfg);
}
