/*
 * The Redis client of rcli.h: connections per node, the slot map of a
 * cluster, and the redirections. Invariants: nodes[] only grows (an index
 * stays valid for the client's life), the seeds come first, and
 * slot_owner[s] is 0 (unknown) or 1 + the index of the node believed to be
 * the primary of slot s. A standalone client has one node and no map.
 */
#include "core/redis/rcli.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/bug.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

#define RCLI_NODES_MAX 64 /* primaries and the seeds; slot_owner holds 1 + index in a byte */
#define RCLI_ARGS_MAX 48  /* of one command */

struct rcli_node {
    char host[256];
    int port;
    redisContext *ctx; /* NULL until connected, and after a failure */
};

struct rcli {
    bool cluster;
    int db; /* SELECTed on connecting; always 0 on a cluster */
    int nnodes;
    struct rcli_node nodes[RCLI_NODES_MAX];
    uint8_t slot_owner[RCLI_SLOTS];
    bool map_stale; /* refresh the map before the next command */
};

/* --- pure parts: slots, redirections, URLs --------------------------------- */

/* CRC16-CCITT (XMODEM), the one Redis Cluster uses (its cluster spec, crc16.c). */
static uint16_t rcli_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint8_t)buf[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned rcli_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open + 1 - key);
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return rcli_crc16(open + 1, (size_t)(close - open - 1)) % RCLI_SLOTS;
    }
    return rcli_crc16(key, len) % RCLI_SLOTS;
}

/* Reads "<host>:<port>" from <s> (up to <end>; the port after the last
 * colon, so that an IPv6 address keeps its own); the host may be empty. */
static int rcli_parse_address(const char *s, const char *end, char *host, size_t host_size,
                              int *port)
{
    const char *colon = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == ':')
            colon = p;
    if (!colon || colon + 1 == end || (size_t)(colon - s) >= host_size)
        return RC_INVALID;
    long n = 0;
    for (const char *p = colon + 1; p < end; p++) {
        if (*p < '0' || *p > '9' || (n = n * 10 + (*p - '0')) > 65535)
            return RC_INVALID;
    }
    if (n < 1)
        return RC_INVALID;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (int)n;
    return RC_OK;
}

int rcli_parse_redirect(const char *err, struct rcli_redirect *out)
{
    const char *p;
    if (!strncmp(err, "MOVED ", 6)) {
        out->ask = false;
        p = err + 6;
    } else if (!strncmp(err, "ASK ", 4)) {
        out->ask = true;
        p = err + 4;
    } else {
        return RC_INVALID;
    }
    char *end = NULL;
    if (*p < '0' || *p > '9')
        return RC_INVALID;
    unsigned long slot = strtoul(p, &end, 10);
    if (slot >= RCLI_SLOTS || *end != ' ')
        return RC_INVALID;
    out->slot = (unsigned)slot;
    return rcli_parse_address(end + 1, end + 1 + strlen(end + 1), out->host, sizeof out->host,
                              &out->port);
}

/* Adds the node <host>:<port> (<hlen> bytes of host) unless known; its
 * index, or -1 when nodes[] is full. */
static int rcli_node_index(struct rcli *c, const char *host, size_t hlen, int port)
{
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i].port == port && strlen(c->nodes[i].host) == hlen &&
            !memcmp(c->nodes[i].host, host, hlen))
            return i;
    if (c->nnodes == RCLI_NODES_MAX || hlen == 0 || hlen >= sizeof c->nodes[0].host)
        return -1;
    struct rcli_node *n = &c->nodes[c->nnodes];
    memcpy(n->host, host, hlen);
    n->host[hlen] = '\0';
    n->port = port;
    n->ctx = NULL;
    return c->nnodes++;
}

