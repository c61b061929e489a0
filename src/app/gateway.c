/*
 * The gateway: renders deploy/haproxy/haproxy.cfg.in (compiled in) with the
 * configured ports, limits, replicas and the issuer's public keys, and runs
 * HAProxy on it.
 *
 * `webtoon serve gateway` stays HAProxy's parent: it starts HAProxy in
 * master-worker mode (-W), re-reads the issuer's key set (JWKS) every
 * WEBTOON_AUTH_JWKS_REFRESH_MS and, when the keys changed, writes their PEM
 * files, renders the configuration again, has HAProxy check it and reloads
 * it (SIGUSR2 to the master: new workers take over the listening sockets,
 * old ones finish what they have). HAProxy 2.6 reads the key files a
 * configuration names only when it starts, so a reload is the only way a new
 * key gets in. SIGUSR1 and SIGTERM stop HAProxy softly (SIGUSR1: it closes
 * its listeners and idle connections and finishes the requests in flight, as
 * Kubernetes means SIGTERM), SIGINT at once; this process exits with
 * HAProxy's status. SIGHUP re-reads the keys at once.
 *
 * Invariants: the configuration in <data>/run/haproxy.cfg always passed
 * `haproxy -c`; every key file it names exists (<data>/run/jwks/<hash>.pem,
 * named after its content, so a file never changes under a running worker);
 * when the keys cannot be read yet it has no key rule, and a request with a
 * token is answered 503 (the rule says so) rather than 401.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/app.h"
#include "app/gateway_spans.h"
#include "core/auth/jwk_pem.h"
#include "core/auth/jwks.h"
#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/log/log.h"
#include "core/trace/trace.h"

extern const char app_haproxy_template[]; /* generated from deploy/haproxy/haproxy.cfg.in */

#define GATEWAY_NO_KEYS_RETRY_MS 1000 /* while the issuer's keys cannot be read */
#define GATEWAY_REPLICA_PORT_STEP 100
#define GATEWAY_MAX_KEYS 16            /* an issuer publishes two or three */
#define GATEWAY_KID_MAX 128            /* bytes */
#define GATEWAY_REASON_MAX 200         /* bytes of one skipped key's reason */
#define GATEWAY_CHECK_TIMEOUT_MS 10000 /* for `haproxy -c` */
#define GATEWAY_MAX_WORKERS 64         /* HAProxy workers old and new at once */
#define GATEWAY_RELOAD_CONFIRM_MS 2000 /* for a new worker to appear after SIGUSR2 */
#define GATEWAY_RELOAD_TRIES 5
#define GATEWAY_RESIGNAL_MS 1000 /* a stop signal is repeated this often until HAProxy exits */

struct gateway_key {
    char kid[GATEWAY_KID_MAX + 1];
    enum auth_jwk_alg alg;
    char file[40]; /* under <data>/run/jwks: 32 hex digits of the PEM's SHA-256, ".pem" */
};

/* A key set as the configuration uses it: sorted, so that two reads of the
 * same JWKS compare equal whatever its order. */
struct gateway_keys {
    bool available; /* read, with at least one usable key; else the 503 rule */
    size_t n;
    struct gateway_key key[GATEWAY_MAX_KEYS];
    /* Why the keys are not available, or which keys were skipped and why:
     * logged by the caller when the set changes. */
    char reason[512];
    size_t skipped;
    char skip[GATEWAY_MAX_KEYS][GATEWAY_REASON_MAX];
};

/* True when every byte of <s> is a letter, a digit or in <extra>, and <s>
 * is not empty: what may be written into the configuration as one word. */
static bool gateway_is_word(const char *s, const char *extra)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            !strchr(extra, *s))
            return false;
    return true;
}

/* URL characters that mean nothing to HAProxy's parser (no quote, '#',
 * '$', backslash, brace or space). */
#define GATEWAY_URL_CHARS "-._~:/?&=%+@!*,;[]"
#define GATEWAY_KID_CHARS "-._~+/=:"
#define GATEWAY_PATH_CHARS "-._~+/@:"

/* <data>/run/jwks, where the key files are. */
static void gateway_jwks_dir(const struct config *cfg, char *out, size_t len)
{
    snprintf(out, len, "%s/run/jwks", config_str(cfg, CONFIG_DATA_DIR));
}

