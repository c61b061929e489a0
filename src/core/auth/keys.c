/* The built-in issuer's key directory; see keys.h. */
#include "core/auth/keys.h"

#include <cjose/cjose.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/bug.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/json/jx.h"

#define KEYS_PEM "signing-key.pem"
#define KEYS_JWKS "jwks.json"
#define KEYS_LOCK "keys.lock"
#define KEYS_PEM_MAX 4096
#define KEYS_COORD 32 /* bytes of a P-256 scalar or coordinate */

struct auth_signer {
    cjose_jwk_t *jwk;           /* the private key, with its kid */
    char kid[AUTH_KID_MAX + 1]; /* RFC 7638 thumbprint */
    char path[PATH_MAX];        /* the PEM file it came from */
    dev_t dev;                  /* identity of that file when loaded: */
    ino_t ino;                  /* a rotation renames a new file over it */
    struct timespec mtime;
};

static int keys_fail(char *err, size_t errlen, int rc, const char *fmt, ...) PRINTF_LIKE(4, 5);
static int keys_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* OpenSSL's reason for the last failure, for messages. */
static const char *keys_ssl_reason(void)
{
    static _Thread_local char reason[160];
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e)
        return "unknown OpenSSL error";
    ERR_error_string_n(e, reason, sizeof reason);
    return reason;
}

static int keys_path(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    return n > 0 && (size_t)n < len ? RC_OK : RC_CONFIG;
}