/* redis://host[:port][/db] into <c>. */
static int rcli_parse_standalone(const char *p, struct rcli *c)
{
    size_t hlen = strcspn(p, ":/");
    int port = 6379;
    char *end = NULL;
    const char *host = p;
    p += hlen;
    if (*p == ':') {
        long n = strtol(p + 1, &end, 10);
        if (end == p + 1 || n < 1 || n > 65535)
            return RC_CONFIG;
        port = (int)n;
        p = end;
    }
    if (*p == '/' && p[1]) {
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000)
            return RC_CONFIG;
        c->db = (int)db;
    } else if (*p && strcmp(p, "/") != 0) {
        return RC_CONFIG;
    }
    return rcli_node_index(c, host, hlen, port) == 0 ? RC_OK : RC_CONFIG;
}

/* redis+cluster://host:port[,host:port]... into <c>: the seeds. */
static int rcli_parse_cluster(const char *p, struct rcli *c)
{
    while (true) {
        size_t len = strcspn(p, ",");
        char host[256];
        int port;
        if (len == 0 || rcli_parse_address(p, p + len, host, sizeof host, &port) != RC_OK ||
            !*host || strpbrk(host, "/") || rcli_node_index(c, host, strlen(host), port) < 0)
            return RC_CONFIG;
        if (!p[len])
            return RC_OK;
        p += len + 1;
    }
}

int rcli_new(const char *url, struct rcli **out)
{
    *out = NULL;
    struct rcli *c = mem_calloc(1, sizeof *c);
    if (!c)
        return RC_NOMEM;
    int rc = RC_CONFIG;
    if (!strncmp(url, "redis://", 8)) {
        rc = rcli_parse_standalone(url + 8, c);
    } else if (!strncmp(url, "redis+cluster://", 16)) {
        c->cluster = true;
        c->map_stale = true;
        rc = rcli_parse_cluster(url + 16, c);
    }
    if (rc != RC_OK) {
        mem_free(c);
        return rc;
    }
    *out = c;
    return RC_OK;
}

void rcli_free(struct rcli *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i].ctx)
            redisFree(c->nodes[i].ctx);
    mem_free(c);
}

bool rcli_is_cluster(const struct rcli *c) { return c->cluster; }

void rcli_script_init(struct rcli_script *s, const char *source)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    s->source = source;
    BUG_ON(!EVP_Digest(source, strlen(source), md, &len, EVP_sha1(), NULL) || len != 20);
    for (unsigned i = 0; i < len; i++)
        snprintf(s->sha1 + 2 * i, 3, "%02x", md[i]);
}

/* --- one node ------------------------------------------------------------------ */

static void rcli_node_drop(struct rcli *c, int i)
{
    if (c->nodes[i].ctx)
        redisFree(c->nodes[i].ctx);
    c->nodes[i].ctx = NULL;
    c->map_stale = c->cluster;
}

/* The connection to node <i>, made when missing; NULL when it fails. */
static redisContext *rcli_node_connect(struct rcli *c, int i)
{
    struct rcli_node *n = &c->nodes[i];
    if (n->ctx)
        return n->ctx;
    struct timeval tv = {.tv_sec = RCLI_TIMEOUT_MS / 1000,
                         .tv_usec = (RCLI_TIMEOUT_MS % 1000) * 1000};
    n->ctx = redisConnectWithTimeout(n->host, n->port, tv);
    if (!n->ctx || n->ctx->err || redisSetTimeout(n->ctx, tv) != REDIS_OK) {
        rcli_node_drop(c, i);
        return NULL;
    }
    if (c->db) {
        redisReply *sel = redisCommand(n->ctx, "SELECT %d", c->db);
        bool ok = sel && sel->type == REDIS_REPLY_STATUS;
        freeReplyObject(sel);
        if (!ok) {
            rcli_node_drop(c, i);
            return NULL;
        }
    }
    return n->ctx;
}

/* Sends <argv> to node <i>, after ASKING when <asking>; the reply (error
 * replies included), or NULL when the connection failed (then dropped). */
