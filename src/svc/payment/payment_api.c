/* The payment service. */
#include "svc/payment/payment.h"

const struct service_def payment_service = {
    .name = "payment",
    .port_setting = CONFIG_PAYMENT_PORT,
};
