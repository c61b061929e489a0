/*
 * Apache Kafka backend of the event bus, on librdkafka. One topic carries
 * every domain event: the message key is the event key (the userId), so one
 * user's events share a partition and keep their order; header `type` is
 * the event type, header `id` the event id and header `traceparent` (when
 * there is one) the W3C trace context of the span that published it; the
 * value is the JSON payload as it is, so a plain console consumer (kcat)
 * reads the stream.
 *
 * Publishing uses an idempotent producer (acks=all) and returns only once
 * every message of the call has been acknowledged: delivery reports are
 * counted per call, and reports of an older, timed-out call are ignored.
 * The topic is created on first use with the configured partition count,
 * through the admin API (brokers should not auto-create it).
 *
 * Consuming: with a group, the handle joins the Kafka consumer group (one
 * per service), which spreads the partitions over its members; offsets are
 * never committed automatically, only by bus_commit, and only for
 * partitions this member still owns (a revocation drops them: the new
 * owner redelivers from the last commit and the inbox absorbs it). Without
 * a group the handle assigns itself every partition from the beginning or
 * the end. A poll waits in short slices so that bus_interrupt, which only
 * sets a flag (safe in a signal handler), wakes it within one slice; a poll
 * with timeout 0 returns nothing only once the consumer has reached the end
 * of every partition it owns, as the embedded log does.
 *
 * Offsets of a group are read (lag) and rewound from outside it through a
 * consumer handle that never joins: a rewind is a plain offset commit,
 * which the broker refuses while the group has members, so it cannot race
 * a live consumer.
 *
 * Broker failures are retried by librdkafka; while they last, calls return
 * RC_BUS with the broker's message in bus_error and succeed again once the
 * broker is back.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/id.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/bus/bus.h"
#include "core/log/log.h"

#define BUS_KAFKA_BATCH 256                /* events returned per poll at most */
#define BUS_KAFKA_SLICE_MS 100             /* longest wait before looking at the interrupt flag */
#define BUS_KAFKA_CATCHUP_MS 15000         /* longest wait of a 0-timeout poll for the end */
#define BUS_KAFKA_REQUEST_MS 5000          /* metadata, admin and offset requests */
#define BUS_KAFKA_LAG_MS 1000              /* offset requests of the lag gauge (every second) */
#define BUS_KAFKA_COORDINATOR_RETRY_MS 100 /* between asks while a group's coordinator moves */
#define BUS_KAFKA_DELIVERY_MS "15000"      /* message.timeout.ms: give up on one publish */
#define BUS_KAFKA_FLUSH_MS 20000           /* publish waits this long for delivery reports */
#define BUS_KAFKA_DEFAULT_PARTITIONS 6
#define BUS_KAFKA_GROUP_MAX 64

struct bus_kafka {
    struct bus base;
    char *brokers;
    char *topic;
    int want_partitions;      /* partitions when we create the topic */
    int partitions;           /* of the topic; 0 until known */
    rd_kafka_t *rk;           /* producer; also metadata and admin requests */
    rd_kafka_topic_t *rkt;    /* the topic on rk, for metadata requests */
    uintptr_t publish_gen;    /* current publish call; older reports are ignored */
    size_t delivered;         /* messages of the current call acknowledged */
    rd_kafka_resp_err_t nack; /* first delivery failure of the current call */
    /* consumer side */
    rd_kafka_t *consumer;
    char *group; /* NULL: no group, nothing committed */
    enum bus_start start;
    bool subscribed;    /* bus_subscribe called */
    bool started;       /* subscribed or assigned at the broker (done lazily by poll) */
    bool assigned_once; /* an assignment arrived (always true without a group) */
    atomic_bool interrupted;
    rd_kafka_topic_partition_list_t *pending; /* next offset to commit, per partition */
    struct bus_event batch[BUS_KAFKA_BATCH];
    char *batch_text[BUS_KAFKA_BATCH]; /* one allocation per event holding its strings */
    size_t batch_len;
};

/* Records <what> and librdkafka's <err> for bus_error; returns RC_BUS. */
static int bus_kafka_fail(struct bus_kafka *b, const char *what, rd_kafka_resp_err_t err)
{
    snprintf(b->base.errmsg, sizeof b->base.errmsg, "kafka: %s: %s", what, rd_kafka_err2str(err));
    return RC_BUS;
}

/* librdkafka's own diagnostics go to our log at debug level: what matters
 * reaches the caller as a result code and bus_error. Called from
 * librdkafka's threads; log_write is thread-safe. */