/* Creates <path> and its parents (mode 0755); false with errno set. */
static bool gateway_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/* Writes <len> bytes of <data> to <path> atomically (a temporary file, then
 * rename), so that HAProxy never reads half a file. */
static int gateway_write_file(const char *path, const char *data, size_t len)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return RC_IO;
    bool ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return RC_IO;
    }
    return RC_OK;
}

/* qsort order of keys: by kid, then by key file (content). */
static int gateway_key_cmp(const void *a, const void *b)
{
    const struct gateway_key *x = a, *y = b;
    int c = strcmp(x->kid, y->kid);
    return c ? c : strcmp(x->file, y->file);
}

/* True when <a> and <b> render the same rules. */
static bool gateway_keys_equal(const struct gateway_keys *a, const struct gateway_keys *b)
{
    if (a->available != b->available || a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (gateway_key_cmp(&a->key[i], &b->key[i]) || a->key[i].alg != b->key[i].alg)
            return false;
    return true;
}

/* Notes that member <index> (kid <kid>, may be NULL) is skipped because of
 * <why> (its first 120 bytes: the note fits GATEWAY_REASON_MAX). */
static void gateway_skip(struct gateway_keys *keys, size_t index, const char *kid, const char *why)
{
    if (keys->skipped < GATEWAY_MAX_KEYS)
        snprintf(keys->skip[keys->skipped++], GATEWAY_REASON_MAX, "key %zu (kid %.40s): %.120s",
                 index, kid ? kid : "none", why);
}

/* Adds <jwk> (member <index> of the key set) to <keys> and writes its PEM
 * file into <dir> unless it is there already, or records why it is
 * skipped. RC_IO when the file cannot be written. */
static int gateway_add_key(struct gateway_keys *keys, const char *dir, const json_t *jwk,
                           size_t index)
{
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    char pem[AUTH_JWK_PEM_MAX], why[GATEWAY_REASON_MAX];
    enum auth_jwk_alg alg;
    if (!kid || strlen(kid) > GATEWAY_KID_MAX || !gateway_is_word(kid, GATEWAY_KID_CHARS)) {
        /* Tokens are matched to keys by kid, so a key without a plain one
         * could never be used. */
        gateway_skip(keys, index, NULL,
                     "no kid, or one with other characters than letters, "
                     "digits and -._~+/=:");
        return RC_OK;
    }
    if (auth_jwk_pem(jwk, &alg, pem, sizeof pem, why, sizeof why) != RC_OK) {
        gateway_skip(keys, index, kid, why);
        return RC_OK;
    }
    if (keys->n == GATEWAY_MAX_KEYS) {
        gateway_skip(keys, index, kid, "more keys than the gateway takes (16)");
        return RC_OK;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (EVP_Digest(pem, strlen(pem), md, &mdlen, EVP_sha256(), NULL) != 1)
        return RC_NOMEM;
    struct gateway_key *k = &keys->key[keys->n];
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    k->alg = alg;
    for (unsigned i = 0; i < 16; i++)
        snprintf(k->file + 2 * i, 3, "%02x", md[i]);
    memcpy(k->file + 32, ".pem", 5);
    for (size_t i = 0; i < keys->n; i++)
        if (!gateway_key_cmp(&keys->key[i], k) && keys->key[i].alg == k->alg)
            return RC_OK; /* the same key twice */
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, k->file) >= (int)sizeof path ||
        (access(path, R_OK) != 0 && gateway_write_file(path, pem, strlen(pem)) != RC_OK))
        return RC_IO;
    keys->n++;
    return RC_OK;
}

/*
 * Reads the issuer's key set into <keys> and writes the PEM file of every
 * usable key under <data>/run/jwks. RC_OK when it was read (keys->available
 * says whether a usable key was in it, keys->skipped which were not and
 * why); RC_UNAVAILABLE when it cannot be read now (no file yet, issuer
 * down), keys->reason saying why; RC_IO when a file cannot be written.
 */
