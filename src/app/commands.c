/*
 * The operator commands of services, run through the module table
 * (app_module.command): `webtoon auth ...` (the built-in issuer's accounts
 * and keys) and `webtoon history rebuild`. Each reads its arguments, prints
 * its help without needing a valid configuration, then loads it and hands
 * over to the service.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "svc/auth/auth.h"
#include "svc/history/history.h"

static const char commands_usage_auth[] =
    "Usage: webtoon auth add-user <name> [--admin]   (password on standard input)\n"
    "       webtoon auth rotate-key\n"
    "\n"
    "The built-in issuer's state in the data directory (WEBTOON_AUTH_ISSUER empty).\n"
    "add-user creates a reader account (an admin with --admin) whose password is\n"
    "the first line of standard input, at least 8 characters; an existing account\n"
    "gets the new password (and the role). rotate-key makes a new signing key; the\n"
    "previous public key stays published so tokens signed before still verify\n"
    "until they expire. A running issuer picks both up at once.\n";

int app_commands_auth(int argc, char **argv)
{
    if (argc < 1 || app_is_help(argv[0])) {
        fputs(commands_usage_auth, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *name = NULL;
    bool admin = false;
    bool add = !strcmp(argv[0], "add-user");
    if (!add && strcmp(argv[0], "rotate-key") != 0)
        return app_fail_usage("unknown auth command '%s'", argv[0]);
    for (int i = 1; i < argc; i++) {
        if (app_is_help(argv[i])) {
            fputs(commands_usage_auth, stdout);
            return 0;
        } else if (add && !strcmp(argv[i], "--admin")) {
            admin = true;
        } else if (add && argv[i][0] != '-' && !name) {
            name = argv[i];
        } else {
            return app_fail_usage("unknown option '%s' for auth %s", argv[i], argv[0]);
        }
    }
    if (add && !name) {
        fputs(commands_usage_auth, stderr);
        return 2;
    }
    struct config cfg;
    int rc = app_config_load(&cfg);
    if (rc == 0)
        rc = add ? auth_cli_add_user(&cfg, name, admin, stdin) : auth_cli_rotate_key(&cfg);
    config_cleanup(&cfg);
    return rc;
}

int app_commands_history(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "rebuild") != 0)
        return app_fail_usage("usage: webtoon history rebuild");
    struct config cfg;
    int rc = app_config_load(&cfg);
    if (rc == 0)
        rc = history_rebuild(&cfg);
    config_cleanup(&cfg);
    return rc;
}
