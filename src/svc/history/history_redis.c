/*
 * The history view in Redis (hiredis), shared by every history replica, so
 * that several of them consuming one group's partitions build one view.
 *
 * Applying an event is one Lua script: it records the event id (with the
 * inbox retention as its time to live) and changes the summary and the
 * timeline, all or nothing. A redelivered event finds its id and changes
 * nothing, whichever replica receives it; once its id has expired, the
 * offsets kept in the summary and each entry still make it change nothing
 * (a user's events share a partition, so offsets order them), and an entry
 * in a final status never changes again. Keys, under WEBTOON_REDIS_PREFIX
 * + "history:":
 *   users            sorted set of user ids (score 0: ordered by id)
 *   user:<id>        hash: status, myPoint, updatedAt, offset
 *   timeline:<id>    sorted set of the user's entry ids (score = entry id)
 *   entry:<n>        hash: one timeline entry (and the offset of its last event);
 *                    its status, reason and actor are those of that event
 *   ref:<kind>:<ref> the entry id of a payment or purchase
 *   ref:event:<id>   the entry id of an entry made by one event (a read)
 *   seq              the last entry id
 *   inbox:<event>    handled event ids
 * One connection per thread; after a failure it is dropped and made again
 * on the next call, so Redis restarting costs failed calls, not a restart.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "svc/history/history.h"

#define HISTORY_REDIS_TIMEOUT_MS 2000
#define HISTORY_REDIS_KEY_MAX 256

struct history_redis {
    redisContext *c; /* NULL until connected, and after a failure */
    char host[256];
    int port;
    int db;
    char prefix[128]; /* "<WEBTOON_REDIS_PREFIX>history:" */
    int64_t inbox_ttl_ms;
};

static const char history_redis_apply_script[] =
    "if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end\n"
    "local user = ARGV[2]\n"
    "local offset = tonumber(ARGV[14])\n"
    "if ARGV[3] ~= '' or ARGV[4] ~= '' then\n"
    "  redis.call('ZADD', KEYS[6], 0, user)\n"
    "  redis.call('HSETNX', KEYS[2], 'status', 'joined')\n"
    "  redis.call('HSETNX', KEYS[2], 'myPoint', '0')\n"
    "  if offset > tonumber(redis.call('HGET', KEYS[2], 'offset') or '-1') then\n"
    "    if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'status', ARGV[3]) end\n"
    "    if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'myPoint', ARGV[4]) end\n"
    "    redis.call('HSET', KEYS[2], 'updatedAt', ARGV[11], 'offset', ARGV[14])\n"
    "  end\n"
    "end\n"
    "if ARGV[5] == '' then return 1 end\n"
    "local id = redis.call('GET', KEYS[4])\n"
    "local entry\n"
    "if id then\n"
    "  entry = ARGV[13] .. id\n"
    "  local e = redis.call('HMGET', entry, 'status', 'offset')\n"
    "  local final = {rejected = true, cancelled = true, refunded = true, declined = true}\n"
    "  if final[e[1]] or tonumber(e[2] or '-1') >= offset then return 1 end\n"
    "  redis.call('HSET', entry, 'status', ARGV[6], 'updatedAt', ARGV[11], 'offset', ARGV[14])\n"
    "else\n"
    "  id = redis.call('INCR', KEYS[5])\n"
    "  entry = ARGV[13] .. id\n"
    "  redis.call('HSET', entry, 'entryId', id, 'userId', user, 'kind', ARGV[5], 'status',\n"
    "             ARGV[6], 'occurredAt', ARGV[11], 'updatedAt', ARGV[11], 'offset', ARGV[14])\n"
    "  redis.call('ZADD', KEYS[3], id, id)\n"
    "  redis.call('SET', KEYS[4], id)\n"
    "  if ARGV[12] ~= '' then redis.call('HSET', entry, 'refId', ARGV[12]) end\n"
    "end\n"
    "if ARGV[10] ~= '' then redis.call('HSET', entry, 'reason', ARGV[10])\n"
    "else redis.call('HDEL', entry, 'reason') end\n"
    "if ARGV[15] ~= '' then redis.call('HSET', entry, 'actor', ARGV[15])\n"
    "else redis.call('HDEL', entry, 'actor') end\n"
    "if ARGV[7] ~= '' then redis.call('HSETNX', entry, 'webtoonId', ARGV[7]) end\n"
    "if ARGV[8] ~= '' then redis.call('HSETNX', entry, 'point', ARGV[8]) end\n"
    "if ARGV[9] ~= '' then redis.call('HSETNX', entry, 'price', ARGV[9]) end\n"
    "return 1\n";

