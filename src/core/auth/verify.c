/* Verifying bearer tokens; see verify.h. */
#include <cjose/cjose.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/auth/jwks.h"
#include "core/auth/verify.h"
#include "core/base/clock.h"
#include "core/base/lru.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"

#define AUTH_TOKEN_MAX 8192      /* a JWT longer than this is not one of ours */
#define AUTH_REFRESH_MIN_MS 1000 /* between two fetches asked for by unknown keys */
#define AUTH_RETRY_MS 1000       /* while no key set could be read yet */
/* Per HTTP thread: about 1.8 KB a token (the token and who it is for). */
#define AUTH_CACHE_BYTES (4u << 20)

enum auth_alg { AUTH_RS256, AUTH_ES256 };

struct auth_key {
    char kid[256];
    enum auth_alg alg;
    cjose_jwk_t *jwk;
};

struct auth_verifier {
    const struct config *cfg;
    char issuer[1024];
    char audience[256];
    int64_t refresh_ms;
    /* the key set: readers verify under the read lock */
    pthread_rwlock_t keys_lock;
    struct auth_key *keys;
    size_t nkeys;
    bool loaded; /* a key set was read at least once */
    /* the key thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool want_refresh, stopping;
    bool failing;                 /* the last fetch failed (key thread only) */
    _Atomic uint64_t generation;  /* one more after every fetch attempt */
    _Atomic uint64_t key_version; /* one more whenever the key set changed */
};

static void auth_keys_free(struct auth_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cjose_jwk_release(keys[i].jwk);
    free(keys);
}

/* The signing keys of <jwks> we can use: RSA keys for RS256 and P-256 keys
 * for ES256, each with a kid; encryption keys and others are skipped. */
static size_t auth_keys_parse(const json_t *jwks, struct auth_key **out)
{
    const json_t *list = json_object_get(jwks, "keys");
    size_t n = json_array_size(list), used = 0;
    struct auth_key *keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys) {
        *out = NULL;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *k = json_array_get(list, i);
        const char *kid = json_string_value(json_object_get(k, "kid"));
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *use = json_string_value(json_object_get(k, "use"));
        const char *alg = json_string_value(json_object_get(k, "alg"));
        const char *crv = json_string_value(json_object_get(k, "crv"));
        if (!kid || !kty || strlen(kid) >= sizeof keys->kid || (use && strcmp(use, "sig") != 0))
            continue;
        enum auth_alg a;
        if (!strcmp(kty, "RSA") && (!alg || !strcmp(alg, "RS256")))
            a = AUTH_RS256;
        else if (!strcmp(kty, "EC") && crv && !strcmp(crv, "P-256") &&
                 (!alg || !strcmp(alg, "ES256")))
            a = AUTH_ES256;
        else
            continue;
        char *text = json_dumps(k, JSON_COMPACT);
        cjose_err cerr;
        cjose_jwk_t *jwk = text ? cjose_jwk_import(text, strlen(text), &cerr) : NULL;
        free(text);
        if (!jwk)
            continue;
        snprintf(keys[used].kid, sizeof keys[used].kid, "%s", kid);
        keys[used].alg = a;
        keys[used].jwk = jwk;
        used++;
    }
    *out = keys;
    return used;
}

static bool auth_keys_same(const struct auth_key *a, size_t na, const struct auth_key *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].kid, b[i].kid) != 0 || a[i].alg != b[i].alg)
            return false;
    return true;
}