static void bus_kafka_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 4 && log_is_enabled(LOG_DEBUG))
        log_write(LOG_DEBUG, NULL, json_pack("{s:s}", "facility", fac), "librdkafka: %s", buf);
}

/* Errors librdkafka reports while retrying (broker down...). Served by
 * the owner thread's poll/flush, so writing errmsg is safe. */
static void bus_kafka_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct bus_kafka *b = opaque;
    snprintf(b->base.errmsg, sizeof b->base.errmsg, "kafka: %s (%s)", reason,
             rd_kafka_err2name((rd_kafka_resp_err_t)err));
}

/* Delivery report of one message, served by rd_kafka_flush in publish. */
static void bus_kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct bus_kafka *b = opaque;
    if ((uintptr_t)m->_private != b->publish_gen)
        return; /* from a publish that already gave up */
    if (m->err) {
        if (!b->nack)
            b->nack = m->err;
    } else {
        b->delivered++;
    }
}

/* New configuration with what producer and consumer share, or NULL. */
static rd_kafka_conf_t *bus_kafka_conf(struct bus_kafka *b, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const common[][2] = {
        {"client.id", "webtoon"},
        {"allow.auto.create.topics", "false"}, /* we create it, with our partitions */
        {"reconnect.backoff.ms", "50"},
        {"reconnect.backoff.max.ms", "1000"}, /* back soon after a broker restart */
        {"topic.metadata.refresh.interval.ms", "10000"},
    };
    if (rd_kafka_conf_set(conf, "bootstrap.servers", b->brokers, err, errlen) != RD_KAFKA_CONF_OK)
        goto fail;
    for (size_t i = 0; i < ARRAY_LEN(common); i++)
        if (rd_kafka_conf_set(conf, common[i][0], common[i][1], err, errlen) != RD_KAFKA_CONF_OK)
            goto fail;
    rd_kafka_conf_set_opaque(conf, b);
    rd_kafka_conf_set_log_cb(conf, bus_kafka_on_log);
    rd_kafka_conf_set_error_cb(conf, bus_kafka_on_error);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Creates the producer handle (b->rk, b->rkt). */
static int bus_kafka_new_producer(struct bus_kafka *b, char *err, size_t errlen)
{
    static const char *const producer[][2] = {
        {"enable.idempotence", "true"}, /* implies acks=all, ordered retries */
        {"acks", "all"},
        {"message.timeout.ms", BUS_KAFKA_DELIVERY_MS},
        {"linger.ms", "1"},
        {"partitioner", "murmur2_random"}, /* the Java client's: same key, same partition */
    };
    rd_kafka_conf_t *conf = bus_kafka_conf(b, err, errlen);
    if (!conf)
        return RC_BUS;
    for (size_t i = 0; i < ARRAY_LEN(producer); i++) {
        if (rd_kafka_conf_set(conf, producer[i][0], producer[i][1], err, errlen) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return RC_BUS;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, bus_kafka_on_delivery);
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen); /* takes conf on success */
    if (!b->rk) {
        rd_kafka_conf_destroy(conf);
        return RC_BUS;
    }
    b->rkt = rd_kafka_topic_new(b->rk, b->topic, NULL);
    if (!b->rkt) {
        snprintf(err, errlen, "kafka: topic %s: %s", b->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return RC_BUS;
    }
    return RC_OK;
}

static void bus_kafka_free_producer(struct bus_kafka *b)
{
    if (b->rkt)
        rd_kafka_topic_destroy(b->rkt);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    b->rkt = NULL;
    b->rk = NULL;
}

static void bus_kafka_free_batch(struct bus_kafka *b)
{
    for (size_t i = 0; i < b->batch_len; i++)
        MEM_FREE_NULL(b->batch_text[i]);
    b->batch_len = 0;
}

static void bus_kafka_close(struct bus *base)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    bus_kafka_free_batch(b);
    if (b->consumer) {
        /* Leaves the group at once, so its partitions move on without
         * waiting for the session timeout. Commits nothing. */
        rd_kafka_consumer_close(b->consumer);
        rd_kafka_destroy(b->consumer);
    }
    if (b->pending)
        rd_kafka_topic_partition_list_destroy(b->pending);
    bus_kafka_free_producer(b);
    mem_free(b->brokers);
    mem_free(b->topic);
    mem_free(b->group);
    mem_free(b);
}

static int bus_kafka_open(const struct bus_options *opts, struct bus **out, char *err,
                          size_t errlen)
{
    struct bus_kafka *b = mem_calloc(1, sizeof *b);
    if (!b)
        return RC_NOMEM;
    b->base.ops = &bus_kafka_ops;
    b->want_partitions = opts->partitions > 0 ? opts->partitions : BUS_KAFKA_DEFAULT_PARTITIONS;
    atomic_init(&b->interrupted, false);
    b->brokers = mem_strdup(opts->kafka_brokers);
    b->topic = mem_strdup(opts->topic);
    int rc = RC_NOMEM;
    if (!b->brokers || !b->topic)
        goto out;
    /* The handle connects lazily: a broker that is down now fails the
     * first request, not the open, so a service starts and turns ready
     * once Kafka is there. */
    rc = bus_kafka_new_producer(b, err, errlen);
out:
    if (rc != RC_OK)
        bus_kafka_close(&b->base);
    else
        *out = &b->base;
    return rc;
}

/* --- the topic and its offsets ----------------------------------------------------- */

/* Waits for the result of the admin request issued on <q>: the event of
 * <type>, returned in <out> (free with rd_kafka_event_destroy). */
static int bus_kafka_admin_wait(struct bus_kafka *b, rd_kafka_queue_t *q,
                                rd_kafka_event_type_t type, const char *what,
                                rd_kafka_event_t **out)
{
    *out = NULL;
    int64_t deadline = clock_mono_ms() + BUS_KAFKA_REQUEST_MS + 1000;
    while (clock_mono_ms() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, BUS_KAFKA_SLICE_MS);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) != type) {
            rd_kafka_event_destroy(ev);
            continue;
        }
        if (rd_kafka_event_error(ev)) {
            snprintf(b->base.errmsg, sizeof b->base.errmsg, "kafka: %s: %s", what,
                     rd_kafka_event_error_string(ev));
            rd_kafka_event_destroy(ev);
            return RC_BUS;
        }
        *out = ev;
        return RC_OK;
    }
    return bus_kafka_fail(b, what, RD_KAFKA_RESP_ERR__TIMED_OUT);
}