static int gateway_keys_load(const struct config *cfg, struct gateway_keys *keys)
{
    memset(keys, 0, sizeof *keys);
    char dir[PATH_MAX];
    gateway_jwks_dir(cfg, dir, sizeof dir);
    if (!gateway_mkdirs(dir)) {
        snprintf(keys->reason, sizeof keys->reason, "cannot create %.400s: %s", dir,
                 strerror(errno));
        return RC_IO;
    }
    json_t *jwks = NULL;
    int rc = auth_jwks_fetch(cfg, &jwks, keys->reason, sizeof keys->reason);
    if (rc != RC_OK)
        return RC_UNAVAILABLE;
    json_t *list = json_object_get(jwks, "keys");
    for (size_t i = 0; i < json_array_size(list) && rc == RC_OK; i++)
        rc = gateway_add_key(keys, dir, json_array_get(list, i), i);
    json_decref(jwks);
    if (rc != RC_OK) {
        snprintf(keys->reason, sizeof keys->reason, "cannot write a key file under %.400s", dir);
        return rc;
    }
    qsort(keys->key, keys->n, sizeof keys->key[0], gateway_key_cmp);
    keys->available = keys->n > 0;
    if (!keys->available)
        snprintf(keys->reason, sizeof keys->reason,
                 "the issuer publishes no usable RS256 or ES256 key (%zu skipped)", keys->skipped);
    return RC_OK;
}

/* Deletes the key files under <data>/run/jwks that <keys> does not name:
 * HAProxy read them when it loaded the configuration that named them. */
