/*
 * The issuer's first start and its operator commands. First start makes
 * what the issuer needs and no one may see: the signing key, the
 * confidential client's secret (32 random bytes, base64url, mode 0600) and,
 * when there is no admin yet, an account `admin` whose random password is
 * written to <DATA_DIR>/auth/admin-password (0600) and nowhere else.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/auth/issuer.h"
#include "core/base/rc.h"
#include "domain/users.h"
#include "core/log/log.h"
#include "svc/auth/auth.h"

/* Creates <path> holding <text> and a newline, mode 0600, unless it exists
 * (then *<created> is false and it is left alone). Written beside it and
 * linked into place, so a reader never sees it half written and two
 * processes never both create it. */
static int auth_write_new(const char *path, const char *text, bool *created)
{
    char tmp[PATH_MAX + 32];
    *created = false;
    /* Kept when it exists: made at an earlier start, or a mounted Secret
     * (read-only: nothing may even be written beside it). */
    if (access(path, F_OK) == 0)
        return RC_OK;
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return RC_IO;
    size_t len = strlen(text);
    bool ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len &&
              write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok &= close(fd) == 0;
    int rc = RC_OK;
    if (!ok)
        rc = RC_IO;
    else if (link(tmp, path) == 0)
        *created = true;
    else if (errno != EEXIST)
        rc = RC_IO;
    unlink(tmp);
    return rc;
}

/* Replaces <path> with <text> (mode 0600), atomically. */
static int auth_write_replace(const char *path, const char *text)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return RC_IO;
    size_t len = strlen(text);
    bool ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len &&
              write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok &= close(fd) == 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return RC_IO;
    }
    return RC_OK;
}

/* Opens the issuer's store (migrated) into <out>. An SQLite file is made
 * readable by its owner only: it holds the password hashes (SQLite gives
 * its journal and WAL files the database file's permissions). */
static int auth_open_store(const struct config *cfg, struct store **out)
{
    char url[PATH_MAX + 16], err[256] = "";
    int rc = service_prepare_store(&auth_service, cfg);
    if (rc != RC_OK)
        return rc;
    service_store_url(cfg, auth_service.name, url, sizeof url);
    if (!strncmp(url, "sqlite:", 7)) {
        if (chmod(url + 7, 0600) != 0) {
            log_error("cannot restrict %s to its owner: %s", url + 7, strerror(errno));
            return RC_IO;
        }
        char side[PATH_MAX + 16];
        for (int i = 0; i < 2; i++) {
            snprintf(side, sizeof side, "%s%s", url + 7, i ? "-shm" : "-wal");
            chmod(side, 0600); /* when left from before; best effort */
        }
    }
    if ((rc = store_open(url, out, err, sizeof err)) != RC_OK)
        log_error("cannot open the issuer's database: %s", err);
    return rc;
}

/* The first admin: when no account is an admin, `admin` with a random
 * password, written to the admin-password file before the account exists
 * (a crash in between leaves a file for no account, made again next time,
 * never an account no one can sign in to). */
static int auth_first_admin(const struct config *cfg, const char *dir)
{
    struct store *st = NULL;
    int rc = auth_open_store(cfg, &st);
    bool has = false;
    if (rc == RC_OK)
        rc = auth_store_has_admin(st, &has);
    if (rc != RC_OK || has) {
        store_close(st);
        return rc;
    }
    char password[AUTH_TOKEN_LEN], hash[160], path[PATH_MAX];
    bool created = false;
    if (snprintf(path, sizeof path, "%s/admin-password", dir) >= (int)sizeof path) {
        store_close(st);
        return RC_CONFIG; /* the data directory's name is too long */
    }
    if ((rc = auth_secret_random(18, password, sizeof password)) == RC_OK &&
        (rc = auth_write_replace(path, password)) == RC_OK &&
        (rc = auth_password_hash(password, hash, sizeof hash)) == RC_OK)
        rc = auth_store_account_insert(st, "admin", hash, true, &created);
    sodium_memzero(password, sizeof password);
    if (rc != RC_OK)
        log_error("cannot create the first admin account: %s", rc_title(rc));
    else if (!created)
        log_warn("no account is an admin, and `admin` is taken by a reader; make one with "
                 "`webtoon auth add-user <name> --admin`");
    else
        log_write(LOG_INFO, NULL, json_pack("{s:s}", "passwordFile", path),
                  "created the admin account `admin`; its password is in %s", path);
    if (!created)
        unlink(path);
    store_close(st);
    return rc;
}

