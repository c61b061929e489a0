/*
 * `webtoon token <user>`: an access token for <user>, signed with the
 * built-in issuer's key from the local data directory (made when missing),
 * for the confidential client, exactly as the issuer's own token endpoint
 * would sign one. For scripts, tests and operators on the machine that
 * holds the key; with an external issuer there is no key here, and the
 * issuer's token endpoint is the way.
 */
#include <stdio.h>
#include <time.h>

#include "app/app.h"
#include "core/auth/issuer.h"
#include "core/auth/keys.h"
#include "core/auth/mint.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/domain/events.h"
#include "core/domain/users.h"

int app_token_mint(const struct config *cfg, const char *user, bool admin, int64_t ttl_s,
                   char **out, char *err, size_t errlen)
{
    *out = NULL;
    char dir[4096], iss[1100];
    int rc = auth_issuer_dir(cfg, dir, sizeof dir);
    if (rc == RC_OK)
        rc = auth_issuer_url(cfg, iss, sizeof iss);
    if (rc != RC_OK) {
        snprintf(err, errlen, "the data directory path is too long");
        return rc;
    }
    struct auth_signer *signer = NULL;
    if ((rc = auth_keys_ensure(dir, err, errlen)) != RC_OK ||
        (rc = auth_signer_load(dir, &signer, err, errlen)) != RC_OK)
        return rc;
    struct auth_claims c = {
        .issuer = iss,
        .audience = config_str(cfg, CONFIG_AUTH_AUDIENCE),
        .subject = user,
        .username = user,
        .admin = admin,
        .client_id = config_str(cfg, CONFIG_AUTH_CLI_CLIENT),
        .scope = "profile",
        .iat = (int64_t)time(NULL),
        .ttl_s = ttl_s,
    };
    json_t *claims = NULL;
    if ((rc = auth_claims_access(&c, &claims)) == RC_OK)
        rc = auth_mint(signer, claims, out);
    if (rc != RC_OK)
        snprintf(err, errlen, "cannot sign the token: %s", rc_title(rc));
    json_decref(claims);
    auth_signer_free(signer);
    return rc;
}

int app_token(const struct config *cfg, const char *user, bool admin, int64_t ttl_s)
{
    if (!auth_issuer_is_builtin(cfg)) {
        fprintf(stderr,
                "webtoon token: the tokens come from the issuer %s (WEBTOON_AUTH_ISSUER), "
                "whose key is not here; get one from its token endpoint instead (grant "
                "client_credentials or password, client %s)\n",
                config_str(cfg, CONFIG_AUTH_ISSUER), config_str(cfg, CONFIG_AUTH_CLI_CLIENT));
        return 2;
    }
    if (!domain_id_is_valid(user)) {
        fprintf(stderr,
                "webtoon token: '%s' is not a user id (1 to %d letters, digits and . _ : -)\n",
                user, DOMAIN_ID_MAX);
        return 2;
    }
    char err[512] = "";
    char *token = NULL;
    if (app_token_mint(cfg, user, admin, ttl_s ? ttl_s : config_int(cfg, CONFIG_AUTH_TOKEN_TTL_S),
                       &token, err, sizeof err) != RC_OK) {
        fprintf(stderr, "webtoon token: %s\n", err);
        return 1;
    }
    printf("%s\n", token);
    mem_free(token);
    return 0;
}
