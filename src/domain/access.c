/* The access rules of every route of every service; see access.h. */
#include "domain/access.h"

const struct auth_route_rule domain_access_rules[] = {
    /* pointer */
    {"POST", "/pointers", AUTH_ACT, NULL},
    {"GET", "/pointers", AUTH_LIST, NULL},
    {"GET", "/pointers/{id}", AUTH_READ_PARAM, "id"},
    {"PUT", "/pointers/{id}/withdraw", AUTH_ACT_PARAM, "id"},
    /* payment */
    {"POST", "/payments", AUTH_ACT, NULL},
    {"GET", "/payments", AUTH_LIST, NULL},
    {"GET", "/payments/{id}", AUTH_READ_OWNED, NULL},
    {"PUT", "/payments/{id}/refund", AUTH_ACT_OWNED, NULL},
    /* history */
    {"GET", "/histories", AUTH_LIST, NULL},
    {"GET", "/histories/{userId}", AUTH_READ_PARAM, "userId"},
    {"GET", "/histories/{userId}/timeline", AUTH_READ_PARAM, "userId"},
    /* webtoon: anyone browses the catalog, admins edit it */
    {"POST", "/webtoons", AUTH_ADMIN, NULL},
    {"GET", "/webtoons", AUTH_PUBLIC, NULL},
    {"GET", "/webtoons/{id}", AUTH_PUBLIC, NULL},
    {"PATCH", "/webtoons/{id}", AUTH_ADMIN, NULL},
    {"PUT", "/webtoons/{id}", AUTH_ADMIN, NULL},
    {"POST", "/webtoons/{id}/open", AUTH_ACT, NULL},
    {"GET", "/webtoons/{id}/readers/{userId}", AUTH_READ_PARAM, "userId"},
    {"PUT", "/webtoons/{id}/progress", AUTH_ACT, NULL},
    {"GET", "/libraries/{userId}", AUTH_READ_PARAM, "userId"},
    {"POST", "/series", AUTH_ADMIN, NULL},
    {"GET", "/series", AUTH_PUBLIC, NULL},
    {"GET", "/series/{id}", AUTH_PUBLIC, NULL},
    {"PATCH", "/series/{id}", AUTH_ADMIN, NULL},
    {"PUT", "/series/{id}", AUTH_ADMIN, NULL},
    {"GET", "/series/{id}/episodes", AUTH_PUBLIC, NULL},
    {"PUT", "/series/{id}/cover", AUTH_ADMIN, NULL},
    {"GET", "/series/{id}/cover", AUTH_PUBLIC, NULL},
    {"POST", "/webtoons/{id}/pages", AUTH_ADMIN, NULL},
    {"PUT", "/webtoons/{id}/pages", AUTH_ADMIN, NULL},
    /* public: the service decides who sees a paid episode's pages */
    {"GET", "/webtoons/{id}/pages/{n}", AUTH_PUBLIC, NULL},
    {"DELETE", "/webtoons/{id}/pages/{n}", AUTH_ADMIN, NULL},
    /* purchase */
    {"POST", "/purchases", AUTH_ACT, NULL},
    {"POST", "/purchases/buywebtoon", AUTH_ACT, NULL},
    {"GET", "/purchases", AUTH_LIST, NULL},
    {"GET", "/purchases/{id}", AUTH_READ_OWNED, NULL},
    {"PUT", "/purchases/{id}/cancel", AUTH_ACT_OWNED, NULL},
    {0},
};
