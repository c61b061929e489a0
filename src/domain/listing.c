/* Listings filtered by user; see listing.h. */
#include "domain/listing.h"

#include <stdio.h>

#include "core/auth/policy.h"
#include "core/base/rc.h"
#include "domain/events.h"
#include "domain/users.h"

int domain_listing_user(struct http_req *req, const char **user)
{
    const char *named = http_req_query(req, "userId");
    if (named && !domain_id_is_valid(named))
        return http_fail(req, RC_INVALID, "query parameter 'userId' is not a valid user id");
    return auth_list_scope(req, named, user);
}

const char *domain_listing_query(const char *user, char *buf, size_t len)
{
    if (!user)
        return NULL;
    snprintf(buf, len, "userId=%s", user);
    return buf;
}

int domain_listing_reply(struct http_req *req, struct store *st, const char *count_sql,
                         const char *select_sql, hal_item_cb to_item, const char *name,
                         const char *path)
{
    const char *user;
    int rc = domain_listing_user(req, &user);
    if (rc != RC_OK)
        return rc;
    char query[DOMAIN_ID_MAX + 16];
    struct hal_page page;
    json_t *body = NULL;
    rc = hal_page_parse(req, &page);
    if (rc == RC_OK)
        rc = hal_query_collection(st, count_sql, select_sql, STORE_ARGS(STORE_TEXT_OR_NULL(user)),
                                  to_item, name, &page, path,
                                  domain_listing_query(user, query, sizeof query), &body);
    return rc == RC_OK ? http_reply_json(req, 200, body, "application/hal+json") : rc;
}