/* Admin options with our request timeout, or NULL (defaults apply). */
static rd_kafka_AdminOptions_t *bus_kafka_admin_options(struct bus_kafka *b, rd_kafka_admin_op_t op)
{
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(b->rk, op);
    char ignored[128];
    if (o)
        rd_kafka_AdminOptions_set_request_timeout(o, BUS_KAFKA_REQUEST_MS, ignored, sizeof ignored);
    return o;
}

/* Partition count of the topic from the brokers' metadata: 0 when the
 * topic does not exist. */
static int bus_kafka_partition_count(struct bus_kafka *b, int *count)
{
    *count = 0;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(b->rk, 0, b->rkt, &md, BUS_KAFKA_REQUEST_MS);
    if (err)
        return bus_kafka_fail(b, "metadata", err);
    if (md->topic_cnt == 1 && !md->topics[0].err)
        *count = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return RC_OK;
}

static int bus_kafka_create_topic(struct bus_kafka *b)
{
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
        b->topic, b->want_partitions, -1 /* the broker's default */, errstr, sizeof errstr);
    if (!nt) {
        snprintf(b->base.errmsg, sizeof b->base.errmsg, "kafka: topic %s: %.160s", b->topic,
                 errstr);
        return RC_BUS;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(b->rk);
    rd_kafka_AdminOptions_t *o = bus_kafka_admin_options(b, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(b->rk, &nt, 1, o, q);
    rd_kafka_event_t *ev;
    int rc = bus_kafka_admin_wait(b, q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "create topic", &ev);
    if (rc == RC_OK) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
            if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) /* a peer was first */
                rc = bus_kafka_fail(b, "create topic", err);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* Makes sure the topic exists and learns its partition count. */
static int bus_kafka_ensure_topic(struct bus_kafka *b)
{
    if (b->partitions > 0)
        return RC_OK;
    int count = 0, rc = bus_kafka_partition_count(b, &count);
    if (rc == RC_OK && count == 0)
        rc = bus_kafka_create_topic(b);
    /* A new topic takes a moment to appear in every broker's metadata. */
    int64_t deadline = clock_mono_ms() + BUS_KAFKA_REQUEST_MS;
    while (rc == RC_OK && count == 0) {
        if ((rc = bus_kafka_partition_count(b, &count)) != RC_OK || count > 0)
            break;
        if (clock_mono_ms() >= deadline)
            return bus_kafka_fail(b, "topic not visible after creation",
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
        clock_sleep_ms(50);
    }
    if (rc == RC_OK)
        b->partitions = count;
    return rc;
}

/* New list of every partition of the topic, offsets unset, or NULL. */
static rd_kafka_topic_partition_list_t *bus_kafka_all_partitions(struct bus_kafka *b)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(b->partitions);
    for (int p = 0; l && p < b->partitions; p++)
        rd_kafka_topic_partition_list_add(l, b->topic, p);
    return l;
}

/* New consumer handle in <group> that never joins it: for reading and
 * writing the group's offsets from outside. NULL with the reason in
 * bus_error. Free with rd_kafka_destroy. */
static rd_kafka_t *bus_kafka_group_handle(struct bus_kafka *b, const char *group)
{
    char err[256];
    rd_kafka_conf_t *conf = bus_kafka_conf(b, err, sizeof err);
    rd_kafka_t *rk = NULL;
    if (conf && rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) == RD_KAFKA_CONF_OK &&
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) == RD_KAFKA_CONF_OK)
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err); /* takes conf */
    if (!rk) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        snprintf(b->base.errmsg, sizeof b->base.errmsg, "kafka: consumer: %.200s", err);
    }
    return rk;
}

