/*
 * Allocation hook: every heap allocation of ours (and jansson's, see
 * mem_install_json_hooks) goes through these functions, so that a test can
 * make the n-th allocation fail and check that the caller returns a clean
 * error without leaking (SQLite's test_malloc, curl's torture mode).
 *
 * mem_free(NULL) does nothing. MEM_FREE_NULL frees and clears the pointer.
 */
#ifndef WEBTOON_BASE_MEM_H
#define WEBTOON_BASE_MEM_H

#include <stddef.h>

/* New memory of <size> bytes, or NULL when out of memory (or injected). */
void *mem_alloc(size_t size);
/* New zeroed array of <n> items of <size> bytes, or NULL (overflow-safe). */
void *mem_calloc(size_t n, size_t size);
/* Resizes <ptr>; on failure returns NULL and <ptr> stays valid. */
void *mem_realloc(void *ptr, size_t size);
void mem_free(void *ptr);
/* New copy of <s> (NULL gives NULL); free with mem_free. */
char *mem_strdup(const char *s);
/* New copy of the first <n> bytes of <s>, NUL-terminated. */
char *mem_strndup(const char *s, size_t n);

#define MEM_FREE_NULL(p)                                                                           \
    do {                                                                                           \
        mem_free(p);                                                                               \
        (p) = NULL;                                                                                \
    } while (0)

/*
 * Test support: after <n> more successful allocations, every allocation
 * fails until mem_fail_reset(). n < 0 disables injection.
 *
 * The countdown is process-wide: it counts and refuses the allocations of
 * every thread, in whatever order they come. Use it where one thread
 * allocates; to fail an allocation at a given point of one thread while
 * others run, use mem_thread_fail_next.
 */
void mem_fail_after(long n);
void mem_fail_reset(void);
/* Number of allocations refused by injection (either kind) since the last
 * mem_fail_after. */
long mem_fail_count(void);

/*
 * Test support for one thread: the next <n> allocations of the calling
 * thread fail, then its allocations work again; other threads are not
 * affected. n <= 0 disarms. The setting is thread-local, so only the thread
 * itself can arm it: to fail an allocation of a background thread at an
 * exact point, call this from a hook that runs on that thread at that point
 * (for instance inbox_consumer_options.parse_hook). Refusals count in
 * mem_fail_count and mem_thread_failures. Takes precedence over
 * mem_fail_after while armed.
 */
void mem_thread_fail_next(long n);

/* Allocations refused on the calling thread so far, whether out of memory or
 * injected. A caller compares it before and after a library call to tell
 * "out of memory" from other failures when the library reports both alike
 * (jansson's parser does). */
unsigned long mem_thread_failures(void);

/* Routes jansson's allocations through this hook. Call once at start. */
void mem_install_json_hooks(void);

#endif
