/* Rules of the issuer over plain strings; see auth.h. No I/O. */
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "svc/auth/auth.h"

static int auth__hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of the valid UTF-8 prefix of <s>/<len> (no overlongs, surrogates
 * or code points past U+10FFFF). */
static size_t auth__utf8_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            lo = c == 0xE0 ? 0xA0 : lo;
            hi = c == 0xED ? 0x9F : hi;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            lo = c == 0xF0 ? 0x90 : lo;
            hi = c == 0xF4 ? 0x8F : hi;
        } else {
            break;
        }
        if (len - i <= need || s[i + 1] < lo || s[i + 1] > hi)
            break;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return i;
        i += need + 1;
    }
    return i;
}

/* Decodes <in>/<len> ('+' is a space) into a new string; NULL with <why>
 * set when malformed. */
static char *auth__decode(const char *in, size_t len, const char **why)
{
    char *out = mem_alloc(len + 1);
    if (!out) {
        *why = NULL;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 2 < len ? auth__hex(in[i + 1]) : -1;
            int lo = hi >= 0 ? auth__hex(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "malformed percent-encoding";
                mem_free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0') {
            *why = "NUL is not allowed";
            mem_free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    if (auth__utf8_prefix((const unsigned char *)out, o) != o) {
        *why = "not valid UTF-8";
        mem_free(out);
        return NULL;
    }
    return out;
}

int auth_form_parse(const char *text, size_t len, struct auth_form *f, const char **why)
{
    memset(f, 0, sizeof *f);
    *why = NULL;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        if (pair_end > p) {
            const char *eq = memchr(p, '=', (size_t)(pair_end - p));
            const char *name_end = eq ? eq : pair_end;
            if (f->n == AUTH_FORM_MAX_FIELDS) {
                *why = "too many fields";
                return RC_INVALID;
            }
            char *name = auth__decode(p, (size_t)(name_end - p), why);
            char *value = name && eq ? auth__decode(eq + 1, (size_t)(pair_end - eq - 1), why)
                          : name     ? mem_strdup("")
                                     : NULL;
            if (!name || !value) {
                mem_free(name);
                mem_free(value);
                return *why ? RC_INVALID : RC_NOMEM;
            }
            f->fields[f->n].name = name;
            f->fields[f->n].value = value;
            f->n++;
            for (size_t i = 0; i + 1 < f->n; i++) {
                if (!strcmp(f->fields[i].name, name)) {
                    *why = "a parameter is given more than once";
                    return RC_INVALID;
                }
            }
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return RC_OK;
}

void auth_form_cleanup(struct auth_form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        sodium_memzero(f->fields[i].value, strlen(f->fields[i].value)); /* passwords */
        mem_free(f->fields[i].name);
        mem_free(f->fields[i].value);
    }
    f->n = 0;
}

const char *auth_form_get(const struct auth_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->fields[i].name, name))
            return *f->fields[i].value ? f->fields[i].value : NULL;
    return NULL;
}

bool auth_is_printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7E)
            return false;
    return n >= 1 && n <= max;
}

/* True when <s> is <min>..<max> characters of [A-Za-z0-9-._~]. */
static bool auth__is_unreserved(const char *s, size_t min, size_t max)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~");
    return !s[n] && n >= min && n <= max;
}

bool auth_pkce_challenge_is_valid(const char *challenge)
{
    return auth__is_unreserved(challenge, 43, 43) && !strpbrk(challenge, ".~");
}

bool auth_pkce_matches(const char *verifier, const char *challenge)
{
    if (!auth__is_unreserved(verifier, 43, 128) || !auth_pkce_challenge_is_valid(challenge))
        return false;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char mine[64];
    if (!EVP_Digest(verifier, strlen(verifier), digest, &dlen, EVP_sha256(), NULL) || dlen != 32)
        return false;
    sodium_bin2base64(mine, sizeof mine, digest, dlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return auth_secret_equal(mine, challenge);
}

static const char *const auth__scopes[] = {"openid", "profile", "offline_access"};

bool auth_scope_has(const char *scope, const char *one)
{
    size_t n = strlen(one);
    for (const char *p = scope; p && *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len == n && !strncmp(p, one, n))
            return true;
        p += len;
    }
    return false;
}

void auth_scope_grant(const char *requested, char *out, size_t len)
{
    out[0] = '\0';
    if (!requested || !*requested)
        requested = "profile";
    size_t at = 0;
    for (size_t i = 0; i < sizeof auth__scopes / sizeof auth__scopes[0]; i++) {
        if (!auth_scope_has(requested, auth__scopes[i]))
            continue;
        int n = snprintf(out + at, len - at, "%s%s", at ? " " : "", auth__scopes[i]);
        if (n < 0 || (size_t)n >= len - at)
            break;
        at += (size_t)n;
    }
}

