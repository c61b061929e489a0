/*
 * The history view in Redis, shared by every history replica, so that
 * several of them consuming one group's partitions build one view; on one
 * server or on a Redis Cluster (rcli.h: the URL says which).
 *
 * Applying an event is one Lua script, loaded once per node (EVALSHA): it
 * records the event id (with the inbox retention as its time to live) and
 * changes the summary and the timeline, all or nothing. A redelivered event
 * finds its id and changes nothing, whichever replica receives it; once its
 * id has expired, the offsets kept in the summary and each entry still make
 * it change nothing (a user's events share a partition, so offsets order
 * them), and an entry in a final status never changes again.
 *
 * Keys, under P = WEBTOON_REDIS_PREFIX + "history:". Everything of one user
 * carries the hash tag {<user>} (with '{', '}' and '%' of the id, and of the
 * prefix, escaped as %7B, %7D, %25, so that the tag is the only one), so one
 * user's keys share one hash slot and the script, which names every key it
 * touches in KEYS, runs on one cluster node:
 *   P{<u>}:user                 hash: status, myPoint, updatedAt, offset
 *   P{<u>}:timeline             sorted set of the user's entries (member: the
 *                               entry's name below, score: its entry id)
 *   P{<u>}:seq                  the user's last entry id: entry ids count
 *                               each user's entries, newest highest
 *   P{<u>}:entry:<kind>:<ref>   hash: the entry of a payment or purchase
 *   P{<u>}:entry:event:<id>     hash: the entry one event made (a read, a join)
 *   P{<u>}:inbox:<event id>     handled event ids
 * The one key no user owns is P"users", the sorted set of user ids (score
 * 0: ordered by id) that lists the summaries. Adding a user to it is its
 * own call, after the script and outside it, so no call spans two slots:
 * ZADD is idempotent, and the script says when it is needed (the summary is
 * new, or the event came before and its ZADD may have failed); apply
 * reports success only once both are done, so a failure in between is
 * retried with the event. A user's summary may thus exist a moment before
 * the list shows it. The view keeps no other global key (no counter across
 * users, no rebuild marker: a rebuild runs with the service stopped).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/redis/rcli.h"
#include "svc/history/history.h"

#define HISTORY_REDIS_KEY_MAX 768 /* prefix + escaped user id + entry name */

struct history_redis {
    struct rcli *cli;
    struct rcli_script apply; /* history_redis_apply_source */
    char prefix[320];         /* "<WEBTOON_REDIS_PREFIX>history:", escaped */
    int64_t inbox_ttl_ms;
};

/*
 * The apply script's KEYS and ARGV by name: each list makes the fields of a
 * struct, the order in which apply passes them, and the Lua locals the
 * script reads them into ("local _, a, b = nil, unpack(KEYS)": the leading
 * `_` lets the list be written as ", a, b"), so C and Lua agree by
 * construction. Empty strings stand for absent values.
 */
#define HISTORY_APPLY_KEYS(X)                                                                      \
    X(inbox_key)    /* P{u}:inbox:<event id> */                                                    \
    X(user_key)     /* P{u}:user */                                                                \
    X(timeline_key) /* P{u}:timeline */                                                            \
    X(seq_key)      /* P{u}:seq */                                                                 \
    X(entry_key)    /* P{u}:entry:<entry>; unused without an entry kind */
#define HISTORY_APPLY_ARGS(X)                                                                      \
    X(ttl_ms)       /* how long the event id is kept, ms */                                        \
    X(user)         /* the user id */                                                              \
    X(user_status)  /* the summary's new status, or "" */                                          \
    X(balance)      /* the summary's new myPoint, or "" */                                         \
    X(kind)         /* the timeline entry's kind, or "": no entry */                               \
    X(entry)        /* the entry's name: "<kind>:<ref>" or "event:<event id>" */                   \
    X(status)       /* the entry's status after the event */                                       \
    X(ref)          /* the payment or purchase id, or "" */                                        \
    X(webtoon)      /* or "" */                                                                    \
    X(point)        /* or "" */                                                                    \
    X(price)        /* or "" */                                                                    \
    X(reason)       /* or "" */                                                                    \
    X(actor)        /* or "" */                                                                    \
    X(at)           /* the event's time, ms since the epoch */                                     \
    X(event_offset) /* the event's offset in its partition */

#define HISTORY_FIELD(name) const char *name;
#define HISTORY_LUA_NAME(name) ", " #name
#define HISTORY_KEY(name) k.name,
#define HISTORY_ARG(name) a.name,
struct history_apply_keys {
    HISTORY_APPLY_KEYS(HISTORY_FIELD)
};
struct history_apply_args {
    HISTORY_APPLY_ARGS(HISTORY_FIELD)
};