/* Fills the offsets of <parts> with <group>'s committed offsets
 * (RD_KAFKA_OFFSET_INVALID where it committed nothing), through this
 * handle's consumer when it belongs to <group>. (Not the admin API: Debian's
 * librdkafka 2.0.2 can trip an assertion when admin requests to a group
 * coordinator time out while the broker is away.) */
static int bus_kafka_committed(struct bus_kafka *b, const char *group,
                               rd_kafka_topic_partition_list_t *parts, int timeout_ms)
{
    bool own = b->consumer && b->group && !strcmp(b->group, group);
    rd_kafka_t *rk = own ? b->consumer : bus_kafka_group_handle(b, group);
    if (!rk)
        return RC_BUS;
    /* Right after a broker restart the group's coordinator may still be
     * loading or moving: the answer then says so at once, and asking again
     * within the time given is what a Kafka client is meant to do. */
    int64_t deadline = clock_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t err;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        err = rd_kafka_committed(rk, parts, left > 0 ? (int)left : 0);
        bool moving = err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
                      err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                      err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE;
        if (!moving || clock_mono_ms() + BUS_KAFKA_COORDINATOR_RETRY_MS >= deadline)
            break;
        clock_sleep_ms(BUS_KAFKA_COORDINATOR_RETRY_MS);
    }
    if (!own)
        rd_kafka_destroy(rk);
    return err ? bus_kafka_fail(b, "committed offsets", err) : RC_OK;
}

/* Low and high watermarks of partition <p>, asked of its leader within
 * <timeout_ms>. */
static int bus_kafka_watermarks(struct bus_kafka *b, int32_t p, int64_t *lo, int64_t *hi,
                                int timeout_ms)
{
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(b->rk, b->topic, p, lo, hi, timeout_ms);
    return err ? bus_kafka_fail(b, "watermarks", err) : RC_OK;
}

/* Sum over <parts> of the events from each offset (invalid: the low
 * watermark, where a new group starts) to the end. */
static int bus_kafka_lag_from(struct bus_kafka *b, const rd_kafka_topic_partition_list_t *parts,
                              int timeout_ms, int64_t *out)
{
    *out = 0;
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        int rc = bus_kafka_watermarks(b, parts->elems[i].partition, &lo, &hi, timeout_ms);
        if (rc != RC_OK)
            return rc;
        int64_t from = parts->elems[i].offset < lo ? lo : parts->elems[i].offset;
        *out += hi > from ? hi - from : 0;
    }
    return RC_OK;
}

/* --- publishing ------------------------------------------------------------------- */

