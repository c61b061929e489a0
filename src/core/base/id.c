/* Random and time-ordered identifiers; see id.h. Uses getrandom(2), so no seeding is needed
 * and forked processes never repeat each other's ids. */
#include "core/base/id.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void id_random(uint8_t *b, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(b + got, len - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
}

/* Writes <b> with its version and the RFC 9562 variant as a UUID string. */
static void id_format(uint8_t b[16], unsigned version, char *out)
{
    b[6] = (uint8_t)((b[6] & 0x0f) | (version << 4));
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, ID_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

void id_uuid(char *out)
{
    uint8_t b[16];
    id_random(b, sizeof b);
    id_format(b, 4, out);
}

void id_uuid7(char *out)
{
    uint8_t b[16];
    id_random(b, sizeof b);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    /* The 12 bits after the version: the fraction of the millisecond
     * (RFC 9562's method 3), so ids made in one ms still sort by time. */
    uint32_t frac = (uint32_t)(((uint64_t)(ts.tv_nsec % 1000000) << 12) / 1000000);
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(frac >> 8);
    b[7] = (uint8_t)frac;
    id_format(b, 7, out);
}

bool id_is_token(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool id_is_name(const char *s, size_t max)
{
    size_t len = strlen(s);
    /* Dots only ("." or "..") would be a dot segment in the id's own URL,
     * which the HTTP layer refuses: such an id could never be read back. */
    return id_is_token(s, len, max) && strspn(s, ".") != len;
}
