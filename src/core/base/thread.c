/* Named threads that never take a process's signals; see thread.h. */
#include "core/base/thread.h"

#include <signal.h>

int thread_start(pthread_t *thread, const char *name, void *(*main)(void *), void *arg)
{
    sigset_t all, saved;
    sigfillset(&all);
    int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    /* The new thread inherits the mask in force here; the caller's own is
     * given back at once. */
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    int rc = pthread_create(thread, NULL, main, arg);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc == 0)
        (void)pthread_setname_np(*thread, name); /* a name too long is refused: unnamed */
    return rc;
}