/* Everything the issuer needs before it serves. */
static int auth_first_start(const struct config *cfg)
{
    char dir[PATH_MAX], path[PATH_MAX], err[256] = "", secret[AUTH_TOKEN_LEN];
    bool created = false;
    int rc = auth_issuer_dir(cfg, dir, sizeof dir);
    if (rc == RC_OK)
        rc = auth_issuer_cli_secret_path(cfg, path, sizeof path);
    if (rc != RC_OK) {
        log_error("the data directory path is too long");
        return rc;
    }
    if ((rc = auth_keys_ensure(dir, err, sizeof err)) != RC_OK) {
        log_error("cannot prepare the signing key: %s", err);
        return rc;
    }
    if ((rc = auth_secret_random(AUTH_TOKEN_BYTES, secret, sizeof secret)) == RC_OK)
        rc = auth_write_new(path, secret, &created);
    sodium_memzero(secret, sizeof secret);
    if (rc != RC_OK) {
        log_error("cannot write the client secret file %s: %s", path, strerror(errno));
        return rc;
    }
    if (created)
        log_write(LOG_INFO, NULL,
                  json_pack("{s:s, s:s}", "client", config_str(cfg, CONFIG_AUTH_CLI_CLIENT),
                            "secretFile", path),
                  "made the secret of client %s in %s", config_str(cfg, CONFIG_AUTH_CLI_CLIENT),
                  path);
    return auth_first_admin(cfg, dir);
}

/* Says why the built-in issuer is not in use; returns 2. */
static int auth_refuse_external(const struct config *cfg, const char *what)
{
    fprintf(stderr,
            "webtoon %s: WEBTOON_AUTH_ISSUER names an external issuer (%s); the built-in issuer "
            "runs only when it is empty\n",
            what, config_str(cfg, CONFIG_AUTH_ISSUER));
    return 2;
}

int auth_serve(const struct config *cfg)
{
    if (!auth_issuer_is_builtin(cfg))
        return auth_refuse_external(cfg, "serve auth");
    log_init(auth_service.name, (enum log_level)config_int(cfg, CONFIG_LOG_LEVEL));
    if (auth_secret_init() != RC_OK || auth_first_start(cfg) != RC_OK)
        return 2;
    if (auth_work_start() != RC_OK) {
        log_error("cannot start the password worker thread");
        return 2;
    }
    int status = service_run(&auth_service, cfg);
    auth_work_stop();
    return status;
}

int auth_cli_add_user(const struct config *cfg, const char *name, bool admin, FILE *in)
{
    if (!auth_issuer_is_builtin(cfg))
        return auth_refuse_external(cfg, "auth add-user");
    log_init(auth_service.name, (enum log_level)config_int(cfg, CONFIG_LOG_LEVEL));
    if (!domain_id_is_valid(name)) {
        fprintf(stderr,
                "webtoon auth add-user: '%s' is not a username (1 to 64 letters, digits "
                "and . _ : -)\n",
                name);
        return 2;
    }
    char password[AUTH_PASSWORD_MAX + 2] = "", hash[160];
    if (!fgets(password, sizeof password, in)) {
        fprintf(stderr, "webtoon auth add-user: give the password on standard input\n");
        return 2;
    }
    password[strcspn(password, "\r\n")] = '\0';
    const char *problem = auth_password_problem(password);
    if (problem) {
        fprintf(stderr, "webtoon auth add-user: %s\n", problem);
        sodium_memzero(password, sizeof password);
        return 2;
    }
    struct store *st = NULL;
    bool created = false;
    int rc = auth_password_hash(password, hash, sizeof hash);
    sodium_memzero(password, sizeof password);
    if (rc == RC_OK)
        rc = auth_open_store(cfg, &st);
    if (rc == RC_OK)
        rc = auth_store_account_upsert(st, name, hash, admin, &created);
    store_close(st);
    if (rc != RC_OK) {
        fprintf(stderr, "webtoon auth add-user: cannot store the account: %s\n", rc_title(rc));
        return 1;
    }
    printf("%s %s (%s)\n", created ? "created" : "updated", name, admin ? "admin" : "reader");
    return 0;
}

int auth_cli_rotate_key(const struct config *cfg)
{
    if (!auth_issuer_is_builtin(cfg))
        return auth_refuse_external(cfg, "auth rotate-key");
    char dir[PATH_MAX], err[256] = "", kid[AUTH_KID_MAX + 1];
    if (auth_issuer_dir(cfg, dir, sizeof dir) != RC_OK ||
        auth_keys_rotate(dir, kid, err, sizeof err) != RC_OK) {
        fprintf(stderr, "webtoon auth rotate-key: %s\n", *err ? err : "path too long");
        return 1;
    }
    printf("new signing key %s; the previous one stays in jwks.json until the next rotation\n",
           kid);
    return 0;
}
