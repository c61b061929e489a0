/*
 * webtoon: one binary for the whole platform. Parses flags and hands over
 * to the app layer; every command is described in its own help text.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/base/mem.h"

extern const char app_openapi_json[]; /* generated from api/openapi.json */

static const char main_usage[] =
    "Usage: webtoon [--data-dir DIR] <command> [options]\n"
    "\n"
    "A webtoon store made of five event-driven services.\n"
    "\n"
    "Commands:\n"
    "  up                 run everything behind the gateway on :8088; Ctrl-C stops it\n"
    "  serve <target>     run one target: a service, web or gateway (`serve --help`)\n"
    "  restart            restart a running `up` one process at a time, without downtime\n"
    "  events tail        print the event stream like a console consumer\n"
    "  events reset <g>   deliver every event again to consumer group <g>\n"
    "  events dead        list, retry or drop events a service could not apply\n"
    "  demo               load the demo catalog into a running system\n"
    "  token <user>       print an access token signed by the built-in issuer\n";
/* ...then each module's command (app_module.command), then: */
static const char main_usage_tail[] =
    "  gateway config     print the gateway's HAProxy configuration\n"
    "  config             print the configuration variables (markdown)\n"
    "\n"
    "Options:\n"
    "  --data-dir DIR     where all state lives (default ./var; or WEBTOON_DATA_DIR)\n"
    "  -h, --help         this help; `webtoon <command> --help` for a command\n"
    "  -V, --version      print the version\n"
    "\n"
    "Every setting is an environment variable; see `webtoon config`.\n";

static const char main_usage_serve[] =
    "Usage: webtoon serve <target> [--port N]\n"
    "\n"
    "Runs one target in the foreground until SIGTERM or Ctrl-C, then drains:\n"
    "/readyz turns 503, in-flight requests finish, pending events are published.\n"
    "\n"
    "Targets:\n";

static const char main_usage_up[] =
    "Usage: webtoon up [--replicas N] [--demo]\n"
    "\n"
    "Runs the built-in issuer (unless WEBTOON_AUTH_ISSUER names another), the\n"
    "five services, the web frontend's file server and the gateway\n"
    "(HAProxy, http://localhost:8088) as child processes, waits until each\n"
    "answers /healthz and prints their addresses. A crashed process is\n"
    "restarted with back-off; SIGHUP (`webtoon restart`) restarts them one at a\n"
    "time without downtime; Ctrl-C or SIGTERM stops everything cleanly.\n"
    "Every process's log lines come out on up's stdout; with WEBTOON_LOKI_URL set\n"
    "they are also pushed to that Loki (or VictoriaLogs) push endpoint.\n"
    "\n"
    "  --replicas N   processes per service (default 1, or WEBTOON_REPLICAS);\n"
    "                 replica r listens on its port + 100 * r\n"
    "  --demo         load the demo catalog once everything is up\n";

static const char main_usage_events[] =
    "Usage: webtoon events tail [--from-beginning] [--type TYPE] [--verbose] [--exit-at-end]\n"
    "       webtoon events reset <group>\n"
    "       webtoon events lag <group>...\n"
    "       webtoon events dead list [<service>...]\n"
    "       webtoon events dead retry <service> <eventId> [--payload JSON]\n"
    "       webtoon events dead drop <service> <eventId>\n"
    "\n"
    "tail prints each event's JSON payload on its own line, following new events\n"
    "until Ctrl-C.\n"
    "  --from-beginning  start at the first event instead of new ones only\n"
    "  --type TYPE       only events of this type (e.g. Joined)\n"
    "  --verbose         prefix each line with offset, key and type\n"
    "  --exit-at-end     stop when there is nothing more to read\n"
    "\n"
    "reset rewinds a stopped consumer group (a service name) to the start of the\n"
    "log; the service then sees every event again, and its inbox ignores what it\n"
    "already applied.\n"
    "\n"
    "lag prints, for each group, how many events it has not committed yet.\n"
    "\n"
    "dead lists the events a service could never apply (one JSON line each, with\n"
    "the error), applies one again (retry, optionally with a repaired payload), or\n"
    "removes one for good (drop).\n";