static void auth_fetch_once(struct auth_verifier *v)
{
    json_t *jwks = NULL;
    char err[512];
    int rc = auth_jwks_fetch(v->cfg, &jwks, err, sizeof err);
    if (rc != RC_OK) {
        if (!v->failing) /* said once, not at every retry */
            log_warn("cannot read the issuer's keys: %s (%s)", err,
                     v->loaded ? "keeping those read before" : "tokens get 503 until it can");
        v->failing = true;
        return;
    }
    if (v->failing)
        log_info("the issuer's keys can be read again");
    v->failing = false;
    struct auth_key *keys;
    size_t n = auth_keys_parse(jwks, &keys);
    json_decref(jwks);
    if (!keys)
        return;
    pthread_rwlock_wrlock(&v->keys_lock);
    bool changed = !v->loaded || !auth_keys_same(v->keys, v->nkeys, keys, n);
    struct auth_key *old = v->keys;
    size_t nold = v->nkeys;
    v->keys = keys;
    v->nkeys = n;
    v->loaded = true;
    pthread_rwlock_unlock(&v->keys_lock);
    auth_keys_free(old, nold);
    if (changed) {
        atomic_fetch_add(&v->key_version, 1);
        log_info("issuer keys: %zu usable", n);
    }
}

static void *auth_key_thread(void *arg)
{
    struct auth_verifier *v = arg;
    int64_t last_ms = 0;
    pthread_mutex_lock(&v->mu);
    while (!v->stopping) {
        pthread_mutex_unlock(&v->mu);
        last_ms = clock_mono_ms();
        auth_fetch_once(v);
        atomic_fetch_add(&v->generation, 1);
        pthread_mutex_lock(&v->mu);
        v->want_refresh = false;
        pthread_rwlock_rdlock(&v->keys_lock);
        int64_t wait_ms = v->loaded ? v->refresh_ms : AUTH_RETRY_MS;
        pthread_rwlock_unlock(&v->keys_lock);
        int64_t next = last_ms + wait_ms;
        while (!v->stopping) {
            int64_t now = clock_mono_ms();
            if (now >= next || (v->want_refresh && now >= last_ms + AUTH_REFRESH_MIN_MS))
                break;
            int64_t until = v->want_refresh ? last_ms + AUTH_REFRESH_MIN_MS : next;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (until - now) * 1000000;
            ts.tv_sec += ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&v->cv, &v->mu, &ts);
        }
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

int auth_verifier_start(const struct config *cfg, struct auth_verifier **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return RC_INTERNAL;
    }
    struct auth_verifier *v = calloc(1, sizeof *v);
    if (!v)
        return RC_NOMEM;
    v->cfg = cfg;
    auth_issuer_url(cfg, v->issuer, sizeof v->issuer);
    snprintf(v->audience, sizeof v->audience, "%s", config_str(cfg, CONFIG_AUTH_AUDIENCE));
    v->refresh_ms = config_int(cfg, CONFIG_AUTH_JWKS_REFRESH_MS);
    pthread_rwlock_init(&v->keys_lock, NULL);
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    if (thread_start(&v->thread, "auth-keys", auth_key_thread, v) != 0) {
        snprintf(err, errlen, "cannot start the key thread");
        pthread_rwlock_destroy(&v->keys_lock);
        pthread_mutex_destroy(&v->mu);
        pthread_cond_destroy(&v->cv);
        free(v);
        return RC_INTERNAL;
    }
    *out = v;
    return RC_OK;
}

bool auth_verifier_has_keys(struct auth_verifier *v)
{
    pthread_rwlock_rdlock(&v->keys_lock);
    bool loaded = v->loaded;
    pthread_rwlock_unlock(&v->keys_lock);
    return loaded;
}

void auth_verifier_stop(struct auth_verifier *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&v->mu);
    v->stopping = true;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    pthread_join(v->thread, NULL);
    auth_keys_free(v->keys, v->nkeys);
    pthread_rwlock_destroy(&v->keys_lock);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    free(v);
}

uint64_t auth_keys_generation(struct auth_verifier *v) { return atomic_load(&v->generation); }

uint64_t auth_keys_refresh(struct auth_verifier *v)
{
    pthread_mutex_lock(&v->mu);
    uint64_t g = atomic_load(&v->generation);
    v->want_refresh = true;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    return g;
}

/* --- the per-thread cache -------------------------------------------------- */

/* One allocation: the entry, then the token it is keyed by. */
struct auth_cache_entry {
    struct lru_entry lru;
    uint64_t key_version; /* the key set it was verified with */
    struct auth_identity id;
    char token[];
};

