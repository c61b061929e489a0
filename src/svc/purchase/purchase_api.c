/* The purchase service. */
#include "svc/purchase/purchase.h"

const struct service_def purchase_service = {
    .name = "purchase",
    .port_setting = CONFIG_PURCHASE_PORT,
};
