/*
 * The pod sandbox's process (Kubernetes' "pause" container), for the local
 * test cluster: it holds the pod's namespaces open, reaps the zombies of a
 * pod that shares its PID namespace, and exits at once on SIGTERM or SIGINT.
 * Built with `gcc -static` into a FROM-scratch image by
 * scripts/cluster/cluster.sh: no registry can be reached here, so the
 * upstream image is not an option.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
    (void)sig;
    _exit(0);
}

static void on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(void)
{
    struct sigaction stop = {.sa_handler = on_stop};
    struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};

    if (getpid() != 1)
        return 1; /* only meaningful as a container's init */
    if (sigaction(SIGTERM, &stop, NULL) || sigaction(SIGINT, &stop, NULL) ||
        sigaction(SIGCHLD, &child, NULL))
        return 2;
    for (;;)
        pause();
}