static void gateway_prune_key_files(const struct config *cfg, const struct gateway_keys *keys)
{
    char dir[PATH_MAX];
    gateway_jwks_dir(cfg, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 4 || (strcmp(e->d_name + len - 4, ".pem") && strcmp(e->d_name + len - 4, ".tmp")))
            continue;
        bool used = false;
        for (size_t i = 0; i < keys->n && !used; i++)
            used = !strcmp(keys->key[i].file, e->d_name);
        if (!used)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* Two `server` lines per replica of <backend>: the health-checked one, and
 * an unchecked backup used only when no checked server is in rotation (the
 * template says why). */
static void gateway_servers(const struct config *cfg, const char *backend, FILE *out)
{
    const struct app_module *m = app_module_find(backend);
    int base = m ? (int)config_int(cfg, m->port_setting) : 0;
    int replicas = (int)config_int(cfg, CONFIG_REPLICAS);
    char host[256];
    config_str_for(cfg, CONFIG_UPSTREAM_HOST, backend, host, sizeof host);
    for (int backup = 0; backup < 2; backup++)
        for (int r = 0; r < replicas; r++)
            fprintf(out, "    server %s-%d%s %s:%d %s\n", backend, r, backup ? "-fallback" : "",
                    host, base + r * GATEWAY_REPLICA_PORT_STEP, backup ? "backup" : "check");
}

/* How long until the keys are read again: the refresh interval, or sooner
 * while there are none. */
static int64_t gateway_next_read_ms(const struct config *cfg, bool have_keys)
{
    int64_t interval = config_int(cfg, CONFIG_AUTH_JWKS_REFRESH_MS);
    return have_keys || interval < GATEWAY_NO_KEYS_RETRY_MS ? interval : GATEWAY_NO_KEYS_RETRY_MS;
}

/* Seconds a client should wait before trying again while the keys cannot be
 * read: the next read is at most that far away. */
static long long gateway_keys_retry_after(const struct config *cfg)
{
    long long s = (gateway_next_read_ms(cfg, false) + 999) / 1000;
    return s < 1 ? 1 : s;
}

/* The key rules: for each key, jwt_verify with that key's own algorithm,
 * applied only to a token naming that kid and that alg (the template says
 * why); without keys, a 503 for every request with a token. */
static void gateway_key_rules(const struct config *cfg, const struct gateway_keys *keys, FILE *out)
{
    if (!keys->available) {
        fprintf(
            out,
            "    # The keys of the issuer could not be read yet: a request with a token is\n"
            "    # answered 503 (not the client's fault), and /readyz too, until they can.\n"
            "    acl jwt_kid_known always_false\n"
            "    http-request return status 503 content-type application/problem+json hdr "
            "Retry-After %lld lf-string '{\"type\":\"/problems/unavailable\",\"title\":\"Service "
            "unavailable\",\"status\":503,\"detail\":\"the gateway cannot check tokens yet: the "
            "keys of the issuer could not be read; retry in a moment\",\"requestId\":\"%%[var("
            "txn.request_id)]\"}' if auth_sent\n"
            "    http-request return status 503 content-type application/json string "
            "'{\"status\":\"not ready\",\"checks\":{\"keys\":\"not read yet\"}}' if { "
            "var(txn.route) -m str /readyz } METH_GET\n",
            gateway_keys_retry_after(cfg));
        return;
    }
    char dir[PATH_MAX];
    gateway_jwks_dir(cfg, dir, sizeof dir);
    /* "--" ends the ACL's flags: a kid may start with '-' (a base64url
     * thumbprint does, one time in 64). */
    fputs("    acl jwt_kid_known var(txn.jwt_kid) -m str --", out);
    for (size_t i = 0; i < keys->n; i++)
        fprintf(out, " %s", keys->key[i].kid);
    fputc('\n', out);
    for (size_t i = 0; i < keys->n; i++) {
        const struct gateway_key *k = &keys->key[i];
        const char *alg = auth_jwk_alg_name(k->alg);
        fprintf(
            out,
            "    http-request set-var(txn.jwt_ok) var(txn.jwt),jwt_verify(%s,%s/%s) if { "
            "var(txn.jwt_kid) -m str -- %s } { var(txn.jwt_alg) -m str %s } !{ var(txn.jwt_ok) -m "
            "int 1 }\n",
            alg, dir, k->file, k->kid, alg);
    }
}

/* Where HAProxy sends a copy of every request's log line when spans are
 * exported (WEBTOON_OTLP_ENDPOINT): the UDP port <span_port> on 127.0.0.1,
 * where this process makes the gateway's spans of them (gateway_spans.c).
 * <span_port> 0: not known (`webtoon gateway config` prints a note). */
static void gateway_trace_log(const struct config *cfg, int span_port, FILE *out)
{
    if (!*config_str(cfg, CONFIG_OTLP_ENDPOINT))
        fputs("    # (no span export: WEBTOON_OTLP_ENDPOINT is not set)\n", out);
    else if (span_port == 0)
        fputs("    # log 127.0.0.1:<port> ...: spans, to a port the gateway picks when it starts\n",
              out);
    else
        fprintf(out, "    log 127.0.0.1:%d len 8192 format raw local0 info\n", span_port);
}

/* Writes the value of placeholder <name> (<len> bytes) to <out>; returns
 * false for an unknown name. */
static bool gateway_expand(const struct config *cfg, const struct gateway_keys *keys, int span_port,
                           const char *name, size_t len, FILE *out)
{
    if (len > 8 && !strncmp(name, "servers ", 8)) {
        char backend[32];
        snprintf(backend, sizeof backend, "%.*s", (int)(len - 8), name + 8);
        gateway_servers(cfg, backend, out);
        return true;
    }
    char issuer[1024];
    if (len == 6 && !strncmp(name, "listen", 6)) {
        fprintf(out, "%s:%lld", config_str(cfg, CONFIG_LISTEN_ADDR),
                (long long)config_int(cfg, CONFIG_GATEWAY_PORT));
    } else if (len == 10 && !strncmp(name, "rate_limit", 10)) {
        fprintf(out, "%lld", (long long)config_int(cfg, CONFIG_GATEWAY_RATE_LIMIT));
    } else if (len == 15 && !strncmp(name, "max_connections", 15)) {
        fprintf(out, "%lld", (long long)config_int(cfg, CONFIG_GATEWAY_MAX_CONNECTIONS_PER_CLIENT));
    } else if (len == 8 && !strncmp(name, "max_body", 8)) {
        fprintf(out, "%lld", (long long)config_int(cfg, CONFIG_HTTP_MAX_BODY));
    } else if (len == 6 && !strncmp(name, "issuer", 6)) {
        auth_issuer_url(cfg, issuer, sizeof issuer);
        fputs(issuer, out);
    } else if (len == 8 && !strncmp(name, "audience", 8)) {
        fputs(config_str(cfg, CONFIG_AUTH_AUDIENCE), out);
    } else if (len == 8 && !strncmp(name, "jwt_keys", 8)) {
        gateway_key_rules(cfg, keys, out);
    } else if (len == 9 && !strncmp(name, "trace_log", 9)) {
        gateway_trace_log(cfg, span_port, out);
    } else {
        return false;
    }
    return true;
}

/* RC_OK when the settings the configuration quotes are plain words: the
 * issuer and the audience go into ACL patterns, the data directory into
 * key file paths; a space or a quote there would change the configuration's
 * meaning. RC_CONFIG with a message on stderr otherwise. */
static int gateway_check_words(const struct config *cfg)
{
    char issuer[1024];
    auth_issuer_url(cfg, issuer, sizeof issuer);
    const char *what = NULL, *value = NULL;
    if (!gateway_is_word(issuer, GATEWAY_URL_CHARS))
        what = "WEBTOON_AUTH_ISSUER", value = issuer;
    else if (!gateway_is_word(config_str(cfg, CONFIG_AUTH_AUDIENCE), GATEWAY_URL_CHARS))
        what = "WEBTOON_AUTH_AUDIENCE", value = config_str(cfg, CONFIG_AUTH_AUDIENCE);
    else if (!gateway_is_word(config_str(cfg, CONFIG_DATA_DIR), GATEWAY_PATH_CHARS))
        what = "WEBTOON_DATA_DIR", value = config_str(cfg, CONFIG_DATA_DIR);
    if (!what)
        return RC_OK;
    fprintf(stderr,
            "webtoon gateway: %s (%s) must be letters, digits and URL punctuation only "
            "(no space, quote, '#', '$', backslash or brace) to be written into HAProxy's "
            "configuration\n",
            what, value);
    return RC_CONFIG;
}

/* Renders the template with <keys> into <out>; <span_port> as in
 * gateway_trace_log. */
static int gateway_render(const struct config *cfg, const struct gateway_keys *keys, int span_port,
                          FILE *out)
{
    int rc = gateway_check_words(cfg);
    if (rc != RC_OK)
        return rc;
    const char *p = app_haproxy_template;
    for (const char *open; (open = strstr(p, "{{")) != NULL;) {
        const char *close = strstr(open, "}}");
        if (!close)
            break;
        fwrite(p, 1, (size_t)(open - p), out);
        if (!gateway_expand(cfg, keys, span_port, open + 2, (size_t)(close - open - 2), out))
            return RC_CONFIG;
        p = close + 2;
        /* A placeholder that stands alone on its line expands to whole
         * lines ({{servers x}}, {{jwt_keys}}), so its own line break goes. */
        if (open > app_haproxy_template && open[-1] == '\n' && *p == '\n')
            p++;
    }
    fputs(p, out);
    return ferror(out) ? RC_IO : RC_OK;
}

int app_gateway_render(const struct config *cfg, FILE *out)
{
    struct gateway_keys *keys = mem_calloc(1, sizeof *keys);
    if (!keys)
        return RC_NOMEM;
    int rc = gateway_keys_load(cfg, keys);
    if (rc == RC_IO)
        fprintf(stderr, "webtoon gateway: %s\n", keys->reason);
    else
        rc = gateway_render(cfg, keys, 0, out);
    mem_free(keys);
    return rc;
}

/* Renders <keys> into <path> (atomically). */
static int gateway_write_config(const struct config *cfg, const struct gateway_keys *keys,
                                int span_port, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return RC_NOMEM;
    int rc = gateway_render(cfg, keys, span_port, mem);
    if (fclose(mem) != 0 && rc == RC_OK)
        rc = RC_IO;
    if (rc == RC_OK)
        rc = gateway_write_file(path, text, len);
    free(text);
    return rc;
}

/* The running gateway: HAProxy's master and what its configuration holds. */
struct gateway {
    const struct config *cfg;
    char cfg_path[PATH_MAX];     /* <data>/run/haproxy.cfg */
    struct gateway_keys keys;    /* those the running configuration has */
    struct gateway_keys refused; /* a set HAProxy refused: not tried until it changes */
    bool has_refused;            /* <refused> holds one */
    bool read_failing;           /* the last read of the keys failed (said once) */
    pid_t master;                /* HAProxy's master process; 0 once it exited */
    struct gateway_spans *spans; /* turns log lines into spans; NULL: no export */
    int span_port;               /* where HAProxy sends them; 0: no export */
    /* A reload asked for and not yet seen: HAProxy's master drops a signal
     * that arrives before it has set up its own handlers (just after it
     * started), so the reload is confirmed by a new worker appearing, and
     * asked for again if none does. */
    bool reloading;
    int reload_tries;
    int64_t reload_sent_ms;
    size_t workers_before; /* HAProxy's workers when the reload was asked for */
    pid_t worker_before[GATEWAY_MAX_WORKERS];
};

/* Forks and execs `haproxy <args...>` (NULL-terminated, at most 6), with
 * signals unblocked; with <bound> HAProxy gets SIGTERM when this process
 * dies, so it never outlives its parent; with <quiet> its stdout goes to
 * /dev/null (stderr stays). Returns the pid, or -1. A child that cannot run
 * HAProxy exits with status 2, which `webtoon up` takes for "cannot start". */
static pid_t gateway_spawn(const struct config *cfg, char *const args[], bool bound, bool quiet)
{
    pid_t parent = getpid(), pid = fork();
    if (pid != 0)
        return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (bound && (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent))
        _exit(1);
    if (quiet) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
    }
    const char *haproxy = config_str(cfg, CONFIG_HAPROXY);
    char *argv[8] = {(char *)haproxy};
    for (int i = 0; i < 6 && args[i]; i++)
        argv[i + 1] = args[i];
    execvp(haproxy, argv);
    fprintf(stderr, "webtoon serve gateway: cannot run %s: %s (install haproxy)\n", haproxy,
            strerror(errno));
    _exit(2);
}