/* Returns 0: the event came before; 1: applied; 2: applied, and it made the
 * user's summary (the caller then lists the user). */
static const char history_redis_apply_source[] = "local _" HISTORY_APPLY_KEYS(
    HISTORY_LUA_NAME) " = nil, unpack(KEYS)\n"
                      "local _" HISTORY_APPLY_ARGS(
                          HISTORY_LUA_NAME) " = nil, unpack(ARGV)\n"
                                            "if not redis.call('SET', inbox_key, '1', 'NX', 'PX', "
                                            "ttl_ms) then return 0 end\n"
                                            "local result = 1\n"
                                            "local offset = tonumber(event_offset)\n"
                                            "if user_status ~= '' or balance ~= '' then\n"
                                            "  if redis.call('HSETNX', user_key, 'status', "
                                            "'joined') == 1 then result = 2 end\n"
                                            "  redis.call('HSETNX', user_key, 'myPoint', '0')\n"
                                            "  if offset > tonumber(redis.call('HGET', user_key, "
                                            "'offset') or '-1') then\n"
                                            "    if user_status ~= '' then redis.call('HSET', "
                                            "user_key, 'status', user_status) end\n"
                                            "    if balance ~= '' then redis.call('HSET', "
                                            "user_key, 'myPoint', balance) end\n"
                                            "    redis.call('HSET', user_key, 'updatedAt', at, "
                                            "'offset', event_offset)\n"
                                            "  end\n"
                                            "end\n"
                                            "if kind == '' then return result end\n"
                                            "local e = redis.call('HMGET', entry_key, 'status', "
                                            "'offset')\n"
                                            "if e[1] then\n"
                                            "  local final = {rejected = true, cancelled = true, "
                                            "refunded = true, declined = true}\n"
                                            "  if final[e[1]] or tonumber(e[2] or '-1') >= offset "
                                            "then return result end\n"
                                            "  redis.call('HSET', entry_key, 'status', status, "
                                            "'updatedAt', at, 'offset', event_offset)\n"
                                            "else\n"
                                            "  local id = redis.call('INCR', seq_key)\n"
                                            "  redis.call('HSET', entry_key, 'entryId', id, "
                                            "'userId', user, 'kind', kind, 'status',\n"
                                            "             status, 'occurredAt', at, 'updatedAt', "
                                            "at, 'offset', event_offset)\n"
                                            "  redis.call('ZADD', timeline_key, id, entry)\n"
                                            "  if ref ~= '' then redis.call('HSET', entry_key, "
                                            "'refId', ref) end\n"
                                            "end\n"
                                            "if reason ~= '' then redis.call('HSET', entry_key, "
                                            "'reason', reason)\n"
                                            "else redis.call('HDEL', entry_key, 'reason') end\n"
                                            "if actor ~= '' then redis.call('HSET', entry_key, "
                                            "'actor', actor)\n"
                                            "else redis.call('HDEL', entry_key, 'actor') end\n"
                                            "if webtoon ~= '' then redis.call('HSETNX', entry_key, "
                                            "'webtoonId', webtoon) end\n"
                                            "if point ~= '' then redis.call('HSETNX', entry_key, "
                                            "'point', point) end\n"
                                            "if price ~= '' then redis.call('HSETNX', entry_key, "
                                            "'price', price) end\n"
                                            "return result\n";

/* --- keys ------------------------------------------------------------------------ */

/* Copies <in> into <out> (of <size>) with '{', '}' and '%' as %7B, %7D and
 * %25, so that the only braces in a key are the hash tag's; false when it
 * does not fit. */
static bool history_redis_escape(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (n + 4 > size)
            return false;
        if (*p == '{' || *p == '}' || *p == '%')
            n += (size_t)snprintf(out + n, size - n, "%%%02X", (unsigned char)*p);
        else
            out[n++] = *p;
    }
    out[n] = '\0';
    return true;
}

/* Writes P{<user>}:<what><name> into <out> (HISTORY_REDIS_KEY_MAX bytes),
 * <name> may be NULL; false when it does not fit. */
static bool history_redis_user_key(const struct history_redis *r, char *out, const char *user,
                                   const char *what, const char *name)
{
    char tag[3 * DOMAIN_ID_MAX + 1];
    if (!history_redis_escape(user, tag, sizeof tag))
        return false;
    int len =
        snprintf(out, HISTORY_REDIS_KEY_MAX, "%s{%s}:%s%s", r->prefix, tag, what, name ? name : "");
    return len > 0 && len < HISTORY_REDIS_KEY_MAX;
}