struct auth_cache {
    struct lru lru;
    struct metrics_counter *hits, *checks;
};

static void auth_cache_entry_free(struct lru_entry *e) { free(e); }

struct auth_cache *auth_cache_new(void)
{
    struct auth_cache *c = calloc(1, sizeof *c);
    if (c &&
        lru_init(&c->lru, AUTH_CACHE_ENTRIES, AUTH_CACHE_BYTES, auth_cache_entry_free) != RC_OK) {
        free(c);
        return NULL;
    }
    if (c) {
        c->hits =
            metrics_counter("webtoon_auth_cache_hits_total",
                            "Bearer tokens found among those this process verified lately", "");
        c->checks =
            metrics_counter("webtoon_auth_signature_checks_total",
                            "Bearer token signatures checked (tokens not in the cache)", "");
    }
    return c;
}

void auth_cache_free(struct auth_cache *c)
{
    if (!c)
        return;
    lru_clear(&c->lru);
    free(c);
}

/* Keeps <id>, verified from <token> with key set <version>, in <c> (best
 * effort: out of memory it is simply not kept). */
static void auth_cache_put(struct auth_cache *c, const char *token, size_t len, uint64_t version,
                           const struct auth_identity *id)
{
    struct auth_cache_entry *e = malloc(sizeof *e + len);
    if (!e)
        return;
    memset(e, 0, sizeof *e);
    memcpy(e->token, token, len);
    e->key_version = version;
    e->id = *id;
    e->lru.key = e->token;
    e->lru.key_len = len;
    e->lru.size = sizeof *e + len;
    (void)lru_put(&c->lru, &e->lru);
}

/* --- checking one token ---------------------------------------------------- */

static bool auth_audience_ok(const json_t *aud, const char *audience)
{
    if (json_is_string(aud))
        return !strcmp(json_string_value(aud), audience);
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a) if (json_is_string(a) &&
                                      !strcmp(json_string_value(a), audience)) return true;
    return false;
}

#define AUTH_REFUSE(...) (snprintf(why, whylen, __VA_ARGS__), AUTH_REFUSED)

/* The claims of a token whose signature is good. */
static enum auth_verdict auth_check_claims(const struct auth_verifier *v, const json_t *claims,
                                           struct auth_identity *id, char *why, size_t whylen)
{
    if (!json_is_object(claims))
        return AUTH_REFUSE("the token's payload is not a JSON object");
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (!iss || strcmp(iss, v->issuer) != 0)
        return AUTH_REFUSE("the token was not issued by %s", v->issuer);
    if (!auth_audience_ok(json_object_get(claims, "aud"), v->audience))
        return AUTH_REFUSE("the token is not meant for %s (aud)", v->audience);
    int64_t now = (int64_t)time(NULL);
    const json_t *exp = json_object_get(claims, "exp");
    if (!json_is_number(exp))
        return AUTH_REFUSE("the token has no expiry (exp)");
    if ((int64_t)json_number_value(exp) + AUTH_CLOCK_SKEW_S <= now)
        return AUTH_REFUSE("the token has expired");
    const json_t *nbf = json_object_get(claims, "nbf");
    if (nbf && (!json_is_number(nbf) || (int64_t)json_number_value(nbf) - AUTH_CLOCK_SKEW_S > now))
        return AUTH_REFUSE("the token is not valid yet (nbf)");
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *user = json_string_value(json_object_get(claims, "preferred_username"));
    const char *azp = json_string_value(json_object_get(claims, "azp"));
    if (!user || !*user)
        user = sub;
    if (!user || !*user || strlen(user) > AUTH_USER_MAX || (sub && strlen(sub) > AUTH_USER_MAX))
        return AUTH_REFUSE("the token names no user (preferred_username or sub)");
    memset(id, 0, sizeof *id);
    snprintf(id->user, sizeof id->user, "%s", user);
    snprintf(id->sub, sizeof id->sub, "%s", sub ? sub : user);
    snprintf(id->azp, sizeof id->azp, "%.*s", AUTH_USER_MAX, azp ? azp : "");
    id->exp = (int64_t)json_number_value(exp);
    const json_t *roles = json_object_get(json_object_get(claims, "realm_access"), "roles");
    size_t i;
    const json_t *r;
    json_array_foreach(roles, i, r)
    {
        const char *role = json_string_value(r);
        id->reader |= role && !strcmp(role, "reader");
        id->admin |= role && !strcmp(role, "admin");
    }
    return AUTH_VALID;
}