/* `haproxy -c -f <path>`: true when HAProxy accepts the configuration. Its
 * complaints go to stderr, with the gateway's log. */
static bool gateway_config_valid(const struct config *cfg, const char *path)
{
    char *args[] = {"-c", "-f", (char *)path, NULL};
    pid_t pid = gateway_spawn(cfg, args, true, true);
    if (pid < 0)
        return false;
    int status = 0;
    int64_t deadline = clock_mono_ms() + GATEWAY_CHECK_TIMEOUT_MS;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && clock_mono_ms() < deadline)
        clock_sleep_ms(5);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return false;
    }
    return r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A JSON array of the kids of <keys>, for the log. */
static json_t *gateway_kids(const struct gateway_keys *keys)
{
    json_t *kids = json_array();
    for (size_t i = 0; i < keys->n; i++)
        json_array_append_new(kids, json_string(keys->key[i].kid));
    return kids;
}

/* One warning per key of <keys> that was skipped, saying why. */
static void gateway_log_skipped(const struct gateway_keys *keys)
{
    for (size_t i = 0; i < keys->skipped; i++)
        log_warn("the issuer's %s; skipped", keys->skip[i]);
}

/* The pids of <parent>'s children (HAProxy's workers), at most <cap>, from
 * /proc. */
static size_t gateway_children(pid_t parent, pid_t *out, size_t cap)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < cap;) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], stat[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[len] = '\0';
        /* "pid (comm) state ppid ...": comm may hold anything, so after the
         * last ')'. */
        const char *close = strrchr(stat, ')');
        char state;
        long ppid;
        if (close && sscanf(close + 1, " %c %ld", &state, &ppid) == 2 && ppid == (long)parent)
            out[n++] = (pid_t)strtol(e->d_name, NULL, 10);
    }
    closedir(d);
    return n;
}