/* --- connection ------------------------------------------------------------ */

/* Parses redis://host[:port][/db] into <r>. */
static int history_redis_parse(const char *url, struct history_redis *r)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0)
        return RC_CONFIG;
    p += 8;
    size_t hlen = strcspn(p, ":/");
    if (hlen == 0 || hlen >= sizeof r->host)
        return RC_CONFIG;
    memcpy(r->host, p, hlen);
    r->host[hlen] = '\0';
    p += hlen;
    r->port = 6379;
    r->db = 0;
    char *end = NULL;
    if (*p == ':') {
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return RC_CONFIG;
        r->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000)
            return RC_CONFIG;
        r->db = (int)db;
    } else if (*p && strcmp(p, "/") != 0) {
        return RC_CONFIG;
    }
    return RC_OK;
}

static void history_redis_drop(struct history_redis *r)
{
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
}

/* Runs one command; NULL (and the connection dropped) on any failure, so
 * the next call reconnects. The reply is freed with freeReplyObject. */
static redisReply *history_redis_run(struct history_redis *r, int argc, const char **argv,
                                     const size_t *lens)
{
    if (!r->c) {
        struct timeval tv = {.tv_sec = HISTORY_REDIS_TIMEOUT_MS / 1000,
                             .tv_usec = (HISTORY_REDIS_TIMEOUT_MS % 1000) * 1000};
        r->c = redisConnectWithTimeout(r->host, r->port, tv);
        if (!r->c || r->c->err || redisSetTimeout(r->c, tv) != REDIS_OK) {
            history_redis_drop(r);
            return NULL;
        }
        if (r->db) {
            redisReply *sel = redisCommand(r->c, "SELECT %d", r->db);
            bool ok = sel && sel->type == REDIS_REPLY_STATUS;
            freeReplyObject(sel);
            if (!ok) {
                history_redis_drop(r);
                return NULL;
            }
        }
    }
    redisReply *reply = redisCommandArgv(r->c, argc, argv, lens);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        freeReplyObject(reply);
        history_redis_drop(r);
        return NULL;
    }
    return reply;
}

/* history_redis_run with NUL-terminated arguments. */
static redisReply *history_redis_cmd(struct history_redis *r, int argc, const char **argv)
{
    size_t lens[32];
    BUG_ON(argc > (int)ARRAY_LEN(lens));
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return history_redis_run(r, argc, argv, lens);
}

static void history_redis_key(const struct history_redis *r, char *out, const char *a,
                              const char *b)
{
    snprintf(out, HISTORY_REDIS_KEY_MAX, "%s%s%s", r->prefix, a, b ? b : "");
}

int history_redis_open(struct service_ctx *ctx)
{
    const char *url = config_str(ctx->cfg, CONFIG_HISTORY_REDIS_URL);
    ctx->ext = NULL;
    if (!*url)
        return RC_OK; /* the view lives in the store */
    struct history_redis *r = mem_calloc(1, sizeof *r);
    if (!r)
        return RC_NOMEM;
    if (history_redis_parse(url, r) != RC_OK) {
        mem_free(r);
        return RC_CONFIG;
    }
    snprintf(r->prefix, sizeof r->prefix, "%shistory:", config_str(ctx->cfg, CONFIG_REDIS_PREFIX));
    r->inbox_ttl_ms = config_int(ctx->cfg, CONFIG_INBOX_RETENTION_MS);
    ctx->ext = r; /* connects on first use: Redis may come up after us */
    return RC_OK;
}