static const char main_usage_token[] =
    "Usage: webtoon token <user> [--admin] [--ttl S]\n"
    "\n"
    "Prints an access token for <user> (a user id: letters, digits and . _ : -,\n"
    "at most 64), signed with the built-in issuer's key in the data directory\n"
    "(made when missing), as the issuer would sign it for the client\n"
    "WEBTOON_AUTH_CLI_CLIENT. Refused when WEBTOON_AUTH_ISSUER names another\n"
    "issuer: ask its token endpoint instead.\n"
    "\n"
    "  --admin   the token carries the admin role besides reader\n"
    "  --ttl S   lifetime in seconds, 1 to 86400 (default WEBTOON_AUTH_TOKEN_TTL_S)\n"
    "\n"
    "  curl -H \"Authorization: Bearer $(webtoon token alice)\" localhost:8088/pointers/alice\n";

/* Parses a positive integer flag value; returns -1 when invalid. */
static long main_parse_count(const char *text, long max)
{
    char *end = NULL;
    long v = text ? strtol(text, &end, 10) : -1;
    return text && *text && !*end && v >= 1 && v <= max ? v : -1;
}

static int main_serve(int argc, char **argv)
{
    if (argc < 1 || app_is_help(argv[0])) {
        fputs(main_usage_serve, argc < 1 ? stderr : stdout);
        for (size_t i = 0; i < app_modules_len; i++)
            fprintf(argc < 1 ? stderr : stdout, "  %-9s %s\n", app_modules[i].name,
                    app_modules[i].summary);
        return argc < 1 ? 2 : 0;
    }
    const struct app_module *m = app_module_find(argv[0]);
    if (!m)
        return app_fail_usage("unknown target '%s'", argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            if (main_parse_count(argv[i + 1], 65535) < 0)
                return app_fail_usage("--port needs a number from 1 to 65535, not '%s'",
                                      argv[i + 1]);
            setenv("WEBTOON_PORT", argv[++i], 1);
        } else {
            return app_fail_usage("unknown option '%s' for serve", argv[i]);
        }
    }
    struct config cfg;
    int rc = app_config_load(&cfg);
    service_set_api_document(app_openapi_json);
    if (rc == 0)
        rc = m->service ? service_run(m->service, &cfg) : m->serve(&cfg);
    config_cleanup(&cfg);
    return rc;
}

