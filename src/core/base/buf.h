/*
 * Growable byte buffer with a hard cap fixed at creation (curl's dynbuf).
 * The content is always NUL-terminated. Appending past the cap fails with
 * RC_TOO_LARGE and leaves the buffer unchanged.
 */
#ifndef WEBTOON_BASE_BUF_H
#define WEBTOON_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/base/bug.h"

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on len */
};

/* Prepares <b> (caller's storage) to hold at most <max> bytes. */
void buf_init(struct buf *b, size_t max);
/* Releases the memory; <b> can be reused after buf_init. */
void buf_cleanup(struct buf *b);
/* Forgets the content, keeps the memory. */
void buf_reset(struct buf *b);
/* Appends <len> bytes of <data>. Returns RC_OK, RC_NOMEM or RC_TOO_LARGE. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_appendf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
int buf_vappendf(struct buf *b, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);
/* Takes the content out as a new string (free with mem_free) and resets <b>;
 * returns "" as a new string when empty, NULL when out of memory. */
char *buf_steal(struct buf *b);

#endif
