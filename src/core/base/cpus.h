/* How many CPUs this process can use, for sizing thread pools. */
#ifndef WEBTOON_BASE_CPUS_H
#define WEBTOON_BASE_CPUS_H

/* The CPUs the process may run on (its affinity mask), capped by its
 * cgroup's CPU quota (cgroup v2 cpu.max, rounded up), which is what a
 * container's CPU limit sets. At least 1. */
int cpus_usable(void);

/* The cap of a cgroup v2 cpu.max line ("<quota> <period>" or "max
 * <period>"): quota / period rounded up, or 0 for no cap (or a line that
 * does not parse). */
int cpus_quota_cap(const char *cpu_max);

#endif
