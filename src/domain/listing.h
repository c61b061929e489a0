/*
 * Listings of the API filtered by user: GET <collection>?userId=&page=&size=
 * shows a reader their own items and an admin anyone's (auth_list_scope),
 * as HAL collections (core/hal) whose paging links keep the filter.
 */
#ifndef WEBTOON_DOMAIN_LISTING_H
#define WEBTOON_DOMAIN_LISTING_H

#include <stddef.h>

#include "core/hal/hal.h"
#include "core/http/http.h"
#include "core/store/store.h"

/* The user a listing is filtered by: ?userId= of <req>, within what the
 * caller may list (auth_list_scope), into <user> (borrowed from <req>;
 * NULL: every user). RC_INVALID (reason recorded) for a malformed id. */
int domain_listing_user(struct http_req *req, const char **user /* OUT */);
/* The query that keeps a listing filtered by <user> across its pages:
 * "userId=<user>" in <buf> (<len> bytes), or NULL when <user> is NULL. */
const char *domain_listing_query(const char *user, char *buf, size_t len);

/*
 * Answers GET <path>?userId=&page=&size= with a collection named <name>
 * read from <st>:
 * <count_sql> and <select_sql> take $1 = the userId filter or NULL (every
 * user), and <select_sql> LIMIT $2 OFFSET $3. Returns RC_OK once replied,
 * or an error code (reason recorded) for a bad query.
 */
int domain_listing_reply(struct http_req *req, struct store *st, const char *count_sql,
                         const char *select_sql, hal_item_cb to_item, const char *name,
                         const char *path);

#endif
