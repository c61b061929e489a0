/*
 * `webtoon demo`: loads a small catalog through the webtoon service's API
 * (as an admin would) and prints a walk-through of the original scenarios.
 * Loading twice changes nothing: existing webtoons are left alone. Catalog
 * writes need an admin: it sends the confidential client's service-account
 * token (app_service_token), from whichever issuer is configured.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "app/http_client.h"
#include "core/base/mem.h"

static const char *const demo_webtoons[] = {
    "{\"webtoonId\":\"niceguy\",\"title\":\"Nice Guy\",\"author\":\"Kim Dokja\","
    "\"point\":100,\"episode\":1,\"status\":\"published\"}",
    "{\"webtoonId\":\"niceguy-2\",\"title\":\"Nice Guy\",\"author\":\"Kim Dokja\","
    "\"point\":100,\"episode\":2,\"status\":\"published\"}",
    "{\"webtoonId\":\"tower-1\",\"title\":\"Tower of Dreams\",\"author\":\"Han Yura\","
    "\"point\":0,\"episode\":1,\"status\":\"published\"}",
    "{\"webtoonId\":\"tower-2\",\"title\":\"Tower of Dreams\",\"author\":\"Han Yura\","
    "\"point\":600,\"episode\":2,\"status\":\"published\"}",
    "{\"webtoonId\":\"seoul-night-1\",\"title\":\"Seoul at Night\",\"author\":\"Park Min\","
    "\"point\":300,\"episode\":1,\"status\":\"published\"}",
};

static const char demo_walkthrough[] =
    "Demo catalog loaded: niceguy (100 points), niceguy-2 (100), tower-1 (free),\n"
    "tower-2 (600), seoul-night-1 (300). Try the original walk-through, as alice\n"
    "(with the built-in issuer; sign in through the web app for a real session):\n"
    "\n"
    "  T=\"Authorization: Bearer $(webtoon token alice)\"\n"
    "  curl -s -XPOST localhost:%d/pointers -H \"$T\" -H 'Content-Type: application/json' -d "
    "'{\"userId\":\"alice\"}'\n"
    "  curl -s -XPOST localhost:%d/payments -H \"$T\" -H 'Content-Type: application/json' -d "
    "'{\"userId\":\"alice\",\"point\":600}'\n"
    "  curl -s -XPOST localhost:%d/purchases -H \"$T\" -H 'Content-Type: application/json' -d "
    "'{\"userId\":\"alice\",\"webtoonId\":\"niceguy\"}'\n"
    "  curl -s -H \"$T\" 'localhost:%d/histories/alice'\n"
    "\n"
    "README.md walks through the rest: the compensation case, cancel, refund, withdraw.\n";

int app_demo(const struct config *cfg)
{
    int port = (int)config_int(cfg, CONFIG_WEBTOON_PORT);
    int loaded = 0, status = 0;
    char err[512] = "", auth[4096];
    char *token = NULL;
    if (app_service_token(cfg, &token, err, sizeof err) != 0) {
        fprintf(stderr, "webtoon demo: cannot get an admin token: %s\n", err);
        return 1;
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    mem_free(token);
    for (size_t i = 0; i < sizeof demo_webtoons / sizeof demo_webtoons[0]; i++) {
        char resp[1024];
        if (app_http_with("POST", port, "/webtoons", auth, demo_webtoons[i], 5000, &status, resp,
                          sizeof resp) != 0) {
            fprintf(stderr,
                    "webtoon demo: the webtoon service does not answer on port %d; is "
                    "`webtoon up` running?\n",
                    port);
            return 1;
        }
        if (status == 201)
            loaded++;
        else if (status != 409) {
            fprintf(stderr, "webtoon demo: upload failed (%d): %s\n", status, resp);
            return 1;
        }
    }
    fprintf(stderr, "\n%d demo webtoons added.\n", loaded);
    fprintf(stderr, demo_walkthrough, (int)config_int(cfg, CONFIG_POINTER_PORT),
            (int)config_int(cfg, CONFIG_PAYMENT_PORT), (int)config_int(cfg, CONFIG_PURCHASE_PORT),
            (int)config_int(cfg, CONFIG_HISTORY_PORT));
    return 0;
}
