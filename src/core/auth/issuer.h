/*
 * Which OpenID Connect issuer this configuration trusts, in one place, so
 * the issuer itself, `webtoon token`, the services and the gateway agree:
 * the built-in issuer (`webtoon serve auth`) exactly when
 * WEBTOON_AUTH_ISSUER is empty, its `iss` then being
 * http://127.0.0.1:<AUTH_PORT>, and its files under <DATA_DIR>/auth/.
 */
#ifndef WEBTOON_AUTH_ISSUER_H
#define WEBTOON_AUTH_ISSUER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config/config.h"

/* True when <cfg> uses the built-in issuer (WEBTOON_AUTH_ISSUER empty). */
bool auth_issuer_is_builtin(const struct config *cfg);

/*
 * Writes the issuer URL of <cfg> (what every token's `iss` must equal) into
 * <out> (<len> bytes): WEBTOON_AUTH_ISSUER exactly as configured, or
 * "http://127.0.0.1:<AUTH_PORT>" for the built-in issuer. Returns RC_OK, or
 * RC_CONFIG when it does not fit (<out> then holds "").
 */
int auth_issuer_url(const struct config *cfg, char *out /* OUT */, size_t len);

/* The built-in issuer's directory, <DATA_DIR>/auth, into <out>. Returns
 * RC_OK or RC_CONFIG when it does not fit. */
int auth_issuer_dir(const struct config *cfg, char *out /* OUT */, size_t len);

/* The confidential client's secret file: WEBTOON_AUTH_CLI_SECRET_FILE, or
 * <DATA_DIR>/auth/cli-client-secret. Returns RC_OK or RC_CONFIG. */
int auth_issuer_cli_secret_path(const struct config *cfg, char *out /* OUT */, size_t len);

/* Where the public keys are: WEBTOON_AUTH_JWKS_URL; else, for the built-in
 * issuer, "file:<DATA_DIR>/auth/jwks.json"; else "" (take jwks_uri from the
 * issuer's discovery document). Returns RC_OK or RC_CONFIG. */
int auth_issuer_jwks_url(const struct config *cfg, char *out /* OUT */, size_t len);

#endif
