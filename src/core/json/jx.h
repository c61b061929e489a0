/*
 * JSON helpers over jansson: parsing untrusted bodies and reading typed,
 * bounded fields with a readable reason when a field is wrong.
 *
 * A jx_reader is a sticky-error cursor over one object: after the first bad
 * field every later read returns a neutral value and the reader keeps the
 * first reason, so a handler reads all fields and checks once:
 *
 *   struct jx_reader r;
 *   jx_reader_init(&r, body);
 *   const char *user = jx_str(&r, "userId", JX_REQUIRED, 64);
 *   int64_t price = jx_int(&r, "price", JX_REQUIRED, 1, 1000000);
 *   if (r.rc) return http_fail(req, r.rc, "%s", r.detail);
 */
#ifndef WEBTOON_JSON_JX_H
#define WEBTOON_JSON_JX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jx_presence { JX_OPTIONAL, JX_REQUIRED };

struct jx_reader {
    const json_t *obj; /* borrowed */
    int rc;            /* RC_OK until the first bad field */
    char detail[256];  /* reason for rc, for the problem+json `detail` */
};

/*
 * Parses <len> bytes of <data>. Duplicate keys, trailing garbage and
 * non-object roots (when <want_object>) are refused. Returns RC_OK with a new
 * reference in <out> (json_decref it), or RC_BAD_JSON with a reason in
 * <detail>, or RC_NOMEM when an allocation failed (seen through the hook
 * that mem_install_json_hooks installs): the same input may parse later.
 */
int jx_parse(const char *data, size_t len, bool want_object, json_t **out, char *detail,
             size_t detail_len);

void jx_reader_init(struct jx_reader *r, const json_t *obj);
/*
 * String field of 1..<max_len> bytes (valid UTF-8 is guaranteed by jansson).
 * Returns a borrowed pointer valid while the object lives; NULL when absent
 * (optional) or on error.
 */
const char *jx_str(struct jx_reader *r, const char *field, enum jx_presence presence,
                   size_t max_len);
/* Like jx_str for a client-chosen id (userId, webtoonId) of 1..<max_len>
 * bytes that names a resource (id_is_name); fails the reader (RC_INVALID,
 * the rule as the reason) for any other string. */
const char *jx_id(struct jx_reader *r, const char *field, enum jx_presence presence,
                  size_t max_len);
/* Like jx_str for human text: 1..<max_chars> characters (code points, as
 * JSON Schema's maxLength counts them), so a title in any script gets the
 * same room; the value may take up to 4 × <max_chars> bytes. */
const char *jx_text(struct jx_reader *r, const char *field, enum jx_presence presence,
                    size_t max_chars);
/* Integer field within <min>..<max>; accepts JSON integers and numbers with
 * no fraction (5.0, 5e2, as JSON Schema counts them integers). Returns 0
 * when absent (optional) or on error; jx_has tells absence apart. */
int64_t jx_int(struct jx_reader *r, const char *field, enum jx_presence presence, int64_t min,
               int64_t max);
/*
 * Fails the reader (RC_INVALID) when the object has a member not named in
 * the NULL-terminated list of field names that follows, or a member whose
 * value is null: a request body says exactly what it means, and a misspelt
 * or misplaced field is refused instead of silently ignored. (The readers
 * above treat null as absent; a request has no use for that.)
 */
void jx_only(struct jx_reader *r, ...) __attribute__((sentinel));
/* True when <field> is present and not null. */
bool jx_has(const struct jx_reader *r, const char *field);
/* Marks the reader failed with <rc> and a formatted reason unless it
 * already failed; for checks that span fields. */
void jx_fail(struct jx_reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* New compact serialisation of <v> (free with mem_free), or NULL. */
char *jx_dump(const json_t *v);

#endif