/* Asks HAProxy's master to reload its configuration (SIGUSR2), noting the
 * workers it has now, so that gateway_check_reload can see it happen. */
static void gateway_reload(struct gateway *gw)
{
    if (!gw->reloading) {
        gw->workers_before = gateway_children(gw->master, gw->worker_before, GATEWAY_MAX_WORKERS);
        gw->reload_tries = 0;
    }
    gw->reloading = true;
    gw->reload_tries++;
    gw->reload_sent_ms = clock_mono_ms();
    kill(gw->master, SIGUSR2);
}

/* Once a reload was asked for: done when the master has a worker it did not
 * have before; asked for again when none came within
 * GATEWAY_RELOAD_CONFIRM_MS, given up (and said) after GATEWAY_RELOAD_TRIES. */
static void gateway_check_reload(struct gateway *gw)
{
    pid_t now[GATEWAY_MAX_WORKERS];
    size_t n = gateway_children(gw->master, now, GATEWAY_MAX_WORKERS);
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t j = 0; j < gw->workers_before && !known; j++)
            known = now[i] == gw->worker_before[j];
        if (!known) {
            gw->reloading = false;
            log_write(LOG_INFO, NULL, json_pack("{s:i}", "worker", (int)now[i]),
                      "HAProxy reloaded (new worker %d)", (int)now[i]);
            return;
        }
    }
    if (clock_mono_ms() - gw->reload_sent_ms < GATEWAY_RELOAD_CONFIRM_MS)
        return;
    if (gw->reload_tries < GATEWAY_RELOAD_TRIES) {
        gateway_reload(gw);
        return;
    }
    gw->reloading = false;
    log_error("HAProxy did not reload after %d requests; the key rules it runs may be old",
              GATEWAY_RELOAD_TRIES);
}

