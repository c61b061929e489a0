/* Backend dispatch for the event bus; see bus.h. */
#include "core/bus/bus.h"

#include <stdio.h>
#include <string.h>

#include "core/base/mem.h"
#include "core/base/rc.h"

int bus_open(const struct bus_options *opts, struct bus **out, char *err, size_t errlen)
{
    *out = NULL;
    if (opts->kafka_brokers && *opts->kafka_brokers)
        return bus_kafka_ops.open(opts, out, err, errlen);
    return bus_sqlite_ops.open(opts, out, err, errlen);
}

void bus_close(struct bus *b)
{
    if (b)
        b->ops->close(b);
}

int bus_publish(struct bus *b, const struct bus_event *events, size_t n)
{
    return n ? b->ops->publish(b, events, n) : RC_OK;
}

int bus_subscribe(struct bus *b, const char *group, enum bus_start start)
{
    return b->ops->subscribe(b, group, start);
}

int bus_poll(struct bus *b, int timeout_ms, const struct bus_event **events, size_t *n)
{
    *events = NULL;
    *n = 0;
    return b->ops->poll(b, timeout_ms, events, n);
}

int bus_commit(struct bus *b) { return b->ops->commit(b); }
void bus_interrupt(struct bus *b) { b->ops->interrupt(b); }

int bus_lag(struct bus *b, int64_t *out)
{
    *out = 0;
    return b->ops->lag(b, out);
}

int bus_rewind(struct bus *b, const char *group) { return b->ops->rewind(b, group); }

int bus_group_lag(struct bus *b, const char *group, int64_t *out)
{
    *out = 0;
    return b->ops->group_lag(b, group, out);
}

int bus_end_offsets(struct bus *b, int64_t *ends, int max, int *n)
{
    *n = 0;
    return b->ops->end_offsets(b, ends, max, n);
}

const char *bus_error(const struct bus *b) { return b->errmsg; }

/* Copies <len> bytes of <src> to <dst> and terminates them; returns <dst>. */
static char *bus_put(char *dst, const char *src, size_t len)
{
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
    return dst;
}

int bus_event_copy(struct bus_event *e, char **block, const char *id, size_t lid, const char *key,
                   size_t lkey, const char *type, size_t ltype, const char *payload,
                   size_t lpayload, const char *traceparent, size_t ltraceparent)
{
    char *p = mem_alloc(lid + lkey + ltype + lpayload + ltraceparent + 5);
    *block = p;
    if (!p)
        return RC_NOMEM;
    e->id = bus_put(p, id, lid);
    e->key = bus_put(p += lid + 1, key, lkey);
    e->type = bus_put(p += lkey + 1, type, ltype);
    e->payload = bus_put(p += ltype + 1, payload, lpayload);
    e->traceparent = bus_put(p + lpayload + 1, traceparent, ltraceparent);
    return RC_OK;
}
