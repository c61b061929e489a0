/* Starting the threads of a process. */
#ifndef WEBTOON_BASE_THREAD_H
#define WEBTOON_BASE_THREAD_H

#include <pthread.h>

/* pthread_create, but the new thread blocks every signal a process is sent
 * (SIGTERM, SIGINT, SIGHUP, SIGCHLD, ...), whatever the caller's mask: those
 * are for the main thread's sigwait or signalfd. A thread started before the
 * main thread blocks them would otherwise take a SIGTERM meant for a drain
 * and die of it. Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT)
 * stay with the thread that raises them. <name> (at most 15 characters)
 * names the thread for top -H, perf and /proc/<pid>/task/<tid>/comm.
 * Returns pthread_create's result. */
int thread_start(pthread_t *thread, const char *name, void *(*main)(void *), void *arg);

#endif