void history_redis_close(struct service_ctx *ctx)
{
    struct history_redis *r = ctx->ext;
    if (!r)
        return;
    history_redis_drop(r);
    mem_free(r);
    ctx->ext = NULL;
}

bool history_redis_is_ready(struct service_ctx *ctx)
{
    struct history_redis *r = ctx->ext;
    if (!r)
        return true;
    const char *argv[] = {"PING"};
    redisReply *reply = history_redis_cmd(r, 1, argv);
    freeReplyObject(reply);
    return reply != NULL;
}

/* --- applying events ----------------------------------------------------------- */

static int history_redis_apply(struct service_ctx *ctx, struct store *st,
                               const struct history_change *c, const struct bus_event *ev,
                               const struct history_fields *f)
{
    (void)st; /* the inbox transaction commits nothing of ours: Redis dedupes */
    struct history_redis *r = ctx->ext;
    char k_inbox[HISTORY_REDIS_KEY_MAX], k_user[HISTORY_REDIS_KEY_MAX],
        k_timeline[HISTORY_REDIS_KEY_MAX], k_ref[HISTORY_REDIS_KEY_MAX],
        k_seq[HISTORY_REDIS_KEY_MAX], k_users[HISTORY_REDIS_KEY_MAX],
        k_entry[HISTORY_REDIS_KEY_MAX];
    char ref[160] = "";
    history_redis_key(r, k_inbox, "inbox:", ev->id);
    history_redis_key(r, k_user, "user:", f->user);
    history_redis_key(r, k_timeline, "timeline:", f->user);
    /* An entry without a business id is the one its event made. */
    snprintf(ref, sizeof ref, "%s:%s", f->ref ? c->kind : "event", f->ref ? f->ref : ev->id);
    history_redis_key(r, k_ref, "ref:", ref);
    history_redis_key(r, k_seq, "seq", NULL);
    history_redis_key(r, k_users, "users", NULL);
    history_redis_key(r, k_entry, "entry:", NULL);

    char ttl[24], balance[24] = "", point[24] = "", price[24] = "", at[24], offset[24];
    snprintf(offset, sizeof offset, "%lld", (long long)ev->offset);
    snprintf(ttl, sizeof ttl, "%lld", (long long)r->inbox_ttl_ms);
    if (f->has_balance)
        snprintf(balance, sizeof balance, "%lld", (long long)f->balance);
    if (f->has_point && c->kind && strcmp(c->kind, "account") != 0)
        snprintf(point, sizeof point, "%lld", (long long)f->point);
    if (f->has_price)
        snprintf(price, sizeof price, "%lld", (long long)f->price);
    snprintf(at, sizeof at, "%lld", (long long)ev->timestamp_ms);
    const char *argv[] = {
        "EVAL",
        history_redis_apply_script,
        "6",
        k_inbox,
        k_user,
        k_timeline,
        k_ref,
        k_seq,
        k_users,
        ttl,
        f->user,
        c->user_status ? c->user_status : "",
        balance,
        c->kind ? c->kind : "",
        c->status ? c->status : "",
        f->webtoon ? f->webtoon : "",
        point,
        price,
        f->reason ? f->reason : "",
        at,
        f->ref ? f->ref : "",
        k_entry,
        offset,
        f->actor ? f->actor : "",
    };
    redisReply *reply = history_redis_cmd(r, (int)ARRAY_LEN(argv), argv);
    if (!reply)
        return RC_UNAVAILABLE; /* retried by the consumer until Redis answers */
    freeReplyObject(reply);
    return RC_OK;
}