static int bus_kafka_publish(struct bus *base, const struct bus_event *events, size_t n)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    char fatal[256];
    if (rd_kafka_fatal_error(b->rk, fatal, sizeof fatal)) {
        /* An idempotent producer that lost its sequence cannot go on:
         * start a new one (the relay republishes; the inbox dedupes). */
        char err[256];
        bus_kafka_free_producer(b);
        if (bus_kafka_new_producer(b, err, sizeof err) != RC_OK) {
            snprintf(b->base.errmsg, sizeof b->base.errmsg, "%s", err);
            return RC_BUS;
        }
    }
    int rc = bus_kafka_ensure_topic(b);
    if (rc != RC_OK)
        return rc;
    uintptr_t gen = ++b->publish_gen;
    b->delivered = 0;
    b->nack = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < n; i++) {
        const struct bus_event *e = &events[i];
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(3);
        rd_kafka_header_add(hdrs, "type", -1, e->type, (ssize_t)strlen(e->type));
        rd_kafka_header_add(hdrs, "id", -1, e->id, (ssize_t)strlen(e->id));
        if (e->traceparent && *e->traceparent)
            rd_kafka_header_add(hdrs, "traceparent", -1, e->traceparent,
                                (ssize_t)strlen(e->traceparent));
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    b->rk, RD_KAFKA_V_TOPIC(b->topic), RD_KAFKA_V_KEY(e->key, strlen(e->key)),
                    RD_KAFKA_V_VALUE((void *)e->payload, strlen(e->payload)),
                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_OPAQUE((void *)gen), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(b->rk, BUS_KAFKA_SLICE_MS); /* let deliveries drain the queue */
        if (err) {
            rd_kafka_headers_destroy(hdrs); /* taken only on success */
            return bus_kafka_fail(b, "produce", err);
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_flush(b->rk, BUS_KAFKA_FLUSH_MS);
    if (b->nack)
        return bus_kafka_fail(b, "delivery", b->nack);
    if (err || b->delivered != n)
        return bus_kafka_fail(b, "delivery", err ? err : RD_KAFKA_RESP_ERR__TIMED_OUT);
    return RC_OK;
}

/* --- consuming -------------------------------------------------------------------- */

/* Forgets uncommitted offsets of the <revoked> partitions. */
static void bus_kafka_drop_pending(struct bus_kafka *b,
                                   const rd_kafka_topic_partition_list_t *revoked)
{
    for (int i = 0; b->pending && i < revoked->cnt; i++)
        rd_kafka_topic_partition_list_del(b->pending, revoked->elems[i].topic,
                                          revoked->elems[i].partition);
}

/* Assignment changes, served inside bus_poll (rd_kafka_consumer_poll). */
static void bus_kafka_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct bus_kafka *b = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (b->start != BUS_FROM_COMMITTED && !b->assigned_once) /* where it starts */
            for (int i = 0; i < parts->cnt; i++)
                parts->elems[i].offset = b->start == BUS_FROM_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING
                                                                        : RD_KAFKA_OFFSET_END;
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        b->assigned_once = true;
    } else {
        bus_kafka_drop_pending(b, parts);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
    }
    if (error) {
        snprintf(b->base.errmsg, sizeof b->base.errmsg, "kafka: rebalance: %s",
                 rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

static int bus_kafka_start(struct bus_kafka *b);

static int bus_kafka_subscribe(struct bus *base, const char *group, enum bus_start start)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    BUG_ON(b->subscribed);
    if (group && !id_is_token(group, strlen(group), BUS_KAFKA_GROUP_MAX))
        return RC_INVALID;
    char err[256], tail_group[64];
    rd_kafka_conf_t *conf = bus_kafka_conf(b, err, sizeof err);
    if (!conf)
        goto fail;
    if (!group) {
        /* librdkafka's consumer API wants a group id even for assign();
         * a private one is never joined nor committed to. */
        char uuid[ID_UUID_LEN + 1];
        id_uuid(uuid);
        snprintf(tail_group, sizeof tail_group, "webtoon-tail-%s", uuid);
    }
    const char *const settings[][2] = {
        {"group.id", group ? group : tail_group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", start == BUS_FROM_END ? "latest" : "earliest"},
        {"session.timeout.ms", "6000"}, /* a dead member's partitions move on soon */
        {"heartbeat.interval.ms", "1000"},
        {"fetch.wait.max.ms", "100"},
    };
    for (size_t i = 0; i < ARRAY_LEN(settings); i++)
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err, sizeof err) !=
            RD_KAFKA_CONF_OK)
            goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, bus_kafka_on_rebalance);
    b->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!b->consumer)
        goto fail;
    conf = NULL; /* owned by the handle now */
    rd_kafka_poll_set_consumer(b->consumer);
    b->pending = rd_kafka_topic_partition_list_new(8);
    if (group && !(b->group = mem_strdup(group)))
        return RC_NOMEM;
    b->start = start;
    b->subscribed = true;
    /* A tail starts now, so "from the end" means from this call. A group
     * member joins on its first poll instead: a service starts even while
     * Kafka is away. */
    return group ? RC_OK : bus_kafka_start(b);
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    snprintf(b->base.errmsg, sizeof b->base.errmsg, "kafka: consumer: %.200s", err);
    return RC_BUS;
}