/* Re-reads the keys; when they changed, renders, checks and reloads. */
static void gateway_refresh(struct gateway *gw)
{
    struct gateway_keys *next = mem_calloc(1, sizeof *next);
    if (!next)
        return;
    int rc = gateway_keys_load(gw->cfg, next);
    if (rc != RC_OK) {
        /* Keys we have stay: an issuer that is down for a moment has not
         * revoked them. */
        if (!gw->read_failing)
            log_write(
                LOG_WARN, NULL,
                json_pack("{s:s, s:I}", "reason", next->reason, "keys", (json_int_t)gw->keys.n),
                "cannot read the issuer's keys (%s); %s", next->reason,
                gw->keys.available ? "keeping those the gateway has"
                                   : "requests with a token get 503 until it can");
        gw->read_failing = true;
        goto out;
    }
    if (gw->read_failing)
        log_info("the issuer's keys can be read again");
    gw->read_failing = false;
    if (gateway_keys_equal(next, &gw->keys) ||
        (gw->has_refused && gateway_keys_equal(next, &gw->refused)))
        goto out;
    gateway_log_skipped(next);
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.next", gw->cfg_path);
    if (gateway_write_config(gw->cfg, next, gw->span_port, tmp) != RC_OK ||
        !gateway_config_valid(gw->cfg, tmp) || rename(tmp, gw->cfg_path) != 0) {
        log_write(LOG_ERROR, NULL, json_pack("{s:o}", "kids", gateway_kids(next)),
                  "the issuer's new key set does not make a configuration HAProxy accepts; "
                  "keeping the current one");
        unlink(tmp);
        gw->refused = *next;
        gw->has_refused = true;
        goto out;
    }
    gateway_reload(gw);
    log_write(LOG_INFO, NULL,
              json_pack("{s:o, s:o}", "kids", gateway_kids(next), "previousKids",
                        gateway_kids(&gw->keys)),
              "the issuer's keys changed (%zu now%s); reloading HAProxy", next->n,
              next->available ? "" : ": requests with a token get 503");
    gw->keys = *next;
    gateway_prune_key_files(gw->cfg, &gw->keys);
out:
    mem_free(next);
}

/* Waits for HAProxy's master, forwarding stop signals (again every
 * GATEWAY_RESIGNAL_MS: one that arrives while the master is still starting
 * is lost) and refreshing the keys on time; returns HAProxy's exit status. */
static int gateway_run(struct gateway *gw, int sigfd)
{
    int64_t next = clock_mono_ms() + gateway_next_read_ms(gw->cfg, gw->keys.available);
    int64_t resignal = 0;
    int stop = 0, status = 0;
    while (gw->master) {
        int64_t now = clock_mono_ms(), wait = stop ? resignal - now : next - now;
        if (gw->reloading && wait > 100)
            wait = 100;
        struct pollfd pfd[2] = {
            {.fd = sigfd, .events = POLLIN},
            {.fd = gw->spans ? gateway_spans_fd(gw->spans) : -1, .events = POLLIN}};
        if (poll(pfd, 2, (int)(wait < 0 ? 0 : wait)) > 0) {
            if (pfd[1].revents & POLLIN)
                gateway_spans_drain(gw->spans);
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                int sig = (int)si.ssi_signo;
                if (sig == SIGHUP) {
                    next = clock_mono_ms(); /* read the keys now */
                } else if (sig != SIGCHLD && sig != stop && (!stop || sig != SIGUSR1)) {
                    stop = sig; /* a hard stop (SIGINT) outranks a soft one */
                    resignal = 0;
                }
            }
        }
        int ws;
        if (waitpid(gw->master, &ws, WNOHANG) == gw->master) {
            status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
            gw->master = 0;
            break;
        }
        now = clock_mono_ms();
        if (stop && now >= resignal) {
            kill(gw->master, stop == SIGTERM ? SIGUSR1 : stop);
            resignal = now + GATEWAY_RESIGNAL_MS;
        } else if (!stop && gw->reloading) {
            gateway_check_reload(gw);
        } else if (!stop && now >= next) {
            gateway_refresh(gw);
            /* Without keys every token gets 503: look again soon. */
            next = clock_mono_ms() + gateway_next_read_ms(gw->cfg, gw->keys.available);
        }
    }
    /* Stopped by the signal we passed on (HAProxy's master reports its
     * workers' SIGTERM as 143): the stop we were asked for, a clean exit. */
    return stop && status == 128 + stop ? 0 : status;
}

