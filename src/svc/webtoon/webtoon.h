/* The webtoon service (domain to come with the domain issue). */
#ifndef WEBTOON_SVC_WEBTOON_H
#define WEBTOON_SVC_WEBTOON_H

#include "core/service/service.h"

extern const struct service_def webtoon_service;

#endif
