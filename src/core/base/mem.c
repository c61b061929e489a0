/* Allocation hook with failure injection for tests; see mem.h. */
#include "core/base/mem.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static atomic_long mem_budget = -1; /* allocations left before failing; <0: off */
static atomic_long mem_refused;
static _Thread_local unsigned long mem_thread_refused; /* see mem_thread_failures */
static _Thread_local long mem_thread_burst; /* this thread's allocations still to refuse; see
                                             * mem_thread_fail_next */

static int mem_should_fail(void)
{
    if (mem_thread_burst > 0) {
        mem_thread_burst--;
        atomic_fetch_add(&mem_refused, 1);
        return 1;
    }
    long left = atomic_load(&mem_budget);
    while (left >= 0) {
        if (left == 0) {
            atomic_fetch_add(&mem_refused, 1);
            return 1;
        }
        if (atomic_compare_exchange_weak(&mem_budget, &left, left - 1))
            return 0;
    }
    return 0;
}

/* Returns <p>, counting a NULL as a refused allocation of this thread. */
static void *mem_note(void *p)
{
    if (!p)
        mem_thread_refused++;
    return p;
}

void *mem_alloc(size_t size)
{
    if (mem_should_fail())
        return mem_note(NULL);
    return mem_note(malloc(size ? size : 1));
}

void *mem_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return mem_note(NULL);
    if (mem_should_fail())
        return mem_note(NULL);
    return mem_note(calloc(n ? n : 1, size ? size : 1));
}

void *mem_realloc(void *ptr, size_t size)
{
    if (mem_should_fail())
        return mem_note(NULL);
    return mem_note(realloc(ptr, size ? size : 1));
}

void mem_free(void *ptr) { free(ptr); }

char *mem_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *copy = mem_alloc(n + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

char *mem_strdup(const char *s) { return s ? mem_strndup(s, strlen(s)) : NULL; }

void mem_fail_after(long n)
{
    atomic_store(&mem_refused, 0);
    atomic_store(&mem_budget, n);
}

void mem_fail_reset(void) { atomic_store(&mem_budget, -1); }

long mem_fail_count(void) { return atomic_load(&mem_refused); }

void mem_thread_fail_next(long n) { mem_thread_burst = n > 0 ? n : 0; }

unsigned long mem_thread_failures(void) { return mem_thread_refused; }

void mem_install_json_hooks(void) { json_set_alloc_funcs(mem_alloc, mem_free); }
