/*
 * The history service: read models only (CQRS). Builds the per-user summary
 * and the timeline from events; never decides anything, and can be rebuilt
 * by replaying the log.
 */
#ifndef WEBTOON_SVC_HISTORY_H
#define WEBTOON_SVC_HISTORY_H

#include "core/service/service.h"

extern const struct service_def history_service;

#endif
