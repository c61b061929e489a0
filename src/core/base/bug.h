/*
 * BUG_ON: guards our own invariants, never untrusted input. A violated
 * invariant means memory or state is already wrong, so we stop at once with
 * the location rather than limp on (HAProxy's BUG_ON).
 */
#ifndef WEBTOON_BASE_BUG_H
#define WEBTOON_BASE_BUG_H

#include <stdio.h>
#include <stdlib.h>

#define BUG_ON(cond)                                                                               \
    do {                                                                                           \
        if (__builtin_expect(!!(cond), 0)) {                                                       \
            fprintf(stderr, "BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define PRINTF_LIKE(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))

#endif
