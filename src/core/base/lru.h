/*
 * A bounded map with a recency list: byte-string keys, at most <max_entries>
 * entries of <max_bytes> in all, the least recently used pushed out to make
 * room. Entries are the caller's: a struct lru_entry is the first member of
 * the caller's own struct (one allocation holding the key too), freed
 * through the map's <free_entry> when it is pushed out, replaced or
 * removed. Not thread-safe: callers keep one per thread.
 */
#ifndef WEBTOON_BASE_LRU_H
#define WEBTOON_BASE_LRU_H

#include <stddef.h>
#include <stdint.h>

struct lru_entry {
    struct lru_entry *chain;         /* next in its bucket */
    struct lru_entry *newer, *older; /* recency list; NULL at its ends */
    uint64_t hash;                   /* of the key */
    const void *key;                 /* <key_len> bytes, inside the caller's entry */
    size_t key_len;
    size_t size; /* bytes it counts for */
};

struct lru {
    struct lru_entry **buckets; /* <nbuckets>, a power of two */
    size_t nbuckets;
    struct lru_entry *newest, *oldest;
    size_t entries, bytes;         /* now; never above the limits */
    size_t max_entries, max_bytes; /* fixed at lru_init */
    uint64_t evictions;            /* entries pushed out to make room */
    void (*free_entry)(struct lru_entry *e);
};

/* An empty map (both limits >= 1). RC_OK or RC_NOMEM. */
int lru_init(struct lru *l, size_t max_entries, size_t max_bytes,
             void (*free_entry)(struct lru_entry *e));
/* Frees every entry and the table; <l> may then be lru_init'ed again. */
void lru_clear(struct lru *l);
/* The entry of <key> (now the most recently used), or NULL. */
struct lru_entry *lru_get(struct lru *l, const void *key, size_t key_len);
/* Takes <e> out of <l> and frees it. */
void lru_remove(struct lru *l, struct lru_entry *e);
/* Adds <e> (its key, key_len and size set), replacing the entry of the same
 * key and pushing out the least recently used until it fits. RC_TOO_LARGE
 * when <e> alone exceeds the byte limit: then <e> is freed, nothing else
 * changes. */
int lru_put(struct lru *l, struct lru_entry *e);

#endif