/* P"users" into <out>. */
static void history_redis_users_key(const struct history_redis *r, char *out)
{
    snprintf(out, HISTORY_REDIS_KEY_MAX, "%susers", r->prefix);
}

/* --- connection ------------------------------------------------------------ */

int history_redis_open(struct service_ctx *ctx)
{
    const char *url = config_str(ctx->cfg, CONFIG_HISTORY_REDIS_URL);
    ctx->ext = NULL;
    if (!*url)
        return RC_OK; /* the view lives in the store */
    struct history_redis *r = mem_calloc(1, sizeof *r);
    if (!r)
        return RC_NOMEM;
    int rc = rcli_new(url, &r->cli); /* connects on first use: Redis may come up after us */
    if (rc != RC_OK) {
        mem_free(r);
        return rc;
    }
    rcli_script_init(&r->apply, history_redis_apply_source);
    /* WEBTOON_REDIS_PREFIX has at most 100 bytes: escaped, it fits */
    BUG_ON(!history_redis_escape(config_str(ctx->cfg, CONFIG_REDIS_PREFIX), r->prefix,
                                 sizeof r->prefix - 8));
    size_t n = strlen(r->prefix);
    snprintf(r->prefix + n, sizeof r->prefix - n, "history:");
    r->inbox_ttl_ms = config_int(ctx->cfg, CONFIG_INBOX_RETENTION_MS);
    ctx->ext = r;
    return RC_OK;
}

void history_redis_close(struct service_ctx *ctx)
{
    struct history_redis *r = ctx->ext;
    if (!r)
        return;
    rcli_free(r->cli);
    mem_free(r);
    ctx->ext = NULL;
}

bool history_redis_is_ready(struct service_ctx *ctx)
{
    struct history_redis *r = ctx->ext;
    return !r || rcli_ping(r->cli);
}

/* --- applying events ----------------------------------------------------------- */

/* Adds <user> to the list of summaries. */
static int history_redis_list_user(struct history_redis *r, const char *user)
{
    char key[HISTORY_REDIS_KEY_MAX];
    history_redis_users_key(r, key);
    const char *argv[] = {"ZADD", key, "0", user};
    redisReply *reply = rcli_command(r->cli, key, (int)ARRAY_LEN(argv), argv);
    freeReplyObject(reply);
    return reply ? RC_OK : RC_UNAVAILABLE;
}

static int history_redis_apply(struct service_ctx *ctx, struct store *st,
                               const struct history_change *c, const struct bus_event *ev,
                               const struct history_fields *f)
{
    (void)st; /* the inbox transaction commits nothing of ours: Redis dedupes */
    struct history_redis *r = ctx->ext;
    char inbox[HISTORY_REDIS_KEY_MAX], user[HISTORY_REDIS_KEY_MAX], timeline[HISTORY_REDIS_KEY_MAX],
        seq[HISTORY_REDIS_KEY_MAX], entry_key[HISTORY_REDIS_KEY_MAX];
    char entry[160];
    /* An entry without a business id is the one its event made. */
    int len = snprintf(entry, sizeof entry, "%s:%s", f->ref ? c->kind : "event",
                       f->ref ? f->ref : ev->id);
    if (len < 0 || len >= (int)sizeof entry ||
        !history_redis_user_key(r, inbox, f->user, "inbox:", ev->id) ||
        !history_redis_user_key(r, user, f->user, "user", NULL) ||
        !history_redis_user_key(r, timeline, f->user, "timeline", NULL) ||
        !history_redis_user_key(r, seq, f->user, "seq", NULL) ||
        !history_redis_user_key(r, entry_key, f->user, "entry:", entry))
        return RC_BAD_EVENT;

    char ttl[24], balance[24] = "", point[24] = "", price[24] = "", at[24], offset[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)r->inbox_ttl_ms);
    if (f->has_balance)
        snprintf(balance, sizeof balance, "%lld", (long long)f->balance);
    if (f->has_point && c->kind && strcmp(c->kind, "account") != 0)
        snprintf(point, sizeof point, "%lld", (long long)f->point);
    if (f->has_price)
        snprintf(price, sizeof price, "%lld", (long long)f->price);
    snprintf(at, sizeof at, "%lld", (long long)ev->timestamp_ms);
    snprintf(offset, sizeof offset, "%lld", (long long)ev->offset);
    const struct history_apply_keys k = {
        .inbox_key = inbox,
        .user_key = user,
        .timeline_key = timeline,
        .seq_key = seq,
        .entry_key = entry_key,
    };
    const struct history_apply_args a = {
        .ttl_ms = ttl,
        .user = f->user,
        .user_status = c->user_status ? c->user_status : "",
        .balance = balance,
        .kind = c->kind ? c->kind : "",
        .entry = entry,
        .status = c->status ? c->status : "",
        .ref = f->ref ? f->ref : "",
        .webtoon = f->webtoon ? f->webtoon : "",
        .point = point,
        .price = price,
        .reason = f->reason ? f->reason : "",
        .actor = f->actor ? f->actor : "",
        .at = at,
        .event_offset = offset,
    };
    const char *keys[] = {HISTORY_APPLY_KEYS(HISTORY_KEY)};
    const char *args[] = {HISTORY_APPLY_ARGS(HISTORY_ARG)};
    redisReply *reply =
        rcli_eval(r->cli, &r->apply, (int)ARRAY_LEN(keys), keys, (int)ARRAY_LEN(args), args);
    if (!reply)
        return RC_UNAVAILABLE; /* retried by the consumer until Redis answers */
    long long result = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject(reply);
    bool summarised = c->user_status || f->has_balance;
    if (result == 2 || (result == 0 && summarised))
        return history_redis_list_user(r, f->user);
    return result < 0 ? RC_UNAVAILABLE : RC_OK;
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

