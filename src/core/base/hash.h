/* Non-cryptographic hashing for tables and validators: FNV-1a, 64 bits. */
#ifndef WEBTOON_BASE_HASH_H
#define WEBTOON_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a of the <len> bytes at <data>: fast, well spread, not for secrets. */
static inline uint64_t hash_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

#endif
