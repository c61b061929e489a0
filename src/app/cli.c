/*
 * What every command of the command line shares, main.c's and those of the
 * module table (commands.c): spotting a request for help, loading the
 * configuration, and answering a usage error the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/base/rc.h"

bool app_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help");
}

int app_fail_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "webtoon: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'webtoon --help' for usage.\n");
    va_end(ap);
    return 2;
}

int app_config_load(struct config *cfg)
{
    char err[512];
    if (config_load(cfg, err, sizeof err) != RC_OK) {
        fprintf(stderr, "webtoon: invalid configuration: %s\n", err);
        return 2;
    }
    return 0;
}
