/*
 * The module table, after Grafana Loki's modules.go: every target the
 * binary can run. Services depend on nothing but the event bus and their
 * own database, so they start in table order; `up` runs them all.
 */
#include <string.h>

#include "app/app.h"
#include "core/base/bug.h"
#include "svc/history/history.h"
#include "svc/payment/payment.h"
#include "svc/pointer/pointer.h"
#include "svc/purchase/purchase.h"
#include "svc/webtoon/webtoon.h"

const struct app_module app_modules[] = {
    {"pointer", "accounts and point balances (port 8082)", &pointer_service},
    {"payment", "charging points with money; refunds (port 8083)", &payment_service},
    {"history", "per-user summary and timeline, built from events (port 8084)", &history_service},
    {"webtoon", "the catalog, and opening episodes (port 8085)", &webtoon_service},
    {"purchase", "buying and cancelling webtoons with points (port 8086)", &purchase_service},
};
const size_t app_modules_len = ARRAY_LEN(app_modules);

const struct app_module *app_module_find(const char *name)
{
    for (size_t i = 0; i < app_modules_len; i++)
        if (!strcmp(app_modules[i].name, name))
            return &app_modules[i];
    return NULL;
}