static enum auth_verdict auth_verify_jws(struct auth_verifier *v, const char *token, size_t len,
                                         struct auth_identity *id, char *why, size_t whylen)
{
    cjose_err cerr;
    cjose_jws_t *jws = cjose_jws_import(token, len, &cerr);
    if (!jws)
        return AUTH_REFUSE("the bearer token is not a signed JWT");
    json_t *header = (json_t *)cjose_jws_get_protected(jws);
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    enum auth_verdict verdict;
    enum auth_alg want;
    if (alg && !strcmp(alg, "RS256"))
        want = AUTH_RS256;
    else if (alg && !strcmp(alg, "ES256"))
        want = AUTH_ES256;
    else {
        verdict = AUTH_REFUSE("the token's algorithm is not accepted (RS256 or ES256 only)");
        goto done;
    }
    if (!kid) {
        verdict = AUTH_REFUSE("the token names no key (kid)");
        goto done;
    }
    pthread_rwlock_rdlock(&v->keys_lock);
    const struct auth_key *key = NULL;
    for (size_t i = 0; i < v->nkeys && !key; i++)
        if (!strcmp(v->keys[i].kid, kid))
            key = &v->keys[i];
    if (!v->loaded) {
        verdict = AUTH_NO_KEYS;
        snprintf(why, whylen, "the issuer's keys could not be read yet");
    } else if (!key) {
        verdict = AUTH_UNKNOWN_KEY;
        snprintf(why, whylen, "the token is signed with a key the issuer has not published");
    } else if (key->alg != want) {
        verdict = AUTH_REFUSE("the token's algorithm does not match its key");
    } else if (!cjose_jws_verify(jws, key->jwk, &cerr)) {
        verdict = AUTH_REFUSE("the token's signature is not valid");
    } else {
        verdict = AUTH_VALID;
    }
    pthread_rwlock_unlock(&v->keys_lock);
    if (verdict == AUTH_VALID) {
        uint8_t *plain;
        size_t plain_len;
        json_t *claims = NULL;
        if (cjose_jws_get_plaintext(jws, &plain, &plain_len, &cerr))
            claims = json_loadb((const char *)plain, plain_len, 0, NULL);
        verdict = auth_check_claims(v, claims, id, why, whylen);
        json_decref(claims);
    }
done:
    cjose_jws_release(jws);
    return verdict;
}

enum auth_verdict auth_verify(struct auth_verifier *v, struct auth_cache *cache, const char *token,
                              size_t len, struct auth_identity *id, char *why, size_t whylen)
{
    if (len == 0 || len > AUTH_TOKEN_MAX)
        return AUTH_REFUSE("the bearer token is empty or too long");
    uint64_t version = atomic_load(&v->key_version);
    struct auth_cache_entry *hit =
        cache ? (struct auth_cache_entry *)lru_get(&cache->lru, token, len) : NULL;
    if (hit && hit->key_version == version) {
        metrics_counter_add(cache->hits, 1);
        if (hit->id.exp + AUTH_CLOCK_SKEW_S > (int64_t)time(NULL)) {
            *id = hit->id;
            return AUTH_VALID;
        }
        return AUTH_REFUSE("the token has expired");
    }
    if (cache)
        metrics_counter_add(cache->checks, 1);
    enum auth_verdict verdict = auth_verify_jws(v, token, len, id, why, whylen);
    if (verdict == AUTH_VALID && cache)
        auth_cache_put(cache, token, len, version, id);
    return verdict;
}
