/*
 * Who may call which route: the one table of access rules of every
 * service's API (the same table is in docs/SECURITY.md). Each service
 * hands it to core through service_def.access_rules; core applies a rule
 * (core/auth/policy.h) and refuses to start a service with a route the
 * table does not cover.
 */
#ifndef WEBTOON_DOMAIN_ACCESS_H
#define WEBTOON_DOMAIN_ACCESS_H

#include "core/auth/policy.h"

/* Every route's rule; ends with an all-zero entry. */
extern const struct auth_route_rule domain_access_rules[];

#endif