/* Joins the group, or assigns every partition: done by the first poll so
 * that a service starts while Kafka is still on its way. */
static int bus_kafka_start(struct bus_kafka *b)
{
    int rc = bus_kafka_ensure_topic(b);
    if (rc != RC_OK)
        return rc;
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t err;
    if (b->group) {
        l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, b->topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(b->consumer, l);
    } else {
        /* The end is taken now, as offsets: a symbolic "end" would be
         * resolved by the fetcher a moment later and skip what was
         * published in between. */
        l = bus_kafka_all_partitions(b);
        for (int i = 0; l && i < l->cnt; i++) {
            int64_t lo, hi;
            l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            if (b->start == BUS_FROM_END &&
                (rc = bus_kafka_watermarks(b, l->elems[i].partition, &lo, &hi,
                                           BUS_KAFKA_REQUEST_MS)) == RC_OK)
                l->elems[i].offset = hi;
        }
        if (!l || rc != RC_OK) {
            if (l)
                rd_kafka_topic_partition_list_destroy(l);
            return l ? rc : RC_NOMEM;
        }
        err = rd_kafka_assign(b->consumer, l);
        b->assigned_once = true;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return bus_kafka_fail(b, b->group ? "subscribe" : "assign", err);
    b->started = true;
    return RC_OK;
}

/* Copies <m> into the batch and notes its offset for the next commit. */
static int bus_kafka_take(struct bus_kafka *b, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *type = "", *id = NULL, *tp = "";
    size_t ltype = 0, lid = 0, ltp = 0;
    char synthetic[64];
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (rd_kafka_header_get_last(hdrs, "type", &type, &ltype) || !type)
            type = "", ltype = 0;
        if (rd_kafka_header_get_last(hdrs, "id", &id, &lid) || !id)
            id = NULL;
        if (rd_kafka_header_get_last(hdrs, "traceparent", &tp, &ltp) || !tp ||
            ltp > BUS_TRACEPARENT_MAX)
            tp = "", ltp = 0; /* none, or not one anybody should send */
    }
    if (!id) {
        /* Written by someone else (a console producer): its position is
         * its identity. */
        snprintf(synthetic, sizeof synthetic, "kafka-%" PRId32 "-%" PRId64, m->partition,
                 m->offset);
        id = synthetic;
        lid = strlen(synthetic);
    }
    size_t lkey = m->key ? m->key_len : 0, lpayload = m->payload ? m->len : 0;
    struct bus_event *e = &b->batch[b->batch_len];
    char *text;
    if (bus_event_copy(e, &text, id, lid, m->key, lkey, type, ltype, m->payload, lpayload, tp,
                       ltp) != RC_OK)
        return RC_NOMEM;
    e->offset = m->offset;
    e->partition = m->partition;
    e->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    b->batch_text[b->batch_len++] = text;
    rd_kafka_topic_partition_t *t =
        rd_kafka_topic_partition_list_find(b->pending, b->topic, m->partition);
    if (!t)
        t = rd_kafka_topic_partition_list_add(b->pending, b->topic, m->partition);
    t->offset = m->offset + 1;
    return RC_OK;
}

/* Moves the partition of <m> back to <m>, which this poll could not hand
 * out (no memory): a later poll fetches it again, and no commit can pass
 * it meanwhile. */
static void bus_kafka_refetch(struct bus_kafka *b, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, b->topic, m->partition)->offset = m->offset;
    rd_kafka_error_t *error = rd_kafka_seek_partitions(b->consumer, l, BUS_KAFKA_REQUEST_MS);
    if (error)
        rd_kafka_error_destroy(error);
    rd_kafka_topic_partition_list_destroy(l);
}

/* True when this consumer has been handed everything up to the end of each
 * partition it owns. */
