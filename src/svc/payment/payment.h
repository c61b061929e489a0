/* The payment service (domain to come with the domain issue). */
#ifndef WEBTOON_SVC_PAYMENT_H
#define WEBTOON_SVC_PAYMENT_H

#include "core/service/service.h"

extern const struct service_def payment_service;

#endif