/* HGETALL <key>; NULL on failure. */
static redisReply *history_redis_hash(struct history_redis *r, const char *key)
{
    const char *argv[] = {"HGETALL", key};
    return rcli_command(r->cli, key, 2, argv);
}

/* The summary of <user> (new reference), NULL in <out> when unknown. */
static int history_redis_summary(struct service_ctx *ctx, const char *user, json_t **out)
{
    struct history_redis *r = ctx->ext;
    char key[HISTORY_REDIS_KEY_MAX];
    *out = NULL;
    if (!history_redis_user_key(r, key, user, "user", NULL))
        return RC_OK; /* too long to be anyone's */
    redisReply *h = history_redis_hash(r, key);
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
    redisReply *reply = rcli_command(r->cli, key, 2, argv);
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
    return rcli_command(r->cli, key, 4, argv);
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
        history_redis_users_key(r, key);
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
    *out = hal_collection("histories", items, page, total, "/histories",
                          domain_listing_query(user, query, sizeof query));
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
    char key[HISTORY_REDIS_KEY_MAX], entry_key[HISTORY_REDIS_KEY_MAX], path[128];
    if (!history_redis_user_key(r, key, user, "timeline", NULL))
        return RC_INVALID; /* the API takes only ids that fit */
    long long total = history_redis_count(r, key);
    redisReply *names = total < 0 ? NULL : history_redis_page(r, key, true, page);
    json_t *items = json_array();
    int rc = !names ? RC_UNAVAILABLE : !items ? RC_NOMEM : RC_OK;
    for (size_t i = 0; rc == RC_OK && i < names->elements; i++) {
        redisReply *h = history_redis_user_key(r, entry_key, user, "entry:", names->element[i]->str)
                            ? history_redis_hash(r, entry_key)
                            : NULL;
        json_t *entry = h && h->elements ? history_redis_entry(h) : NULL;
        if (!h)
            rc = RC_UNAVAILABLE;
        else if (h->elements && (!entry || json_array_append_new(items, entry) != 0))
            rc = RC_NOMEM;
        freeReplyObject(h);
    }
    freeReplyObject(names);
    if (rc != RC_OK) {
        json_decref(items);
        return rc;
    }
    snprintf(path, sizeof path, "/histories/%s/timeline", user);
    *out = hal_collection("timeline", items, page, total, path, NULL);
    return *out ? RC_OK : RC_NOMEM;
}

static int history_redis_delete(void *arg, const char *key)
{
    struct history_redis *r = arg;
    const char *argv[] = {"DEL", key};
    redisReply *reply = rcli_command(r->cli, key, 2, argv);
    freeReplyObject(reply);
    return reply ? RC_OK : RC_UNAVAILABLE;
}

/* Deletes every key of the view, inbox included, on every node. */
static int history_redis_clear(struct service_ctx *ctx)
{
    struct history_redis *r = ctx->ext;
    char pattern[2 * sizeof r->prefix + 1];
    size_t n = 0;
    for (const char *p = r->prefix; *p; p++) { /* the prefix matches only itself */
        if (strchr("*?[]\\", *p))
            pattern[n++] = '\\';
        pattern[n++] = *p;
    }
    pattern[n++] = '*';
    pattern[n] = '\0';
    return rcli_scan(r->cli, pattern, history_redis_delete, r);
}

const struct history_view_ops history_redis_view = {
    .apply = history_redis_apply,
    .summaries = history_redis_summaries,
    .summary = history_redis_summary,
    .timeline = history_redis_timeline,
    .clear = history_redis_clear,
};