bool auth_scope_within(const char *wanted, const char *granted)
{
    for (const char *p = wanted; p && *p;) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len) {
            char one[64];
            if (len >= sizeof one)
                return false;
            memcpy(one, p, len);
            one[len] = '\0';
            if (!auth_scope_has(granted, one))
                return false;
        }
        p += len;
    }
    return true;
}

size_t auth_redirects_parse(const char *list, int gateway_port,
                            char out[AUTH_REDIRECTS_MAX][AUTH_URI_MAX])
{
    size_t n = 0;
    if (!list || !*list) {
        snprintf(out[n++], AUTH_URI_MAX, "http://127.0.0.1:%d/callback", gateway_port);
        snprintf(out[n++], AUTH_URI_MAX, "http://localhost:%d/callback", gateway_port);
        return n;
    }
    for (const char *p = list; *p && n < AUTH_REDIRECTS_MAX;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed && trimmed < AUTH_URI_MAX)
            snprintf(out[n++], AUTH_URI_MAX, "%.*s", (int)trimmed, p);
        p += len;
    }
    return n;
}

bool auth_uri_origin(const char *uri, char *out, size_t len)
{
    const char *rest = !strncasecmp(uri, "http://", 7)    ? uri + 7
                       : !strncasecmp(uri, "https://", 8) ? uri + 8
                                                          : NULL;
    if (!rest)
        return false;
    size_t host = strcspn(rest, "/?#");
    if (host == 0 || memchr(rest, '@', host)) /* no userinfo: it only confuses */
        return false;
    int n = snprintf(out, len, "%.*s", (int)(rest - uri + (ptrdiff_t)host), uri);
    return n > 0 && (size_t)n < len;
}

const char *auth_password_problem(const char *password)
{
    size_t bytes = strlen(password), chars = 0;
    if (bytes > AUTH_PASSWORD_MAX)
        return "the password is too long (1024 bytes at most)";
    for (size_t i = 0; i < bytes; i++)
        chars += ((unsigned char)password[i] & 0xC0) != 0x80;
    return chars < AUTH_PASSWORD_MIN ? "the password needs at least 8 characters" : NULL;
}

int auth_html_escape(struct buf *b, const char *s)
{
    int rc = RC_OK;
    for (const char *p = s; rc == RC_OK && *p;) {
        size_t plain = strcspn(p, "&<>\"'");
        if (plain)
            rc = buf_append(b, p, plain);
        p += plain;
        if (rc != RC_OK || !*p)
            break;
        const char *ent = *p == '&'   ? "&amp;"
                          : *p == '<' ? "&lt;"
                          : *p == '>' ? "&gt;"
                          : *p == '"' ? "&quot;"
                                      : "&#39;";
        rc = buf_append_str(b, ent);
        p++;
    }
    return rc;
}

int auth_url_encode(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = RC_OK;
    for (const unsigned char *p = (const unsigned char *)s; rc == RC_OK && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            rc = buf_append(b, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = buf_append(b, esc, 3);
        }
    }
    return rc;
}

bool auth_cookie_get(const char *header, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = header; p && *p;) {
        p += strspn(p, " ;");
        size_t item = strcspn(p, ";");
        if (item > n && !strncmp(p, name, n) && p[n] == '=') {
            size_t vlen = item - n - 1;
            while (vlen && p[n + 1 + vlen - 1] == ' ')
                vlen--;
            if (vlen == 0 || vlen >= len)
                return false;
            memcpy(out, p + n + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p += item;
    }
    return false;
}

bool auth_basic_parse(const char *header, char *id, char *secret, size_t len)
{
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return false;
    const char *b64 = header + 6;
    b64 += strspn(b64, " ");
    unsigned char raw[1024];
    size_t rawlen = 0;
    if (sodium_base642bin(raw, sizeof raw - 1, b64, strlen(b64), " ", &rawlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    raw[rawlen] = '\0';
    const char *colon = memchr(raw, ':', rawlen);
    if (!colon || memchr(raw, '\0', rawlen))
        return false;
    const char *why;
    char *i = auth__decode((const char *)raw, (size_t)(colon - (const char *)raw), &why);
    char *s =
        i ? auth__decode(colon + 1, rawlen - (size_t)(colon + 1 - (const char *)raw), &why) : NULL;
    bool ok = i && s && strlen(i) < len && strlen(s) < len;
    if (ok) {
        snprintf(id, len, "%s", i);
        snprintf(secret, len, "%s", s);
    }
    if (s)
        sodium_memzero(s, strlen(s));
    sodium_memzero(raw, sizeof raw);
    mem_free(i);
    mem_free(s);
    return ok;
}
