/*
 * The application layer: the module table (which targets exist and what
 * each one runs), the supervisor behind `webtoon up`, and the operator
 * commands (`events tail`, `events reset`). main.c only parses flags and
 * calls in here.
 */
#ifndef WEBTOON_APP_H
#define WEBTOON_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/base/bug.h"
#include "core/config/config.h"
#include "core/service/service.h"

/* One runnable target: a service, the web frontend's file server or the
 * gateway. `up` runs all of them. */
struct app_module {
    const char *name;
    const char *summary;
    enum config_id port_setting;
    const struct service_def *service;      /* a service, run by service_run */
    int (*serve)(const struct config *cfg); /* otherwise this runs it */
    bool replicated;                        /* `up` runs WEBTOON_REPLICAS of it */
    bool after_others;                      /* `up` starts it once all others answer */
    int stop_signal;                        /* how `up` asks it to stop gracefully */
    /* NULL: `up` always runs it; else only when this says so for the
     * configuration (the built-in issuer, when no other is named). */
    bool (*is_wanted)(const struct config *cfg);
    /* Its operator command, `webtoon <name> ...`, or NULL: runs it with the
     * <argc> arguments <argv> after the name and returns the exit status.
     * `webtoon --help` lists it as "<name> <command_args>  <command_help>". */
    int (*command)(int argc, char **argv);
    const char *command_args; /* "rebuild"; NULL: none worth listing */
    const char *command_help;
};

/* Every target in start order (stop order is the reverse). */
extern const struct app_module app_modules[];
extern const size_t app_modules_len;

/* The module called <name>, or NULL. */
const struct app_module *app_module_find(const char *name);

/* --- the command line (cli.c, commands.c) ------------------------------- */

/* True for "-h", "--help" and "help". */
bool app_is_help(const char *arg);
/* Prints "webtoon: <fmt...>" and where to find the usage on stderr; returns
 * 2, the exit status of a usage error. */
int app_fail_usage(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* config_load into <cfg>, saying why not on stderr: 0, or exit status 2. The
 * caller runs config_cleanup either way. */
int app_config_load(struct config *cfg);

/* `webtoon auth add-user|rotate-key ...` and `webtoon history rebuild`
 * (app_module.command). */
int app_commands_auth(int argc, char **argv);
int app_commands_history(int argc, char **argv);

struct app_up_options {
    const char *self_exe; /* path of this binary, to start children */
    bool demo;            /* load the demo catalog once everything is up */
};

/* `webtoon up`: runs every target as a child process (services and the web
 * server WEBTOON_REPLICAS times), restarts crashed children with back-off,
 * restarts all one at a time on SIGHUP, stops all on SIGTERM/SIGINT.
 * Returns the exit status. */
int app_up(const struct config *cfg, const struct app_up_options *opts);

/* `webtoon restart`: asks the running `webtoon up` (found through its pid
 * file in the data directory) for a rolling restart. */
int app_restart(const struct config *cfg);

/* `webtoon serve web`: the web frontend's static files. */
int app_serve_web(const struct config *cfg);
/* `webtoon serve gateway`: renders the HAProxy configuration with the
 * issuer's keys, runs HAProxy (master-worker) as its child, reloads it when
 * the keys change, passes stop signals on and returns HAProxy's exit
 * status. */
int app_serve_gateway(const struct config *cfg);
/* Writes the gateway's HAProxy configuration for <cfg> to <out>, with the
 * issuer's keys as they are now (their PEM files written under
 * <data>/run/jwks; without keys, the rule answering tokens 503). */
int app_gateway_render(const struct config *cfg, FILE *out);

struct app_tail_options {
    bool from_beginning; /* else only new events */
    const char *type;    /* only this event type; NULL: all */
    bool verbose;        /* print offset, key and type before the payload */
    bool exit_at_end;    /* stop once caught up instead of following */
};

/* `webtoon events tail`: prints events as a console consumer would. */
int app_events_tail(const struct config *cfg, const struct app_tail_options *opts);

/* `webtoon events reset <group>`: moves a consumer group back to the start
 * of the log, so every event is delivered to it again. */
int app_events_reset(const struct config *cfg, const char *group);

/* `webtoon events lag <group>...`: prints "<group> <lag>" for each of the
 * <n> <groups>: events published that the group has not committed. */
int app_events_lag(const struct config *cfg, const char *const *groups, int n);

/* `webtoon events dead list|retry|drop ...` (<argc>/<argv> after "dead"):
 * dead letters of the services. Returns an exit status. */
int app_events_dead(const struct config *cfg, int argc, char **argv);

/* `webtoon token <user> [--admin] [--ttl S]`: prints an access token for
 * <user> signed with the built-in issuer's key (<ttl_s> 0: the configured
 * lifetime). Exit status 2 when <cfg> names an external issuer or <user>
 * is not a user id. */
int app_token(const struct config *cfg, const char *user, bool admin, int64_t ttl_s);
/* The token of app_token for <user>, without printing: RC_OK with a new
 * string in <out> (mem_free), else a code with a reason in <err>. Only for
 * the built-in issuer. */
int app_token_mint(const struct config *cfg, const char *user, bool admin, int64_t ttl_s,
                   char **out /* OUT */, char *err, size_t errlen);

/* A token for operator commands: the confidential client's service account
 * (admin). Minted with the local key for the built-in issuer; else asked of
 * WEBTOON_AUTH_ISSUER's token endpoint (client_credentials, with the secret
 * in WEBTOON_AUTH_CLI_SECRET_FILE). RC_OK with a new string in <out>
 * (mem_free), else a code with a reason in <err>. */
int app_service_token(const struct config *cfg, char **out /* OUT */, char *err, size_t errlen);

/* `webtoon demo`: loads the demo catalog through the running webtoon
 * service and prints a walk-through. Returns an exit status. */
int app_demo(const struct config *cfg);

#endif
