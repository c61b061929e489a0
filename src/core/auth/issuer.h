/*
 * Which OpenID Connect issuer this configuration trusts, in one place, so
 * the issuer itself, `webtoon token`, the services and the gateway agree:
 * the built-in issuer (`webtoon serve auth`) exactly when
 * WEBTOON_AUTH_ISSUER is empty, its `iss` then being
 * http://127.0.0.1:<AUTH_PORT> (both from core/auth/jwks.h), and its files
 * under <DATA_DIR>/auth/, named here.
 */
#ifndef WEBTOON_AUTH_ISSUER_H
#define WEBTOON_AUTH_ISSUER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/auth/jwks.h"
#include "core/config/config.h"

/* Which issuer, and its URL: auth_issuer_is_builtin() and
 * auth_issuer_url() (core/auth/jwks.h, included here), the one definition
 * everyone uses. */

/* The built-in issuer's directory, <DATA_DIR>/auth, into <out>. Returns
 * RC_OK or RC_CONFIG when it does not fit. */
int auth_issuer_dir(const struct config *cfg, char *out /* OUT */, size_t len);

/* The confidential client's secret file: WEBTOON_AUTH_CLI_SECRET_FILE, or
 * <DATA_DIR>/auth/cli-client-secret. Returns RC_OK or RC_CONFIG. */
int auth_issuer_cli_secret_path(const struct config *cfg, char *out /* OUT */, size_t len);

#endif
