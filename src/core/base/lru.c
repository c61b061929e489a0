/* A bounded map with a recency list; see lru.h. */
#include <string.h>

#include "core/base/bug.h"
#include "core/base/hash.h"
#include "core/base/lru.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

int lru_init(struct lru *l, size_t max_entries, size_t max_bytes,
             void (*free_entry)(struct lru_entry *e))
{
    BUG_ON(max_entries < 1 || max_bytes < 1 || !free_entry);
    memset(l, 0, sizeof *l);
    l->max_entries = max_entries;
    l->max_bytes = max_bytes;
    l->free_entry = free_entry;
    l->nbuckets = 8;
    while (l->nbuckets < max_entries && l->nbuckets < ((size_t)1 << 24))
        l->nbuckets *= 2;
    l->buckets = mem_calloc(l->nbuckets, sizeof *l->buckets);
    return l->buckets ? RC_OK : RC_NOMEM;
}

void lru_clear(struct lru *l)
{
    for (struct lru_entry *e = l->newest, *next; e; e = next) {
        next = e->older;
        l->free_entry(e);
    }
    mem_free(l->buckets);
    memset(l, 0, sizeof *l);
}

static struct lru_entry **lru_slot(struct lru *l, uint64_t hash)
{
    return &l->buckets[hash & (l->nbuckets - 1)];
}

static void lru_unlink_recency(struct lru *l, struct lru_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        l->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        l->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_make_newest(struct lru *l, struct lru_entry *e)
{
    e->older = l->newest;
    e->newer = NULL;
    if (l->newest)
        l->newest->newer = e;
    l->newest = e;
    if (!l->oldest)
        l->oldest = e;
}

static struct lru_entry *lru_find(struct lru *l, const void *key, size_t key_len, uint64_t hash)
{
    for (struct lru_entry *e = *lru_slot(l, hash); e; e = e->chain)
        if (e->hash == hash && e->key_len == key_len && !memcmp(e->key, key, key_len))
            return e;
    return NULL;
}

struct lru_entry *lru_get(struct lru *l, const void *key, size_t key_len)
{
    struct lru_entry *e = lru_find(l, key, key_len, hash_fnv1a(key, key_len));
    if (e) {
        lru_unlink_recency(l, e);
        lru_make_newest(l, e);
    }
    return e;
}

void lru_remove(struct lru *l, struct lru_entry *e)
{
    struct lru_entry **p = lru_slot(l, e->hash);
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    lru_unlink_recency(l, e);
    l->entries--;
    l->bytes -= e->size;
    l->free_entry(e);
}

int lru_put(struct lru *l, struct lru_entry *e)
{
    if (e->size > l->max_bytes) {
        l->free_entry(e);
        return RC_TOO_LARGE;
    }
    e->hash = hash_fnv1a(e->key, e->key_len);
    struct lru_entry *old = lru_find(l, e->key, e->key_len, e->hash);
    if (old)
        lru_remove(l, old);
    while (l->oldest && (l->entries + 1 > l->max_entries || l->bytes + e->size > l->max_bytes)) {
        lru_remove(l, l->oldest);
        l->evictions++;
    }
    struct lru_entry **slot = lru_slot(l, e->hash);
    e->chain = *slot;
    *slot = e;
    lru_make_newest(l, e);
    l->entries++;
    l->bytes += e->size;
    return RC_OK;
}
