/* Capped growable buffer; see buf.h. */
#include "core/base/buf.h"

#include <stdio.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"

void buf_init(struct buf *b, size_t max) { *b = (struct buf){.max = max}; }

void buf_cleanup(struct buf *b)
{
    MEM_FREE_NULL(b->data);
    b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return RC_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return RC_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap - 1 > b->max) /* not cap > max + 1: that wraps when max is SIZE_MAX */
        cap = b->max + 1;
    char *data = mem_realloc(b->data, cap);
    if (!data)
        return RC_NOMEM;
    b->data = data;
    b->cap = cap;
    return RC_OK;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc != RC_OK)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return RC_OK;
}

int buf_append_str(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
    va_list probe;
    va_copy(probe, ap);
    int n = vsnprintf(NULL, 0, fmt, probe);
    va_end(probe);
    if (n < 0)
        return RC_INTERNAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc != RC_OK)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return RC_OK;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *buf_steal(struct buf *b)
{
    char *out = b->data ? b->data : mem_strdup("");
    *b = (struct buf){.max = b->max};
    return out;
}
