/* JSON parsing and bounded field reads; see jx.h. */
#include "core/json/jx.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

int jx_parse(const char *data, size_t len, bool want_object, json_t **out, char *detail,
             size_t detail_len)
{
    json_error_t error;
    *out = NULL;
    unsigned long refused = mem_thread_failures();
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &error);
    /* jansson often reports a failed allocation as a syntax error; count
     * refusals instead, or valid input would be blamed on the sender. */
    if (!v &&
        (mem_thread_failures() != refused || json_error_code(&error) == json_error_out_of_memory)) {
        snprintf(detail, detail_len, "out of memory parsing JSON");
        return RC_NOMEM;
    }
    if (!v) {
        snprintf(detail, detail_len, "invalid JSON at line %d column %d: %s", error.line,
                 error.column, error.text);
        return RC_BAD_JSON;
    }
    if (want_object && !json_is_object(v)) {
        json_decref(v);
        snprintf(detail, detail_len, "the body must be a JSON object");
        return RC_BAD_JSON;
    }
    *out = v;
    return RC_OK;
}

void jx_reader_init(struct jx_reader *r, const json_t *obj)
{
    r->obj = obj;
    r->rc = 0;
    r->detail[0] = '\0';
}

void jx_fail(struct jx_reader *r, int rc, const char *fmt, ...)
{
    if (r->rc)
        return;
    r->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

/* Present-and-not-null member <field>, or NULL after failing a required one. */
static const json_t *jx_member(struct jx_reader *r, const char *field, enum jx_presence presence)
{
    if (r->rc)
        return NULL;
    const json_t *v = r->obj ? json_object_get(r->obj, field) : NULL;
    if (v && !json_is_null(v))
        return v;
    if (presence == JX_REQUIRED)
        jx_fail(r, RC_INVALID, "field '%s' is required", field);
    return NULL;
}

bool jx_has(const struct jx_reader *r, const char *field)
{
    const json_t *v = r->obj ? json_object_get(r->obj, field) : NULL;
    return v && !json_is_null(v);
}

const char *jx_str(struct jx_reader *r, const char *field, enum jx_presence presence,
                   size_t max_len)
{
    const json_t *v = jx_member(r, field, presence);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        jx_fail(r, RC_INVALID, "field '%s' must be a string", field);
        return NULL;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0 || len > max_len) {
        jx_fail(r, RC_INVALID, "field '%s' must be 1 to %zu characters long", field, max_len);
        return NULL;
    }
    if (memchr(s, '\0', len)) {
        jx_fail(r, RC_INVALID, "field '%s' must not contain NUL characters", field);
        return NULL;
    }
    return s;
}

const char *jx_id(struct jx_reader *r, const char *field, enum jx_presence presence, size_t max_len)
{
    const char *s = jx_str(r, field, presence, max_len);
    if (s && !id_is_name(s, max_len)) {
        jx_fail(r, RC_INVALID, "field '%s' may use only letters, digits and . _ : -", field);
        return NULL;
    }
    return s;
}

const char *jx_text(struct jx_reader *r, const char *field, enum jx_presence presence,
                    size_t max_chars)
{
    const json_t *v = jx_member(r, field, presence);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        jx_fail(r, RC_INVALID, "field '%s' must be a string", field);
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80; /* valid UTF-8: count lead bytes */
    if (chars == 0 || chars > max_chars) {
        jx_fail(r, RC_INVALID, "field '%s' must be 1 to %zu characters long", field, max_chars);
        return NULL;
    }
    if (memchr(s, '\0', len)) {
        jx_fail(r, RC_INVALID, "field '%s' must not contain NUL characters", field);
        return NULL;
    }
    return s;
}

void jx_only(struct jx_reader *r, ...)
{
    const char *key;
    json_t *value;
    if (r->rc || !json_is_object(r->obj))
        return;
    json_object_foreach((json_t *)r->obj, key, value)
    {
        bool known = false;
        va_list ap;
        va_start(ap, r);
        for (const char *name; !known && (name = va_arg(ap, const char *)) != NULL;)
            known = !strcmp(name, key);
        va_end(ap);
        if (!known) {
            jx_fail(r, RC_INVALID, "field '%.64s' is not part of this request", key);
            return;
        }
        if (json_is_null(value)) {
            jx_fail(r, RC_INVALID, "field '%s' must not be null; leave it out instead", key);
            return;
        }
    }
}

int64_t jx_int(struct jx_reader *r, const char *field, enum jx_presence presence, int64_t min,
               int64_t max)
{
    const json_t *v = jx_member(r, field, presence);
    if (!v)
        return 0;
    /* JSON has numbers, not integers: 5.0 is the integer 5 (as JSON Schema
     * reads it), 5.5 is not. A real is range-checked (to 2^53, where doubles
     * stop being exact) before the cast, so the cast cannot overflow. */
    json_int_t n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) >= -9007199254740992.0 &&
               json_real_value(v) <= 9007199254740992.0 &&
               json_real_value(v) == (double)(int64_t)json_real_value(v)) {
        n = (json_int_t)json_real_value(v);
    } else {
        jx_fail(r, RC_INVALID, "field '%s' must be an integer", field);
        return 0;
    }
    if (n < min || n > max) {
        jx_fail(r, RC_INVALID, "field '%s' must be between %lld and %lld", field, (long long)min,
                (long long)max);
        return 0;
    }
    return (int64_t)n;
}

char *jx_dump(const json_t *v) { return json_dumps(v, JSON_COMPACT); }
