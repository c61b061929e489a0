/*
 * The replicated user view: which users exist and whether they withdrew,
 * kept by every service that must refuse commands for unknown or withdrawn
 * users without asking the pointer service (services never call each
 * other). Fed by Joined and Withdrawn; the pointer service stays the owner
 * and re-checks anything that matters (points) itself.
 */
#ifndef WEBTOON_DOMAIN_USERS_H
#define WEBTOON_DOMAIN_USERS_H

#include <jansson.h>

#include "core/bus/bus.h"
#include "core/http/http.h"
#include "core/store/store.h"

/* Table `users`, applied as component "users": DOMAIN_USERS_SCHEMA_STEPS
 * steps, a constant so service schema tables can list it. Each row keeps
 * the offset of the event that last changed it, so an older event
 * replayed later changes nothing. */
#define DOMAIN_USERS_SCHEMA_STEPS 2
extern const struct store_migration domain_users_schema[DOMAIN_USERS_SCHEMA_STEPS];

/* Event handlers (inbox_handler_cb) for Joined and Withdrawn. */
int domain_users_on_joined(void *ctx, struct store *st, const struct bus_event *ev,
                           const json_t *payload);
int domain_users_on_withdrawn(void *ctx, struct store *st, const struct bus_event *ev,
                              const json_t *payload);

/*
 * Checks that <user> may act: RC_OK for a joined user; RC_UNKNOWN_USER
 * through service_unseen (a join may still be on its way: the command
 * waits for the events published before it, then decides) or
 * RC_USER_WITHDRAWN, reason recorded on <req>.
 */
int domain_users_require_active(struct http_req *req, struct store *st, const char *user);

/* --- business keys ------------------------------------------------------ */

/* Table `effects`, applied as component "effects": one row per decision a
 * policy took (kind, the business id it is about, what it decided), so a
 * policy run again for the same business id, by a redelivery its inbox id
 * no longer catches, decides nothing twice. */
#define DOMAIN_EFFECTS_SCHEMA_STEPS 1
extern const struct store_migration domain_effects_schema[DOMAIN_EFFECTS_SCHEMA_STEPS];

/* Records decision <kind> about <ref> with <outcome> inside the open
 * transaction of <st>. RC_ALREADY_APPLIED when it was taken before (then
 * nothing changes, and the policy asking should do nothing either). */
int domain_effect_decide(struct store *st, const char *kind, const char *ref, const char *outcome);
/* The outcome of decision <kind> about <ref> into <outcome> (<len> bytes;
 * "" when never taken). */
int domain_effect_get(struct store *st, const char *kind, const char *ref, char *outcome,
                      size_t len);

/* Validates a client-chosen id (userId, webtoonId) read from a request:
 * 1 to DOMAIN_ID_MAX of [A-Za-z0-9._:-], not dots only. NULL is accepted
 * (an absent optional field). */
bool domain_id_is_valid(const char *id);

#endif