static redisReply *rcli_node_run(struct rcli *c, int i, bool asking, int argc, const char **argv)
{
    size_t lens[RCLI_ARGS_MAX];
    BUG_ON(argc > (int)ARRAY_LEN(lens));
    for (int a = 0; a < argc; a++)
        lens[a] = strlen(argv[a]);
    redisContext *ctx = rcli_node_connect(c, i);
    if (!ctx)
        return NULL;
    void *reply = NULL;
    if (asking) {
        void *ok = NULL;
        if (redisAppendCommand(ctx, "ASKING") != REDIS_OK ||
            redisAppendCommandArgv(ctx, argc, argv, lens) != REDIS_OK ||
            redisGetReply(ctx, &ok) != REDIS_OK || redisGetReply(ctx, &reply) != REDIS_OK)
            reply = NULL;
        freeReplyObject(ok);
    } else {
        reply = redisCommandArgv(ctx, argc, argv, lens);
    }
    if (!reply)
        rcli_node_drop(c, i);
    return reply;
}

/* --- the slot map ------------------------------------------------------------ */

/* One range of a CLUSTER SLOTS reply into the map; <from> answered it. */
static void rcli_map_range(struct rcli *c, int from, const redisReply *range)
{
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
        range->element[0]->type != REDIS_REPLY_INTEGER ||
        range->element[1]->type != REDIS_REPLY_INTEGER)
        return;
    long long first = range->element[0]->integer, last = range->element[1]->integer;
    const redisReply *primary = range->element[2];
    if (first < 0 || last >= RCLI_SLOTS || first > last || primary->type != REDIS_REPLY_ARRAY ||
        primary->elements < 2 || primary->element[0]->type != REDIS_REPLY_STRING ||
        primary->element[1]->type != REDIS_REPLY_INTEGER)
        return;
    /* An unknown endpoint ("" or "?") is the address we asked. */
    const char *host = primary->element[0]->str;
    if (!*host || !strcmp(host, "?"))
        host = c->nodes[from].host;
    int node = rcli_node_index(c, host, strlen(host), (int)primary->element[1]->integer);
    if (node >= 0)
        memset(c->slot_owner + first, node + 1, (size_t)(last - first + 1));
}

/* Asks the known nodes in turn for the slot map; RC_UNAVAILABLE when none
 * answers. */
static int rcli_map_refresh(struct rcli *c)
{
    static const char *argv[] = {"CLUSTER", "SLOTS"};
    for (int i = 0; i < c->nnodes; i++) {
        redisReply *r = rcli_node_run(c, i, false, 2, argv);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
            memset(c->slot_owner, 0, sizeof c->slot_owner);
            for (size_t e = 0; e < r->elements; e++)
                rcli_map_range(c, i, r->element[e]);
            freeReplyObject(r);
            c->map_stale = false;
            return RC_OK;
        }
        freeReplyObject(r);
    }
    return RC_UNAVAILABLE;
}

/* The node to send a command on <key> to, or -1. */
static int rcli_route(struct rcli *c, const char *key)
{
    if (!c->cluster)
        return 0;
    unsigned slot = rcli_key_slot(key, strlen(key));
    if ((c->map_stale || !c->slot_owner[slot]) && rcli_map_refresh(c) != RC_OK)
        return -1;
    return c->slot_owner[slot] - 1;
}

/* The distinct primaries of the map into <out>; their number, or -1 when
 * the map cannot be had or leaves a slot without a primary. */
static int rcli_primaries(struct rcli *c, int out[RCLI_NODES_MAX])
{
    if (!c->cluster) {
        out[0] = 0;
        return 1;
    }
    if (c->map_stale && rcli_map_refresh(c) != RC_OK)
        return -1;
    bool seen[RCLI_NODES_MAX] = {false};
    int n = 0;
    for (unsigned s = 0; s < RCLI_SLOTS; s++) {
        int owner = c->slot_owner[s] - 1;
        if (owner < 0)
            return -1;
        if (!seen[owner]) {
            seen[owner] = true;
            out[n++] = owner;
        }
    }
    return n;
}

/* --- commands ------------------------------------------------------------------ */

/* Runs <argv> on the node of <key>, following redirections; loads
 * <script> (or NULL) where a node answers NOSCRIPT, then runs <argv> again. */