static bool bus_kafka_caught_up(struct bus_kafka *b)
{
    if (!b->assigned_once)
        return false;
    rd_kafka_topic_partition_list_t *own = NULL;
    if (rd_kafka_assignment(b->consumer, &own) || !own)
        return false;
    bool done = rd_kafka_position(b->consumer, own) == RD_KAFKA_RESP_ERR_NO_ERROR;
    bool need_committed = false;
    for (int i = 0; done && i < own->cnt; i++)
        need_committed |= own->elems[i].offset < 0 && b->group && b->start == BUS_FROM_COMMITTED;
    if (done && need_committed) {
        /* Nothing fetched yet from some partition: it starts at the
         * group's commit (or at the low watermark for a new group). */
        rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(own);
        done = bus_kafka_committed(b, b->group, committed, BUS_KAFKA_REQUEST_MS) == RC_OK;
        for (int i = 0; done && i < own->cnt; i++)
            if (own->elems[i].offset < 0)
                own->elems[i].offset = committed->elems[i].offset;
        rd_kafka_topic_partition_list_destroy(committed);
    }
    for (int i = 0; done && i < own->cnt; i++) {
        int64_t lo, hi, pos = own->elems[i].offset;
        if (bus_kafka_watermarks(b, own->elems[i].partition, &lo, &hi, BUS_KAFKA_REQUEST_MS) !=
            RC_OK) {
            done = false;
            break;
        }
        if (pos < 0) /* never fetched: from the start, or from the end */
            pos = b->start == BUS_FROM_END ? hi : lo;
        done = pos >= hi;
    }
    rd_kafka_topic_partition_list_destroy(own);
    return done;
}

static int bus_kafka_poll(struct bus *base, int timeout_ms, const struct bus_event **events,
                          size_t *n)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    BUG_ON(!b->subscribed);
    bus_kafka_free_batch(b);
    if (atomic_exchange(&b->interrupted, false))
        return RC_OK;
    int rc = RC_OK;
    if (!b->started && (rc = bus_kafka_start(b)) != RC_OK)
        return rc;
    int64_t now = clock_mono_ms();
    int64_t deadline = now + (timeout_ms > 0 ? timeout_ms : BUS_KAFKA_CATCHUP_MS);
    while (b->batch_len < BUS_KAFKA_BATCH) {
        int64_t left = deadline - clock_mono_ms();
        int slice = b->batch_len > 0 || left <= 0
                        ? 0
                        : (int)(left < BUS_KAFKA_SLICE_MS ? left : BUS_KAFKA_SLICE_MS);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(b->consumer, slice);
        if (m) {
            if (!m->err && (rc = bus_kafka_take(b, m)) != RC_OK)
                bus_kafka_refetch(b, m);
            else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && b->batch_len == 0)
                rc = bus_kafka_fail(b, "consume", m->err);
            rd_kafka_message_destroy(m);
            if (rc != RC_OK)
                break;
            continue;
        }
        if (b->batch_len > 0 || atomic_exchange(&b->interrupted, false) || left <= 0)
            break;
        if (timeout_ms <= 0 && bus_kafka_caught_up(b))
            break;
    }
    if (rc != RC_OK && b->batch_len == 0)
        return rc;
    *events = b->batch; /* what was taken before a failure stands */
    *n = b->batch_len;
    return RC_OK;
}

static int bus_kafka_commit(struct bus *base)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    if (!b->group || !b->pending || b->pending->cnt == 0)
        return RC_OK;
    rd_kafka_resp_err_t err = rd_kafka_commit(b->consumer, b->pending, 0 /* synchronous */);
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
    case RD_KAFKA_RESP_ERR__NO_OFFSET:
        break;
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR__STATE:
        /* The partitions are moving to another member, which starts from
         * the last commit: the batch is delivered again and the inbox
         * recognises it. Retrying here would never succeed. */
        bus_kafka_fail(b, "commit skipped during a rebalance", err);
        break;
    default:
        return bus_kafka_fail(b, "commit", err);
    }
    rd_kafka_topic_partition_list_destroy(b->pending);
    b->pending = rd_kafka_topic_partition_list_new(8);
    return RC_OK;
}

static void bus_kafka_interrupt(struct bus *base)
{
    /* Only an atomic store: safe from another thread and from a signal
     * handler; the poll looks at it between slices. */
    atomic_store(&((struct bus_kafka *)base)->interrupted, true);
}

static int bus_kafka_lag(struct bus *base, int64_t *out)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    if (!b->started)
        return RC_OK;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int rc = RC_OK;
    if (b->group) {
        /* The group's lag, over every partition whoever owns it. */
        if (!(parts = bus_kafka_all_partitions(b)))
            return RC_NOMEM;
        rc = bus_kafka_committed(b, b->group, parts, BUS_KAFKA_LAG_MS);
    } else {
        rd_kafka_resp_err_t err = rd_kafka_assignment(b->consumer, &parts);
        if (!err)
            err = rd_kafka_position(b->consumer, parts);
        if (err)
            rc = bus_kafka_fail(b, "position", err);
        for (int i = 0; rc == RC_OK && i < parts->cnt; i++)
            if (parts->elems[i].offset < 0 && b->start == BUS_FROM_END)
                parts->elems[i].offset = INT64_MAX; /* nothing behind the end */
    }
    if (rc == RC_OK)
        rc = bus_kafka_lag_from(b, parts, BUS_KAFKA_LAG_MS, out);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