static int main_up(int argc, char **argv)
{
    struct app_up_options opts = {0};
    for (int i = 0; i < argc; i++) {
        if (app_is_help(argv[i])) {
            fputs(main_usage_up, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--demo")) {
            opts.demo = true;
        } else if (!strcmp(argv[i], "--replicas") && i + 1 < argc) {
            if (main_parse_count(argv[++i], 16) < 0)
                return app_fail_usage("--replicas needs a number from 1 to 16, not '%s'", argv[i]);
            setenv("WEBTOON_REPLICAS", argv[i], 1);
        } else {
            return app_fail_usage("unknown option '%s' for up", argv[i]);
        }
    }
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return app_fail_usage("cannot find my own executable");
    self[len] = '\0';
    opts.self_exe = self;
    struct config cfg;
    int rc = app_config_load(&cfg);
    if (rc == 0)
        rc = app_up(&cfg, &opts);
    config_cleanup(&cfg);
    return rc;
}

static int main_events(int argc, char **argv)
{
    if (argc < 1 || app_is_help(argv[0])) {
        fputs(main_usage_events, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    struct config cfg;
    int rc;
    if (!strcmp(argv[0], "reset")) {
        if (argc != 2 || app_is_help(argv[1])) {
            fputs(main_usage_events, argc != 2 ? stderr : stdout);
            return argc != 2 ? 2 : 0;
        }
        if ((rc = app_config_load(&cfg)) == 0)
            rc = app_events_reset(&cfg, argv[1]);
        config_cleanup(&cfg);
        return rc;
    }
    if (!strcmp(argv[0], "lag")) {
        if (argc < 2 || app_is_help(argv[1])) {
            fputs(main_usage_events, argc < 2 ? stderr : stdout);
            return argc < 2 ? 2 : 0;
        }
        if ((rc = app_config_load(&cfg)) == 0)
            rc = app_events_lag(&cfg, (const char *const *)argv + 1, argc - 1);
        config_cleanup(&cfg);
        return rc;
    }
    if (!strcmp(argv[0], "dead")) {
        if ((rc = app_config_load(&cfg)) == 0)
            rc = app_events_dead(&cfg, argc - 1, argv + 1);
        config_cleanup(&cfg);
        return rc;
    }
    if (strcmp(argv[0], "tail") != 0)
        return app_fail_usage("unknown events command '%s'", argv[0]);
    struct app_tail_options opts = {0};
    for (int i = 1; i < argc; i++) {
        if (app_is_help(argv[i])) {
            fputs(main_usage_events, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--from-beginning")) {
            opts.from_beginning = true;
        } else if (!strcmp(argv[i], "--verbose")) {
            opts.verbose = true;
        } else if (!strcmp(argv[i], "--exit-at-end")) {
            opts.exit_at_end = true;
        } else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            opts.type = argv[++i];
        } else {
            return app_fail_usage("unknown option '%s' for events tail", argv[i]);
        }
    }
    if ((rc = app_config_load(&cfg)) == 0)
        rc = app_events_tail(&cfg, &opts);
    config_cleanup(&cfg);
    return rc;
}

static int main_token(int argc, char **argv)
{
    const char *user = NULL;
    bool admin = false;
    long ttl = 0;
    for (int i = 0; i < argc; i++) {
        if (app_is_help(argv[i])) {
            fputs(main_usage_token, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--admin")) {
            admin = true;
        } else if (!strcmp(argv[i], "--ttl") && i + 1 < argc) {
            if ((ttl = main_parse_count(argv[++i], 86400)) < 0)
                return app_fail_usage("--ttl needs a number of seconds from 1 to 86400, not '%s'",
                                      argv[i]);
        } else if (argv[i][0] != '-' && !user) {
            user = argv[i];
        } else {
            return app_fail_usage("unknown option '%s' for token", argv[i]);
        }
    }
    if (!user) {
        fputs(main_usage_token, stderr);
        return 2;
    }
    struct config cfg;
    int rc = app_config_load(&cfg);
    if (rc == 0)
        rc = app_token(&cfg, user, admin, ttl);
    config_cleanup(&cfg);
    return rc;
}

/* `webtoon --help`: the commands of main.c and of the module table. */
static void main_print_usage(FILE *out)
{
    fputs(main_usage, out);
    for (size_t i = 0; i < app_modules_len; i++) {
        const struct app_module *m = &app_modules[i];
        if (!m->command)
            continue;
        char synopsis[64];
        snprintf(synopsis, sizeof synopsis, "%s%s%s", m->name, m->command_args ? " " : "",
                 m->command_args ? m->command_args : "");
        fprintf(out, "  %-18s %s\n", synopsis, m->command_help);
    }
    fputs(main_usage_tail, out);
}

int main(int argc, char **argv)
{
    mem_install_json_hooks();
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (app_is_help(argv[i])) {
            main_print_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
            printf("webtoon %s\n", WEBTOON_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) {
            setenv("WEBTOON_DATA_DIR", argv[++i], 1);
        } else {
            return app_fail_usage("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc) {
        main_print_usage(stderr);
        return 2;
    }
    const char *cmd = argv[i++];
    if (!strcmp(cmd, "serve"))
        return main_serve(argc - i, argv + i);
    if (!strcmp(cmd, "up"))
        return main_up(argc - i, argv + i);
    if (!strcmp(cmd, "events"))
        return main_events(argc - i, argv + i);
    if (!strcmp(cmd, "token"))
        return main_token(argc - i, argv + i);
    const struct app_module *m = app_module_find(cmd);
    if (m && m->command)
        return m->command(argc - i, argv + i);
    if (!strcmp(cmd, "demo")) {
        struct config cfg;
        int rc = app_config_load(&cfg);
        if (rc == 0)
            rc = app_demo(&cfg);
        config_cleanup(&cfg);
        return rc;
    }
    if (!strcmp(cmd, "restart") || !strcmp(cmd, "gateway")) {
        bool render = !strcmp(cmd, "gateway");
        if (render && (i >= argc || strcmp(argv[i], "config") != 0))
            return app_fail_usage("usage: webtoon gateway config");
        struct config cfg;
        int rc = app_config_load(&cfg);
        if (rc == 0)
            rc = render ? (app_gateway_render(&cfg, stdout) == 0 ? 0 : 1) : app_restart(&cfg);
        config_cleanup(&cfg);
        return rc;
    }
    if (!strcmp(cmd, "config")) {
        config_write_markdown(stdout);
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        main_print_usage(stdout);
        return 0;
    }
    return app_fail_usage("unknown command '%s'", cmd);
}
