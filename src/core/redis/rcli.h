/*
 * A Redis client over hiredis for one server or a Redis Cluster, chosen by
 * the URL:
 *
 *   redis://host[:port][/db]                   one server (port 6379, db 0)
 *   redis+cluster://host:port[,host:port]...   a cluster, reached through any
 *                                              of these nodes (the seeds)
 *
 * On a cluster the client keeps the slot map (CLUSTER SLOTS), sends each
 * command to the primary that owns its key's hash slot, and follows the
 * cluster's redirections: MOVED (the slot has a new owner: remember it and
 * refresh the whole map before the next command) and ASK (the slot is being
 * migrated: ASKING, then the command, on the node named), at most
 * RCLI_REDIRECTS_MAX times per command. Scripts run by their SHA1 (EVALSHA),
 * loaded on a node the first time it answers NOSCRIPT, so the source crosses
 * the network once per node rather than once per call.
 *
 * Connections open on first use and a broken one is dropped (and the map
 * marked stale), so a server restarting or a failover costs failed calls,
 * never a restart of ours. One client per thread: it is not thread-safe.
 */
#ifndef WEBTOON_REDIS_RCLI_H
#define WEBTOON_REDIS_RCLI_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#define RCLI_SLOTS 16384
#define RCLI_REDIRECTS_MAX 5 /* per command, as redis-cli and hiredis-cluster */
#define RCLI_TIMEOUT_MS 2000 /* connecting and each reply */

struct rcli;

/* A Lua script run with EVALSHA; rcli_script_init fills <sha1>. */
struct rcli_script {
    const char *source; /* borrowed, lives as long as the struct */
    char sha1[41];      /* hex digest of <source> */
};

/* The script <source> (borrowed) ready for rcli_eval. */
void rcli_script_init(struct rcli_script *s, const char *source);

/* A new client for <url> (free with rcli_free); it connects on first use.
 * RC_CONFIG when <url> is not one of the forms above, RC_NOMEM. */
int rcli_new(const char *url, struct rcli **out /* OUT */);
void rcli_free(struct rcli *c);

/* True when <c> talks to a Redis Cluster. */
bool rcli_is_cluster(const struct rcli *c);

/*
 * Runs the command <argv> (<argc> NUL-terminated arguments) on the node that
 * holds <key>. Returns the reply (new: freeReplyObject), or NULL when no
 * node could answer or the answer was an error reply, the connection
 * then being made again on the next call.
 */
redisReply *rcli_command(struct rcli *c, const char *key, int argc, const char **argv);

/*
 * Runs <script> with <keys> (KEYS, 1..16, all in one hash slot: a caller's
 * invariant) and <args> (ARGV) on the node holding them. Same reply and
 * failure as rcli_command.
 */
redisReply *rcli_eval(struct rcli *c, struct rcli_script *script, int nkeys, const char **keys,
                      int nargs, const char **args);

/* Called with each key rcli_scan finds; a code other than RC_OK stops the scan. */
typedef int (*rcli_key_cb)(void *arg, const char *key);

/* Calls <cb> for every key matching <pattern> (SCAN MATCH) on every primary
 * (a key may come twice). RC_UNAVAILABLE when a node cannot be read, or
 * <cb>'s code. <cb> may run commands on <c>. */
int rcli_scan(struct rcli *c, const char *pattern, rcli_key_cb cb, void *arg);

/* True when the server, or every primary of the cluster, answers PING and,
 * on a cluster, the map covers every slot. */
bool rcli_ping(struct rcli *c);

/* The hash slot of the <len> bytes at <key>: CRC16 (XMODEM) of the key, or
 * of the part between its first '{' and the next '}' when that part is not
 * empty (a hash tag), modulo 16384. */
unsigned rcli_key_slot(const char *key, size_t len);

/* A redirection in the error reply <err>: "MOVED <slot> <host>:<port>" or
 * "ASK <slot> <host>:<port>" (an empty host: the node that answered).
 * RC_OK and the parts, or RC_INVALID when <err> is no redirection. */
struct rcli_redirect {
    bool ask;       /* ASK (this command only), not MOVED */
    unsigned slot;  /* < RCLI_SLOTS */
    char host[256]; /* "" when the reply named none */
    int port;       /* 1..65535 */
};
int rcli_parse_redirect(const char *err, struct rcli_redirect *out /* OUT */);

#endif