static int bus_kafka_group_lag(struct bus *base, const char *group, int64_t *out)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    if (!id_is_token(group, strlen(group), BUS_KAFKA_GROUP_MAX))
        return RC_INVALID;
    int rc = bus_kafka_ensure_topic(b);
    if (rc != RC_OK)
        return rc;
    rd_kafka_topic_partition_list_t *parts = bus_kafka_all_partitions(b);
    if (!parts)
        return RC_NOMEM;
    if ((rc = bus_kafka_committed(b, group, parts, BUS_KAFKA_REQUEST_MS)) == RC_OK)
        rc = bus_kafka_lag_from(b, parts, BUS_KAFKA_REQUEST_MS, out);
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

/* Commits the low watermark of every partition for <group> from outside
 * it. The broker accepts such a commit only while the group has no member
 * (else UNKNOWN_MEMBER_ID: someone is consuming, RC_CONFLICT), so a live
 * consumer can never overwrite the rewind. */
static int bus_kafka_rewind(struct bus *base, const char *group)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    if (!id_is_token(group, strlen(group), BUS_KAFKA_GROUP_MAX))
        return RC_INVALID;
    int rc = bus_kafka_ensure_topic(b);
    if (rc != RC_OK)
        return rc;
    rd_kafka_topic_partition_list_t *parts = bus_kafka_all_partitions(b);
    rd_kafka_t *rk = parts ? bus_kafka_group_handle(b, group) : NULL;
    if (!rk) {
        rc = parts ? RC_BUS : RC_NOMEM;
        goto out;
    }
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, parts, BUS_KAFKA_REQUEST_MS);
    if (err) {
        rc = bus_kafka_fail(b, "committed offsets", err);
        goto out;
    }
    bool any = false;
    for (int i = 0; i < parts->cnt; i++)
        any |= parts->elems[i].offset >= 0;
    if (!any) {
        rc = RC_NOT_FOUND;
        goto out;
    }
    for (int i = 0; rc == RC_OK && i < parts->cnt; i++) {
        int64_t lo, hi;
        if ((rc = bus_kafka_watermarks(b, parts->elems[i].partition, &lo, &hi,
                                       BUS_KAFKA_REQUEST_MS)) == RC_OK)
            parts->elems[i].offset = lo; /* the first event still in the log */
    }
    if (rc != RC_OK)
        goto out;
    err = rd_kafka_commit(rk, parts, 0 /* synchronous */);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
        err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
        rc = RC_CONFLICT;
    else if (err)
        rc = bus_kafka_fail(b, "rewind", err);
out:
    if (rk)
        rd_kafka_destroy(rk);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

static int bus_kafka_end_offsets(struct bus *base, int64_t *ends, int max, int *n)
{
    struct bus_kafka *b = (struct bus_kafka *)base;
    int rc = bus_kafka_ensure_topic(b);
    if (rc != RC_OK)
        return rc;
    if (b->partitions > max)
        return bus_kafka_fail(b, "end offsets: too many partitions",
                              RD_KAFKA_RESP_ERR__INVALID_ARG);
    /* A topic just created has partitions without a leader for a moment. */
    int64_t deadline = clock_mono_ms() + BUS_KAFKA_REQUEST_MS;
    for (int p = 0; p < b->partitions; p++) {
        int64_t lo, hi;
        while ((rc = bus_kafka_watermarks(b, p, &lo, &hi, BUS_KAFKA_REQUEST_MS)) != RC_OK) {
            if (clock_mono_ms() >= deadline)
                return rc;
            clock_sleep_ms(50);
        }
        ends[p] = hi > lo ? hi - 1 : -1;
    }
    *n = b->partitions;
    return RC_OK;
}

const struct bus_ops bus_kafka_ops = {
    .name = "kafka",
    .open = bus_kafka_open,
    .close = bus_kafka_close,
    .publish = bus_kafka_publish,
    .subscribe = bus_kafka_subscribe,
    .poll = bus_kafka_poll,
    .commit = bus_kafka_commit,
    .interrupt = bus_kafka_interrupt,
    .lag = bus_kafka_lag,
    .end_offsets = bus_kafka_end_offsets,
    .rewind = bus_kafka_rewind,
    .group_lag = bus_kafka_group_lag,
};
