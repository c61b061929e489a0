/*
 * The gateway: renders deploy/haproxy/haproxy.cfg.in (compiled in) with the
 * configured ports, limits and replicas, and runs HAProxy on it.
 * `webtoon serve gateway` writes <data>/run/haproxy.cfg and becomes HAProxy
 * (exec), so the supervisor sees and signals HAProxy itself.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "core/base/rc.h"

extern const char app_haproxy_template[]; /* generated from deploy/haproxy/haproxy.cfg.in */

#define GATEWAY_REPLICA_PORT_STEP 100

/* Two `server` lines per replica of <backend>: the health-checked one, and
 * an unchecked backup used only when no checked server is in rotation (the
 * template says why). */
static void gateway_servers(const struct config *cfg, const char *backend, FILE *out)
{
    const struct app_module *m = app_module_find(backend);
    int base = m ? (int)config_int(cfg, m->port_setting) : 0;
    int replicas = (int)config_int(cfg, CONFIG_REPLICAS);
    for (int backup = 0; backup < 2; backup++)
        for (int r = 0; r < replicas; r++)
            fprintf(out, "    server %s-%d%s %s:%d %s\n", backend, r, backup ? "-fallback" : "",
                    config_str(cfg, CONFIG_UPSTREAM_HOST), base + r * GATEWAY_REPLICA_PORT_STEP,
                    backup ? "backup" : "check");
}

/* Writes the value of placeholder <name> (<len> bytes) to <out>; returns
 * false for an unknown name. */
static bool gateway_expand(const struct config *cfg, const char *name, size_t len, FILE *out)
{
    if (len > 8 && !strncmp(name, "servers ", 8)) {
        char backend[32];
        snprintf(backend, sizeof backend, "%.*s", (int)(len - 8), name + 8);
        gateway_servers(cfg, backend, out);
        return true;
    }
    if (len == 6 && !strncmp(name, "listen", 6))
        fprintf(out, "%s:%lld", config_str(cfg, CONFIG_LISTEN_ADDR),
                (long long)config_int(cfg, CONFIG_GATEWAY_PORT));
    else if (len == 10 && !strncmp(name, "rate_limit", 10))
        fprintf(out, "%lld", (long long)config_int(cfg, CONFIG_GATEWAY_RATE_LIMIT));
    else if (len == 15 && !strncmp(name, "max_connections", 15))
        fprintf(out, "%lld", (long long)config_int(cfg, CONFIG_GATEWAY_MAX_CONNECTIONS_PER_CLIENT));
    else if (len == 8 && !strncmp(name, "max_body", 8))
        fprintf(out, "%lld", (long long)config_int(cfg, CONFIG_HTTP_MAX_BODY));
    else
        return false;
    return true;
}

int app_gateway_render(const struct config *cfg, FILE *out)
{
    const char *p = app_haproxy_template;
    for (const char *open; (open = strstr(p, "{{")) != NULL;) {
        const char *close = strstr(open, "}}");
        if (!close)
            break;
        fwrite(p, 1, (size_t)(open - p), out);
        /* A {{servers x}} placeholder stands alone on its line and expands to
         * whole lines, so its own line break goes too. */
        if (!gateway_expand(cfg, open + 2, (size_t)(close - open - 2), out))
            return RC_CONFIG;
        p = close + 2;
        if (!strncmp(open + 2, "servers ", 8) && *p == '\n')
            p++;
    }
    fputs(p, out);
    return ferror(out) ? RC_IO : RC_OK;
}

int app_serve_gateway(const struct config *cfg)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/run", config_str(cfg, CONFIG_DATA_DIR));
    snprintf(path, sizeof path, "%s/haproxy.cfg", dir);
    if ((mkdir(config_str(cfg, CONFIG_DATA_DIR), 0755) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
        fprintf(stderr, "webtoon serve gateway: cannot create %s: %s\n", dir, strerror(errno));
        return 2;
    }
    FILE *f = fopen(path, "w");
    int rc = f ? app_gateway_render(cfg, f) : RC_IO;
    if (f && fclose(f) != 0)
        rc = RC_IO;
    if (rc != RC_OK) {
        fprintf(stderr, "webtoon serve gateway: cannot write %s\n", path);
        return 2;
    }
    const char *haproxy = config_str(cfg, CONFIG_HAPROXY);
    char *argv[] = {(char *)haproxy, "-db", "-f", path, NULL};
    execvp(haproxy, argv);
    fprintf(stderr, "webtoon serve gateway: cannot run %s: %s (install haproxy)\n", haproxy,
            strerror(errno));
    return 2;
}
