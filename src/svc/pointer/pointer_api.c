/* HTTP routes of the pointer service. */
#include <string.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/rc.h"
#include "core/json/jx.h"
#include "core/outbox/outbox.h"
#include "svc/pointer/pointer.h"

#define POINTER_USER_ID_MAX 64

static const struct store_migration pointer_schema[] = {
    {1,
     "CREATE TABLE pointers ("
     " user_id TEXT PRIMARY KEY,"
     " point BIGINT NOT NULL CHECK (point >= 0),"
     " status TEXT NOT NULL,"
     " created_at BIGINT NOT NULL,"
     " updated_at BIGINT NOT NULL);",
     NULL},
};

static json_t *pointer_json(const char *user_id, int64_t point, const char *status)
{
    char href[POINTER_USER_ID_MAX + 16];
    snprintf(href, sizeof href, "/pointers/%s", user_id);
    return json_pack("{s:s, s:I, s:s, s:{s:{s:s}, s:{s:s}}}", "userId", user_id, "point",
                     (json_int_t)point, "status", status, "_links", "self", "href", href, "pointer",
                     "href", href);
}

static int pointer_handle_pointers_post(struct http_req *req)
{
    json_t *body;
    int rc = http_req_json(req, &body);
    if (rc != RC_OK)
        return rc;
    struct jx_reader r;
    jx_reader_init(&r, body);
    const char *user = jx_str(&r, "userId", JX_REQUIRED, POINTER_USER_ID_MAX);
    if (user && !id_is_token(user, strlen(user), POINTER_USER_ID_MAX))
        jx_fail(&r, RC_INVALID, "field 'userId' may use only letters, digits and . _ : -");
    if (r.rc)
        return http_fail(req, r.rc, "%s", r.detail);

    struct store *st = service_store(req);
    if ((rc = store_begin(st)) != RC_OK)
        return rc;
    int64_t now = clock_wall_ms(), inserted = 0;
    rc = store_exec(st,
                    "INSERT INTO pointers (user_id, point, status, created_at, updated_at)"
                    " VALUES ($1, 0, 'joined', $2, $2) ON CONFLICT (user_id) DO NOTHING",
                    STORE_ARGS(STORE_TEXT(user), STORE_INT(now)), NULL, NULL, &inserted);
    if (rc == RC_OK && inserted == 0) {
        store_rollback(st);
        return http_fail(req, RC_ALREADY_EXISTS, "user '%s' has already joined", user);
    }
    json_t *fields = json_pack("{s:s, s:i, s:s}", "userId", user, "point", 0, "status", "joined");
    if (rc == RC_OK)
        rc = fields ? outbox_add(st, user, "Joined", fields, NULL) : RC_NOMEM;
    json_decref(fields);
    if (rc == RC_OK)
        rc = store_commit(st);
    else
        store_rollback(st);
    if (rc != RC_OK)
        return rc;
    char location[POINTER_USER_ID_MAX + 16];
    snprintf(location, sizeof location, "/pointers/%s", user);
    http_reply_header(req, "Location", location);
    return http_reply_json(req, 201, pointer_json(user, 0, "joined"), "application/hal+json");
}

struct pointer_row {
    bool found;
    int64_t point;
    char status[16];
};

static int pointer_take_row(void *ud, const struct store_row *row)
{
    struct pointer_row *p = ud;
    p->found = true;
    p->point = row->cols[0].i;
    snprintf(p->status, sizeof p->status, "%s", row->cols[1].s);
    return 0;
}

static int pointer_handle_pointer_get(struct http_req *req)
{
    const char *user = http_req_param(req, "id");
    struct pointer_row p = {0};
    int rc = store_exec(service_store(req), "SELECT point, status FROM pointers WHERE user_id = $1",
                        STORE_ARGS(STORE_TEXT(user)), pointer_take_row, &p, NULL);
    if (rc != RC_OK)
        return rc;
    if (!p.found)
        return http_fail(req, RC_UNKNOWN_USER, "no user '%.64s'", user);
    return http_reply_json(req, 200, pointer_json(user, p.point, p.status), "application/hal+json");
}

static const struct http_route pointer_routes[] = {
    {"POST", "/pointers", pointer_handle_pointers_post},
    {"GET", "/pointers/{id}", pointer_handle_pointer_get},
};

const struct service_def pointer_service = {
    .name = "pointer",
    .port_setting = CONFIG_POINTER_PORT,
    .migrations = pointer_schema,
    .nmigrations = ARRAY_LEN(pointer_schema),
    .routes = pointer_routes,
    .nroutes = ARRAY_LEN(pointer_routes),
};