/* --- queries ------------------------------------------------------------------ */

/* Value of <field> in a HGETALL reply, or NULL. */
static const char *history_redis_field(const redisReply *hash, const char *field)
{
    for (size_t i = 0; hash && i + 1 < hash->elements; i += 2)
        if (!strcmp(hash->element[i]->str, field))
            return hash->element[i + 1]->str;
    return NULL;
}

static json_int_t history_redis_int(const redisReply *hash, const char *field)
{
    const char *v = history_redis_field(hash, field);
    return v ? (json_int_t)strtoll(v, NULL, 10) : 0;
}

/* HGETALL <a><b>; NULL on failure. */
static redisReply *history_redis_hash(struct history_redis *r, const char *a, const char *b)
{
    char key[HISTORY_REDIS_KEY_MAX];
    history_redis_key(r, key, a, b);
    const char *argv[] = {"HGETALL", key};
    return history_redis_cmd(r, 2, argv);
}

/* The summary of <user> (new reference), NULL in <out> when unknown. */
static int history_redis_summary(struct service_ctx *ctx, const char *user, json_t **out)
{
    *out = NULL;
    redisReply *h = history_redis_hash(ctx->ext, "user:", user);
    if (!h)
        return RC_UNAVAILABLE;
    bool known = h->elements > 0;
    if (known)
        *out = hal_with_self(json_pack("{s:s, s:s, s:I}", "userId", user, "status",
                                       history_redis_field(h, "status"), "myPoint",
                                       history_redis_int(h, "myPoint")),
                             "/histories/%s", user);
    freeReplyObject(h);
    return known && !*out ? RC_NOMEM : RC_OK;
}

/* ZCARD <key>, or -1 on failure. */
static long long history_redis_count(struct history_redis *r, const char *key)
{
    const char *argv[] = {"ZCARD", key};
    redisReply *reply = history_redis_cmd(r, 2, argv);
    long long n = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject(reply);
    return n;
}

/* ZRANGE or ZREVRANGE of one page of <key>. */
static redisReply *history_redis_page(struct history_redis *r, const char *key, bool newest_first,
                                      const struct hal_page *page)
{
    char start[24], stop[24];
    snprintf(start, sizeof start, "%lld", (long long)hal_page_offset(page));
    snprintf(stop, sizeof stop, "%lld", (long long)(hal_page_offset(page) + page->size - 1));
    const char *argv[] = {newest_first ? "ZREVRANGE" : "ZRANGE", key, start, stop};
    return history_redis_cmd(r, 4, argv);
}

static int history_redis_summaries(struct service_ctx *ctx, const char *user,
                                   const struct hal_page *page, json_t **out)
{
    struct history_redis *r = ctx->ext;
    json_t *items = json_array();
    long long total = 0;
    int rc = items ? RC_OK : RC_NOMEM;
    if (rc == RC_OK && user) {
        json_t *one = NULL;
        if ((rc = history_redis_summary(ctx, user, &one)) == RC_OK && one && page->number == 0) {
            json_array_append_new(items, one);
            total = 1;
        } else {
            total = one ? 1 : 0;
            json_decref(one);
        }
    } else if (rc == RC_OK) {
        char key[HISTORY_REDIS_KEY_MAX];
        history_redis_key(r, key, "users", NULL);
        redisReply *ids = (total = history_redis_count(r, key)) < 0
                              ? NULL
                              : history_redis_page(r, key, false, page);
        rc = ids ? RC_OK : RC_UNAVAILABLE;
        for (size_t i = 0; ids && rc == RC_OK && i < ids->elements; i++) {
            json_t *one = NULL;
            if ((rc = history_redis_summary(ctx, ids->element[i]->str, &one)) == RC_OK && one)
                json_array_append_new(items, one);
        }
        freeReplyObject(ids);
    }
    if (rc != RC_OK) {
        json_decref(items);
        return rc;
    }
    char query[96];
    snprintf(query, sizeof query, "userId=%s", user ? user : "");
    *out = hal_collection("histories", items, page, total, "/histories", user ? query : NULL);
    return *out ? RC_OK : RC_NOMEM;
}