/* mkdir -p <dir>: parents 0755, <dir> itself 0700. */
static int keys_mkdirs(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return keys_fail(err, errlen, RC_CONFIG, "key directory path too long");
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return keys_fail(err, errlen, RC_IO, "cannot create %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return keys_fail(err, errlen, RC_IO, "cannot create %s: %s", path, strerror(errno));
    if (chmod(path, 0700) != 0)
        return keys_fail(err, errlen, RC_IO, "cannot restrict %s to its owner: %s", path,
                         strerror(errno));
    return RC_OK;
}

/* Takes the directory's lock; returns its descriptor (close releases it)
 * or -1. */
static int keys_lock(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (keys_path(path, sizeof path, dir, KEYS_LOCK) != RC_OK) {
        keys_fail(err, errlen, RC_CONFIG, "key directory path too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        keys_fail(err, errlen, RC_IO, "cannot lock %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Replaces <path> with <len> bytes of <data>, mode <mode>: written to a
 * temporary file beside it, synced, renamed over it, directory synced. The
 * caller holds the lock, so one temporary name is enough. */
static int keys_write_atomic(const char *dir, const char *name, const char *data, size_t len,
                             mode_t mode, char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (keys_path(path, sizeof path, dir, name) != RC_OK ||
        snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return keys_fail(err, errlen, RC_CONFIG, "key directory path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = fd < 0 ? RC_IO : RC_OK;
    if (rc == RC_OK && fchmod(fd, mode) != 0)
        rc = RC_IO;
    for (size_t off = 0; rc == RC_OK && off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = RC_IO;
        else
            off += (size_t)n;
    }
    if (rc == RC_OK && fsync(fd) != 0)
        rc = RC_IO;
    if (fd >= 0 && close(fd) != 0 && rc == RC_OK)
        rc = RC_IO;
    if (rc == RC_OK && rename(tmp, path) != 0)
        rc = RC_IO;
    if (rc != RC_OK) {
        keys_fail(err, errlen, rc, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* the rename itself on disk; best effort */
        close(dfd);
    }
    return RC_OK;
}

/* Reads <dir>/<name> (at most <max> bytes) into a new string. RC_NOT_FOUND
 * when missing. */
static int keys_read(const char *dir, const char *name, size_t max, char **out)
{
    *out = NULL;
    char path[PATH_MAX];
    if (keys_path(path, sizeof path, dir, name) != RC_OK)
        return RC_CONFIG;
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? RC_NOT_FOUND : RC_IO;
    char *buf = mem_alloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int rc = !buf ? RC_NOMEM : ferror(f) ? RC_IO : n > max ? RC_TOO_LARGE : RC_OK;
    fclose(f);
    if (rc != RC_OK) {
        mem_free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    return RC_OK;
}

int auth_keys_read_jwks(const char *dir, char **out)
{
    return keys_read(dir, KEYS_JWKS, AUTH_JWKS_MAX, out);
}

/* --- one key: OpenSSL's form, cjose's form, its public JWK ----------------------- */

/* The big-endian, <KEYS_COORD>-byte form of parameter <name> of <pkey>. */
static bool keys_param(const EVP_PKEY *pkey, const char *name, unsigned char out[KEYS_COORD])
{
    BIGNUM *bn = NULL;
    bool ok =
        EVP_PKEY_get_bn_param(pkey, name, &bn) && BN_bn2binpad(bn, out, KEYS_COORD) == KEYS_COORD;
    BN_clear_free(bn);
    return ok;
}

/* The RFC 7638 thumbprint of the public EC JWK <pub> into <kid>: SHA-256
 * of its required members in lexicographic order, no whitespace. */
static int keys_thumbprint(const json_t *pub, char kid[AUTH_KID_MAX + 1])
{
    const char *crv = json_string_value(json_object_get(pub, "crv"));
    const char *x = json_string_value(json_object_get(pub, "x"));
    const char *y = json_string_value(json_object_get(pub, "y"));
    if (!crv || !x || !y)
        return RC_INTERNAL;
    char canonical[256];
    int n = snprintf(canonical, sizeof canonical,
                     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", crv, x, y);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (n <= 0 || (size_t)n >= sizeof canonical ||
        !EVP_Digest(canonical, (size_t)n, digest, &dlen, EVP_sha256(), NULL))
        return RC_INTERNAL;
    sodium_bin2base64(kid, AUTH_KID_MAX + 1, digest, dlen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return RC_OK;
}

/* The public JWK of <jwk> as a new JSON object, without kid. */
static json_t *keys_public_json(const cjose_jwk_t *jwk)
{
    cjose_err cerr;
    char *text = cjose_jwk_to_json(jwk, false, &cerr);
    if (!text)
        return NULL;
    json_t *pub = NULL;
    char detail[64];
    jx_parse(text, strlen(text), true, &pub, detail, sizeof detail);
    cjose_get_dealloc()(text);
    if (pub)
        json_object_del(pub, "kid");
    return pub;
}

/* A cjose key (with its kid set) from the OpenSSL key <pkey>, which must be
 * P-256. New; free with cjose_jwk_release. */
static int keys_jwk_of(EVP_PKEY *pkey, cjose_jwk_t **out, char kid[AUTH_KID_MAX + 1], char *err,
                       size_t errlen)
{
    *out = NULL;
    char group[32] = "";
    if (!EVP_PKEY_is_a(pkey, "EC") ||
        !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                        NULL) ||
        strcmp(group, "prime256v1") != 0)
        return keys_fail(err, errlen, RC_INTERNAL, "the signing key is not an EC P-256 key");
    unsigned char d[KEYS_COORD], x[KEYS_COORD], y[KEYS_COORD];
    int rc = RC_OK;
    if (!keys_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
        !keys_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, x) ||
        !keys_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, y)) {
        rc = keys_fail(err, errlen, RC_INTERNAL, "cannot read the signing key: %s",
                       keys_ssl_reason());
        goto out;
    }
    cjose_jwk_ec_keyspec spec = {.crv = CJOSE_JWK_EC_P_256,
                                 .d = d,
                                 .dlen = sizeof d,
                                 .x = x,
                                 .xlen = sizeof x,
                                 .y = y,
                                 .ylen = sizeof y};
    cjose_err cerr;
    cjose_jwk_t *jwk = cjose_jwk_create_EC_spec(&spec, &cerr);
    json_t *pub = jwk ? keys_public_json(jwk) : NULL;
    if (!jwk || !pub || keys_thumbprint(pub, kid) != RC_OK ||
        !cjose_jwk_set_kid(jwk, kid, strlen(kid), &cerr)) {
        rc = keys_fail(err, errlen, RC_INTERNAL, "cannot make the JWK: %s",
                       jwk ? "thumbprint" : cerr.message);
        cjose_jwk_release(jwk);
        json_decref(pub);
        goto out;
    }
    json_decref(pub);
    *out = jwk;
out:
    sodium_memzero(d, sizeof d);
    return rc;
}

/* The published form of <jwk>: kty, crv, x, y, kid, alg, use. New. */
static json_t *keys_jwks_entry(const cjose_jwk_t *jwk, const char *kid)
{
    json_t *pub = keys_public_json(jwk);
    if (pub && (json_object_set_new(pub, "kid", json_string(kid)) ||
                json_object_set_new(pub, "alg", json_string("ES256")) ||
                json_object_set_new(pub, "use", json_string("sig")))) {
        json_decref(pub);
        pub = NULL;
    }
    return pub;
}

/* Loads the PEM private key of <dir>: RC_NOT_FOUND when there is none. */
static int keys_load_pem(const char *dir, EVP_PKEY **out, char *err, size_t errlen)
{
    *out = NULL;
    char *pem = NULL;
    int rc = keys_read(dir, KEYS_PEM, KEYS_PEM_MAX, &pem);
    if (rc == RC_NOT_FOUND)
        return rc;
    if (rc != RC_OK)
        return keys_fail(err, errlen, rc, "cannot read %s/%s: %s", dir, KEYS_PEM, rc_title(rc));
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    sodium_memzero(pem, strlen(pem));
    mem_free(pem);
    if (!pkey)
        return keys_fail(err, errlen, RC_INTERNAL, "%s/%s is not a private key: %s", dir, KEYS_PEM,
                         keys_ssl_reason());
    *out = pkey;
    return RC_OK;
}

/* Writes <pkey> as PKCS#8 PEM to <dir>/signing-key.pem, mode 0600. */
static int keys_store_pem(const char *dir, EVP_PKEY *pkey, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len = 0;
    int rc = RC_OK;
    if (!bio || !PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) ||
        (len = BIO_get_mem_data(bio, &data)) <= 0)
        rc = keys_fail(err, errlen, RC_INTERNAL, "cannot encode the key: %s", keys_ssl_reason());
    else
        rc = keys_write_atomic(dir, KEYS_PEM, data, (size_t)len, 0600, err, errlen);
    if (data && len > 0)
        OPENSSL_cleanse(data, (size_t)len);
    BIO_free(bio);
    return rc;
}

/*
 * Writes jwks.json: <first> (stolen), then the keys of the current file
 * except any with <first>'s kid, AUTH_KEYS_KEEP at most in all; or, with
 * <only_if_missing>, leaves a file that already lists <first> alone.
 */
static int keys_store_jwks(const char *dir, json_t *first, bool only_if_missing, char *err,
                           size_t errlen)
{
    const char *kid = json_string_value(json_object_get(first, "kid"));
    char *text = NULL;
    json_t *old = NULL, *keys = json_array();
    int rc = keys_read(dir, KEYS_JWKS, AUTH_JWKS_MAX, &text);
    if (rc == RC_OK) {
        char detail[64];
        /* An unreadable file is replaced: it could not have verified anything. */
        if (jx_parse(text, strlen(text), true, &old, detail, sizeof detail) != RC_OK)
            old = NULL;
    } else if (rc != RC_NOT_FOUND) {
        rc = keys_fail(err, errlen, rc, "cannot read %s/%s", dir, KEYS_JWKS);
        goto out;
    }
    json_t *old_keys = json_object_get(old, "keys");
    size_t i;
    json_t *k;
    bool listed = false;
    json_array_foreach(old_keys, i, k) listed |=
        json_is_string(json_object_get(k, "kid")) &&
        !strcmp(json_string_value(json_object_get(k, "kid")), kid);
    if (only_if_missing && listed) {
        rc = RC_OK;
        goto out;
    }
    if (!keys || json_array_append(keys, first)) {
        rc = keys_fail(err, errlen, RC_NOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(old_keys, i, k)
    {
        const char *okid = json_string_value(json_object_get(k, "kid"));
        if (json_array_size(keys) >= AUTH_KEYS_KEEP)
            break;
        if (okid && strcmp(okid, kid) != 0 && json_array_append(keys, k) != 0) {
            rc = keys_fail(err, errlen, RC_NOMEM, "out of memory");
            goto out;
        }
    }
    json_t *doc = json_pack("{s:O}", "keys", keys);
    char *out = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!out)
        rc = keys_fail(err, errlen, RC_NOMEM, "out of memory");
    else
        rc = keys_write_atomic(dir, KEYS_JWKS, out, strlen(out), 0644, err, errlen);
    mem_free(out);
out:
    json_decref(first);
    json_decref(old);
    json_decref(keys);
    mem_free(text);
    return rc;
}

/* The published entry of the OpenSSL key <pkey>, new. */
static int keys_entry_of(EVP_PKEY *pkey, json_t **out, char kid[AUTH_KID_MAX + 1], char *err,
                         size_t errlen)
{
    cjose_jwk_t *jwk = NULL;
    int rc = keys_jwk_of(pkey, &jwk, kid, err, errlen);
    *out = rc == RC_OK ? keys_jwks_entry(jwk, kid) : NULL;
    cjose_jwk_release(jwk);
    if (rc == RC_OK && !*out)
        rc = keys_fail(err, errlen, RC_NOMEM, "out of memory");
    return rc;
}

/* Makes a new key: jwks.json first (listing it before the others), then
 * the PEM. Holds the lock. */
static int keys_generate(const char *dir, char kid[AUTH_KID_MAX + 1], char *err, size_t errlen)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    if (!pkey)
        return keys_fail(err, errlen, RC_INTERNAL, "cannot generate a key: %s", keys_ssl_reason());
    json_t *entry = NULL;
    int rc = keys_entry_of(pkey, &entry, kid, err, errlen);
    if (rc == RC_OK)
        rc = keys_store_jwks(dir, entry, false, err, errlen);
    if (rc == RC_OK)
        rc = keys_store_pem(dir, pkey, err, errlen);
    EVP_PKEY_free(pkey);
    return rc;
}

int auth_keys_ensure(const char *dir, char *err, size_t errlen)
{
    int rc = keys_mkdirs(dir, err, errlen);
    if (rc != RC_OK)
        return rc;
    int lock = keys_lock(dir, err, errlen);
    if (lock < 0)
        return RC_IO;
    EVP_PKEY *pkey = NULL;
    char kid[AUTH_KID_MAX + 1];
    rc = keys_load_pem(dir, &pkey, err, errlen);
    if (rc == RC_NOT_FOUND) {
        rc = keys_generate(dir, kid, err, errlen);
    } else if (rc == RC_OK) {
        /* The key is there; its JWKS entry may not be (a copied key, a
         * deleted jwks.json). */
        json_t *entry = NULL;
        if ((rc = keys_entry_of(pkey, &entry, kid, err, errlen)) == RC_OK)
            rc = keys_store_jwks(dir, entry, true, err, errlen);
    }
    EVP_PKEY_free(pkey);
    close(lock);
    return rc;
}

int auth_keys_rotate(const char *dir, char *kid_out, char *err, size_t errlen)
{
    int rc = keys_mkdirs(dir, err, errlen);
    if (rc != RC_OK)
        return rc;
    int lock = keys_lock(dir, err, errlen);
    if (lock < 0)
        return RC_IO;
    EVP_PKEY *current = NULL;
    char kid[AUTH_KID_MAX + 1];
    rc = keys_load_pem(dir, &current, err, errlen);
    if (rc == RC_OK) {
        /* The key being replaced must be listed right after the new one,
         * whatever the file said. */
        json_t *entry = NULL;
        if ((rc = keys_entry_of(current, &entry, kid, err, errlen)) == RC_OK)
            rc = keys_store_jwks(dir, entry, false, err, errlen);
    } else if (rc == RC_NOT_FOUND) {
        rc = RC_OK;
    }
    if (rc == RC_OK)
        rc = keys_generate(dir, kid, err, errlen);
    if (rc == RC_OK && kid_out)
        snprintf(kid_out, AUTH_KID_MAX + 1, "%s", kid);
    EVP_PKEY_free(current);
    close(lock);
    return rc;
}

int auth_signer_load(const char *dir, struct auth_signer **out, char *err, size_t errlen)
{
    *out = NULL;
    struct auth_signer *s = mem_calloc(1, sizeof *s);
    if (!s)
        return keys_fail(err, errlen, RC_NOMEM, "out of memory");
    struct stat sb;
    int rc = keys_path(s->path, sizeof s->path, dir, KEYS_PEM);
    if (rc != RC_OK) {
        keys_fail(err, errlen, rc, "key directory path too long");
        goto fail;
    }
    /* stat before reading: a rotation in between only makes the signer
     * look stale once too often. */
    if (stat(s->path, &sb) != 0) {
        rc = keys_fail(err, errlen, RC_IO, "cannot read %s: %s", s->path, strerror(errno));
        goto fail;
    }
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
    s->mtime = sb.st_mtim;
    EVP_PKEY *pkey = NULL;
    rc = keys_load_pem(dir, &pkey, err, errlen);
    if (rc == RC_NOT_FOUND)
        rc = keys_fail(err, errlen, RC_IO, "%s is missing", s->path);
    if (rc == RC_OK)
        rc = keys_jwk_of(pkey, &s->jwk, s->kid, err, errlen);
    EVP_PKEY_free(pkey);
    if (rc != RC_OK)
        goto fail;
    *out = s;
    return RC_OK;
fail:
    auth_signer_free(s);
    return rc;
}

void auth_signer_free(struct auth_signer *s)
{
    if (!s)
        return;
    cjose_jwk_release(s->jwk);
    mem_free(s);
}

const char *auth_signer_kid(const struct auth_signer *s) { return s->kid; }

const void *auth_signer_jwk(const struct auth_signer *s) { return s->jwk; }

bool auth_signer_is_stale(const struct auth_signer *s)
{
    struct stat sb;
    if (stat(s->path, &sb) != 0)
        return false; /* gone for now: keep signing with what we have */
    return sb.st_dev != s->dev || sb.st_ino != s->ino || sb.st_mtim.tv_sec != s->mtime.tv_sec ||
           sb.st_mtim.tv_nsec != s->mtime.tv_nsec;
}