static redisReply *rcli_run(struct rcli *c, const char *key, struct rcli_script *script, int argc,
                            const char **argv)
{
    int node = rcli_route(c, key);
    bool asking = false;
    for (int attempt = 0; node >= 0 && attempt <= RCLI_REDIRECTS_MAX; attempt++) {
        redisReply *r = rcli_node_run(c, node, asking, argc, argv);
        if (!r || r->type != REDIS_REPLY_ERROR)
            return r;
        struct rcli_redirect to;
        if (c->cluster && rcli_parse_redirect(r->str, &to) == RC_OK) {
            const char *host = *to.host ? to.host : c->nodes[node].host;
            node = rcli_node_index(c, host, strlen(host), to.port);
            asking = to.ask;
            if (!to.ask && node >= 0) { /* the owner moved: so did others, likely */
                c->slot_owner[to.slot] = (uint8_t)(node + 1);
                c->map_stale = true;
            }
        } else if (script && !strncmp(r->str, "NOSCRIPT", 8)) {
            const char *load[] = {"SCRIPT", "LOAD", script->source};
            redisReply *l = rcli_node_run(c, node, false, 3, load);
            bool loaded = l && l->type == REDIS_REPLY_STRING;
            freeReplyObject(l);
            if (!loaded)
                node = -1;
        } else { /* CLUSTERDOWN, TRYAGAIN, a script's error...: the caller retries */
            c->map_stale = c->cluster;
            node = -1;
        }
        freeReplyObject(r);
    }
    return NULL;
}

redisReply *rcli_command(struct rcli *c, const char *key, int argc, const char **argv)
{
    return rcli_run(c, key, NULL, argc, argv);
}

redisReply *rcli_eval(struct rcli *c, struct rcli_script *script, int nkeys, const char **keys,
                      int nargs, const char **args)
{
    const char *argv[RCLI_ARGS_MAX];
    char n[16];
    BUG_ON(nkeys < 1 || nkeys > 16 || 3 + nkeys + nargs > (int)ARRAY_LEN(argv));
    unsigned slot = rcli_key_slot(keys[0], strlen(keys[0]));
    snprintf(n, sizeof n, "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = script->sha1;
    argv[2] = n;
    for (int i = 0; i < nkeys; i++) {
        BUG_ON(rcli_key_slot(keys[i], strlen(keys[i])) != slot); /* one slot per call */
        argv[3 + i] = keys[i];
    }
    for (int i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];
    return rcli_run(c, keys[0], script, 3 + nkeys + nargs, argv);
}

/* SCAN MATCH <pattern> over node <i>, <cb> for each key. */
static int rcli_scan_node(struct rcli *c, int i, const char *pattern, rcli_key_cb cb, void *arg)
{
    char cursor[32] = "0";
    int rc = RC_OK;
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        redisReply *r = rcli_node_run(c, i, false, (int)ARRAY_LEN(argv), argv);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return RC_UNAVAILABLE;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t k = 0; rc == RC_OK && k < keys->elements; k++)
            if (keys->element[k]->type == REDIS_REPLY_STRING)
                rc = cb(arg, keys->element[k]->str);
        freeReplyObject(r);
    } while (rc == RC_OK && strcmp(cursor, "0") != 0);
    return rc;
}

int rcli_scan(struct rcli *c, const char *pattern, rcli_key_cb cb, void *arg)
{
    int primaries[RCLI_NODES_MAX];
    int n = rcli_primaries(c, primaries);
    int rc = n < 0 ? RC_UNAVAILABLE : RC_OK;
    for (int i = 0; rc == RC_OK && i < n; i++)
        rc = rcli_scan_node(c, primaries[i], pattern, cb, arg);
    return rc;
}

bool rcli_ping(struct rcli *c)
{
    static const char *argv[] = {"PING"};
    int primaries[RCLI_NODES_MAX];
    int n = rcli_primaries(c, primaries);
    for (int i = 0; i < n; i++) {
        redisReply *r = rcli_node_run(c, primaries[i], false, 1, argv);
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!ok) {
            c->map_stale = c->cluster;
            return false;
        }
    }
    return n > 0;
}
