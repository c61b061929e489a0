/* Usable CPUs; see cpus.h. */
#include "core/base/cpus.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>

int cpus_quota_cap(const char *cpu_max)
{
    long long quota, period;
    if (sscanf(cpu_max, "%lld %lld", &quota, &period) != 2 || quota <= 0 || period <= 0)
        return 0; /* "max <period>": no cap */
    long long cap = (quota + period - 1) / period;
    return cap > 4096 ? 4096 : (int)cap;
}

/* The cap of the cgroup directory <dir>, 0 when none. */
static int cpus_cgroup_cap(const char *dir)
{
    char path[4200], line[64];
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int cap = fgets(line, sizeof line, f) ? cpus_quota_cap(line) : 0;
    fclose(f);
    return cap;
}

int cpus_usable(void)
{
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    /* This process's cgroup v2 ("0::<path>") and each one above it: a
     * limit may be set on any of them. */
    char line[4096], dir[4200] = "";
    FILE *f = fopen("/proc/self/cgroup", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", line + 3);
        }
    if (f)
        fclose(f);
    size_t root = strlen("/sys/fs/cgroup");
    for (size_t len = strlen(dir); len >= root; len = strlen(dir)) {
        int cap = cpus_cgroup_cap(dir);
        if (cap > 0 && cap < n)
            n = cap;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < root)
            break;
        *slash = '\0'; /* the parent; "/sys/fs/cgroup/" becomes the root itself */
    }
    return n > 0 ? n : 1;
}
