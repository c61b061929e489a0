/*
 * The module table, after Grafana Loki's modules.go: every target the
 * binary can run, in start order (`webtoon up` stops them in reverse). The
 * services depend on nothing but the event bus and their own databases; the
 * web server on nothing; the gateway comes last, once there is something
 * to route to, and goes first on the way down.
 */
#include <signal.h>
#include <string.h>

#include "app/app.h"
#include "core/auth/issuer.h"
#include "core/base/bug.h"
#include "svc/auth/auth.h"
#include "svc/history/history.h"
#include "svc/payment/payment.h"
#include "svc/pointer/pointer.h"
#include "svc/purchase/purchase.h"
#include "svc/webtoon/webtoon.h"

#define APP_SERVICE(n, port, def, what)                                                            \
    {                                                                                              \
        .name = n, .summary = what, .port_setting = port, .service = def, .replicated = true,      \
        .stop_signal = SIGTERM                                                                     \
    }

const struct app_module app_modules[] = {
    /* First: the others verify the tokens it signs (with its keys, which
     * it makes on first start). One process: its sign-in budgets and
     * sessions live in its own database. Only when no other issuer is
     * named (Keycloak takes its place then). */
    {.name = "auth",
     .summary = "the built-in OpenID Connect issuer (when WEBTOON_AUTH_ISSUER is empty)",
     .port_setting = CONFIG_AUTH_PORT,
     .serve = auth_serve,
     .stop_signal = SIGTERM,
     .is_wanted = auth_issuer_is_builtin,
     .command = app_commands_auth,
     .command_help = "the built-in issuer's accounts and keys (add-user, rotate-key)"},
    APP_SERVICE("pointer", CONFIG_POINTER_PORT, &pointer_service, "accounts and point balances"),
    APP_SERVICE("payment", CONFIG_PAYMENT_PORT, &payment_service,
                "charging points with money; refunds"),
    {.name = "history",
     .summary = "per-user summary and timeline, built from events",
     .port_setting = CONFIG_HISTORY_PORT,
     .service = &history_service,
     .replicated = true,
     .stop_signal = SIGTERM,
     .command = app_commands_history,
     .command_args = "rebuild",
     .command_help = "drop the history view and replay the event log into it"},
    APP_SERVICE("webtoon", CONFIG_WEBTOON_PORT, &webtoon_service,
                "the catalog, and opening episodes"),
    APP_SERVICE("purchase", CONFIG_PURCHASE_PORT, &purchase_service,
                "buying and cancelling webtoons with points"),
    {.name = "web",
     .summary = "the web frontend's static files",
     .port_setting = CONFIG_WEB_PORT,
     .serve = app_serve_web,
     .replicated = true,
     .stop_signal = SIGTERM},
    /* Last, so that its first health checks find everything up; HAProxy
     * finishes open requests on SIGUSR1 where SIGTERM would cut them. */
    {.name = "gateway",
     .summary = "HAProxy, the single entry point",
     .port_setting = CONFIG_GATEWAY_PORT,
     .serve = app_serve_gateway,
     .after_others = true,
     .stop_signal = SIGUSR1},
};
const size_t app_modules_len = ARRAY_LEN(app_modules);

const struct app_module *app_module_find(const char *name)
{
    for (size_t i = 0; i < app_modules_len; i++)
        if (!strcmp(app_modules[i].name, name))
            return &app_modules[i];
    return NULL;
}
