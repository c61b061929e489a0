/*
 * `webtoon serve web`: the web frontend's static files (the Vite build in
 * WEBTOON_WEB_ROOT) served by h2o's file handler, behind the gateway. Until
 * the frontend is built, a placeholder page says how to build it.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "app/app.h"
#include "core/base/rc.h"

static const char web_placeholder[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Webtoon</title></head><body><main><h1>Webtoon</h1>"
    "<p>The web frontend is not built yet. Run <code>make build</code> (or "
    "<code>make run</code>) from the repository, or set <code>WEBTOON_WEB_ROOT</code>.</p>"
    "<p>The API is here all the same: <a href=\"/webtoons\">/webtoons</a>, "
    "<a href=\"/openapi.json\">/openapi.json</a>.</p></main></body></html>\n";

static int web_handle_placeholder_get(struct http_req *req)
{
    return http_reply(req, 200, "text/html; charset=utf-8", web_placeholder,
                      sizeof web_placeholder - 1);
}

static const struct http_route web_placeholder_routes[] = {
    {"GET", "/", web_handle_placeholder_get},
    {"GET", "/index.html", web_handle_placeholder_get},
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
        .routes = built ? NULL : web_placeholder_routes,
        .stateless = true,
        .static_root = built ? root : NULL,
    };
    return service_run(&web, cfg);
}
