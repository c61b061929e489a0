/* Lookup tables generated from RC_MAP; see rc.h. */
#include "core/base/rc.h"

struct rc_info {
    const char *name;
    int status;
    const char *slug;
    const char *title;
};

static const struct rc_info rc_table[] = {
#define RC__ROW(name, status, slug, title) {#name, status, slug, title},
    RC_MAP(RC__ROW)
#undef RC__ROW
};

static const struct rc_info rc_unknown = {"UNKNOWN", 500, "internal", "Internal error"};

static const struct rc_info *rc_info(int rc)
{
    if (rc < 0 || rc >= RC__COUNT)
        return &rc_unknown;
    return &rc_table[rc];
}

const char *rc_name(int rc) { return rc_info(rc)->name; }
int rc_http_status(int rc) { return rc_info(rc)->status; }
const char *rc_slug(int rc) { return rc_info(rc)->slug; }
const char *rc_title(int rc) { return rc_info(rc)->title; }