int app_serve_gateway(const struct config *cfg)
{
    log_init("gateway", (enum log_level)config_int(cfg, CONFIG_LOG_LEVEL));
    struct gateway *gw = mem_calloc(1, sizeof *gw);
    if (!gw)
        return 1;
    gw->cfg = cfg;
    char err[256];
    if (trace_export_start_config(cfg, "gateway", err, sizeof err) != RC_OK) {
        fprintf(stderr, "webtoon serve gateway: %s\n", err);
        mem_free(gw);
        return 2;
    }
    if (trace_export_is_running() && gateway_spans_open(&gw->spans, &gw->span_port) != RC_OK)
        log_warn("cannot open the socket for HAProxy's spans: the gateway makes none");
    snprintf(gw->cfg_path, sizeof gw->cfg_path, "%s/run/haproxy.cfg",
             config_str(cfg, CONFIG_DATA_DIR));
    int status = 2, sigfd = -1;
    int rc = gateway_keys_load(cfg, &gw->keys);
    if (rc == RC_IO) {
        fprintf(stderr, "webtoon serve gateway: %s\n", gw->keys.reason);
        goto out;
    }
    if (rc != RC_OK || !gw->keys.available) {
        log_write(LOG_WARN, NULL, json_pack("{s:s}", "reason", gw->keys.reason),
                  "the issuer's keys cannot be read yet (%s): requests with a token get 503 "
                  "until they can; trying again every %lld ms",
                  gw->keys.reason, (long long)gateway_next_read_ms(cfg, false));
        gw->read_failing = rc != RC_OK;
    } else {
        log_write(LOG_INFO, NULL, json_pack("{s:o}", "kids", gateway_kids(&gw->keys)),
                  "verifying tokens with %zu keys of the issuer", gw->keys.n);
    }
    gateway_log_skipped(&gw->keys);
    if (gateway_write_config(cfg, &gw->keys, gw->span_port, gw->cfg_path) != RC_OK) {
        fprintf(stderr, "webtoon serve gateway: cannot write %s\n", gw->cfg_path);
        goto out;
    }
    gateway_prune_key_files(cfg, &gw->keys);

    sigset_t set;
    sigemptyset(&set);
    int signals[] = {SIGCHLD, SIGUSR1, SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        sigaddset(&set, signals[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) {
        fprintf(stderr, "webtoon serve gateway: signalfd: %s\n", strerror(errno));
        goto out;
    }
    /* Master-worker mode: reloads (SIGUSR2) pass the listening sockets to
     * the new workers; -db keeps the master in the foreground, logging to
     * our stdout. */
    char *args[] = {"-W", "-db", "-f", gw->cfg_path, NULL};
    gw->master = gateway_spawn(cfg, args, true, false);
    if (gw->master < 0) {
        fprintf(stderr, "webtoon serve gateway: fork: %s\n", strerror(errno));
        goto out;
    }
    status = gateway_run(gw, sigfd);
out:
    if (sigfd >= 0)
        close(sigfd);
    if (gw->spans)
        gateway_spans_drain(gw->spans); /* HAProxy's last lines */
    gateway_spans_close(gw->spans);
    trace_export_stop(TRACE_STOP_DEFAULT_MS);
    mem_free(gw);
    return status;
}