/* One timeline entry from its hash, its members in the store view's order
 * (history_entry_item), so both views answer alike, member order included. */
static json_t *history_redis_entry(const redisReply *h)
{
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:I, s:I}", "entryId", history_redis_int(h, "entryId"), "kind",
        history_redis_field(h, "kind"), "status", history_redis_field(h, "status"), "occurredAt",
        history_redis_int(h, "occurredAt"), "updatedAt", history_redis_int(h, "updatedAt"));
    static const struct {
        const char *name;
        bool is_int;
    } optional[] = {{"refId", false}, {"webtoonId", false}, {"point", true},
                    {"price", true},  {"reason", false},    {"actor", false}};
    for (size_t i = 0; o && i < ARRAY_LEN(optional); i++) {
        const char *name = optional[i].name;
        if (history_redis_field(h, name))
            json_object_set_new(o, name,
                                optional[i].is_int ? json_integer(history_redis_int(h, name))
                                                   : json_string(history_redis_field(h, name)));
    }
    return o;
}

static int history_redis_timeline(struct service_ctx *ctx, const char *user,
                                  const struct hal_page *page, json_t **out)
{
    struct history_redis *r = ctx->ext;
    char key[HISTORY_REDIS_KEY_MAX], path[128];
    history_redis_key(r, key, "timeline:", user);
    long long total = history_redis_count(r, key);
    redisReply *ids = total < 0 ? NULL : history_redis_page(r, key, true, page);
    json_t *items = json_array();
    int rc = !ids ? RC_UNAVAILABLE : !items ? RC_NOMEM : RC_OK;
    for (size_t i = 0; rc == RC_OK && i < ids->elements; i++) {
        redisReply *h = history_redis_hash(r, "entry:", ids->element[i]->str);
        json_t *entry = h && h->elements ? history_redis_entry(h) : NULL;
        if (!h)
            rc = RC_UNAVAILABLE;
        else if (h->elements && (!entry || json_array_append_new(items, entry) != 0))
            rc = RC_NOMEM;
        freeReplyObject(h);
    }
    freeReplyObject(ids);
    if (rc != RC_OK) {
        json_decref(items);
        return rc;
    }
    snprintf(path, sizeof path, "/histories/%s/timeline", user);
    *out = hal_collection("timeline", items, page, total, path, NULL);
    return *out ? RC_OK : RC_NOMEM;
}

/* Deletes every key of the view, inbox included, a batch at a time. */
static int history_redis_clear(struct service_ctx *ctx)
{
    struct history_redis *r = ctx->ext;
    char pattern[HISTORY_REDIS_KEY_MAX], cursor[32] = "0";
    history_redis_key(r, pattern, "*", NULL);
    do {
        const char *scan[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        redisReply *reply = history_redis_cmd(r, 6, scan);
        if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
            freeReplyObject(reply);
            return RC_UNAVAILABLE;
        }
        snprintf(cursor, sizeof cursor, "%s", reply->element[0]->str);
        const redisReply *keys = reply->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *del[] = {"DEL", keys->element[i]->str};
            redisReply *d = history_redis_cmd(r, 2, del);
            freeReplyObject(d);
            if (!d) {
                freeReplyObject(reply);
                return RC_UNAVAILABLE;
            }
        }
        freeReplyObject(reply);
    } while (strcmp(cursor, "0") != 0);
    return RC_OK;
}

const struct history_view_ops history_redis_view = {
    .apply = history_redis_apply,
    .summaries = history_redis_summaries,
    .summary = history_redis_summary,
    .timeline = history_redis_timeline,
    .clear = history_redis_clear,
};
