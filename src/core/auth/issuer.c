/* Which issuer a configuration trusts; see issuer.h. */
#include "core/auth/issuer.h"

#include <stdio.h>

#include "core/base/rc.h"

/* snprintf into <out>, RC_CONFIG (and "") when cut. */
static int auth__fit(char *out, size_t len, int wrote)
{
    if (wrote < 0 || (size_t)wrote >= len) {
        if (len)
            out[0] = '\0';
        return RC_CONFIG;
    }
    return RC_OK;
}

bool auth_issuer_is_builtin(const struct config *cfg)
{
    return config_str(cfg, CONFIG_AUTH_ISSUER)[0] == '\0';
}

int auth_issuer_url(const struct config *cfg, char *out, size_t len)
{
    if (!auth_issuer_is_builtin(cfg))
        return auth__fit(out, len, snprintf(out, len, "%s", config_str(cfg, CONFIG_AUTH_ISSUER)));
    return auth__fit(
        out, len,
        snprintf(out, len, "http://127.0.0.1:%lld", (long long)config_int(cfg, CONFIG_AUTH_PORT)));
}

int auth_issuer_dir(const struct config *cfg, char *out, size_t len)
{
    return auth__fit(out, len, snprintf(out, len, "%s/auth", config_str(cfg, CONFIG_DATA_DIR)));
}

int auth_issuer_cli_secret_path(const struct config *cfg, char *out, size_t len)
{
    const char *configured = config_str(cfg, CONFIG_AUTH_CLI_SECRET_FILE);
    if (*configured)
        return auth__fit(out, len, snprintf(out, len, "%s", configured));
    return auth__fit(
        out, len,
        snprintf(out, len, "%s/auth/cli-client-secret", config_str(cfg, CONFIG_DATA_DIR)));
}

int auth_issuer_jwks_url(const struct config *cfg, char *out, size_t len)
{
    const char *configured = config_str(cfg, CONFIG_AUTH_JWKS_URL);
    if (*configured)
        return auth__fit(out, len, snprintf(out, len, "%s", configured));
    if (!auth_issuer_is_builtin(cfg))
        return auth__fit(out, len, snprintf(out, len, "%s", ""));
    return auth__fit(
        out, len, snprintf(out, len, "file:%s/auth/jwks.json", config_str(cfg, CONFIG_DATA_DIR)));
}
