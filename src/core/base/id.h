/* Random identifiers: UUID v4 strings for event ids, request ids and keys. */
#ifndef WEBTOON_BASE_ID_H
#define WEBTOON_BASE_ID_H

#include <stdbool.h>
#include <stddef.h>

#define ID_UUID_LEN 36 /* without the terminating NUL */
#define ID_NAME_MAX 64 /* longest client-chosen id (id_is_name): a user, a resource */

/* Writes a random UUID v4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") into <out>,
 * which holds at least ID_UUID_LEN + 1 bytes. */
void id_uuid(char *out);
/* True when <s> (length <len>) is a printable token of 1..<max> characters
 * from [A-Za-z0-9._:-]; used to accept client-chosen ids and keys safely. */
bool id_is_token(const char *s, size_t len, size_t max);
/* True when <s> can be a client-chosen id that names a resource in a URL:
 * a token of 1..<max> characters (id_is_token) that is not dots only. */
bool id_is_name(const char *s, size_t max);

#endif
