/* The purchase service (domain to come with the domain issue). */
#ifndef WEBTOON_SVC_PURCHASE_H
#define WEBTOON_SVC_PURCHASE_H

#include "core/service/service.h"

extern const struct service_def purchase_service;

#endif
