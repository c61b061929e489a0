/*
 * W3C Trace Context and spans; see trace.h. The traceparent grammar is
 * https://www.w3.org/TR/trace-context/#traceparent-header: this parser
 * accepts exactly what that section says a vendor must, and nothing it
 * says to ignore (uppercase hex, zero ids, version ff, a version-00 value
 * with anything after the flags).
 */
#include "core/trace/trace.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/base/bug.h"
#include "core/base/rc.h"
#include "core/trace/trace_internal.h"

/* --- ids and traceparent -------------------------------------------------------- */

static bool trace_is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool trace_is_zeros(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != '0')
            return false;
    return true;
}

bool trace__is_id(const char *s, size_t hex)
{
    return s && strlen(s) == hex && trace_is_lower_hex(s, hex) && !trace_is_zeros(s, hex);
}

bool trace_ctx_is_valid(const struct trace_ctx *ctx)
{
    return ctx && trace__is_id(ctx->trace_id, TRACE_ID_HEX) &&
           trace__is_id(ctx->span_id, TRACE_SPAN_HEX);
}

static int trace_hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

int trace_parse(const char *s, size_t len, struct trace_ctx *out)
{
    *out = (struct trace_ctx){0};
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len < TRACE_PARENT_LEN || !trace_is_lower_hex(s, 2) || s[2] != '-')
        return RC_INVALID;
    bool v00 = s[0] == '0' && s[1] == '0';
    if (s[0] == 'f' && s[1] == 'f')
        return RC_INVALID; /* forbidden version */
    /* Version 00 is exactly 55 characters; a later one may go on after a '-'. */
    if (v00 ? len != TRACE_PARENT_LEN : len > TRACE_PARENT_LEN && s[TRACE_PARENT_LEN] != '-')
        return RC_INVALID;
    const char *tid = s + 3, *sid = tid + TRACE_ID_HEX + 1, *flags = sid + TRACE_SPAN_HEX + 1;
    if (tid[TRACE_ID_HEX] != '-' || sid[TRACE_SPAN_HEX] != '-' ||
        !trace_is_lower_hex(tid, TRACE_ID_HEX) || !trace_is_lower_hex(sid, TRACE_SPAN_HEX) ||
        !trace_is_lower_hex(flags, 2) || trace_is_zeros(tid, TRACE_ID_HEX) ||
        trace_is_zeros(sid, TRACE_SPAN_HEX))
        return RC_INVALID;
    memcpy(out->trace_id, tid, TRACE_ID_HEX);
    memcpy(out->span_id, sid, TRACE_SPAN_HEX);
    out->sampled = (trace_hex_value(flags[1]) & 1) != 0; /* the only flag defined */
    return RC_OK;
}

void trace_format(const struct trace_ctx *ctx, char *out)
{
    BUG_ON(!trace_ctx_is_valid(ctx));
    memcpy(out, "00-", 3);
    memcpy(out + 3, ctx->trace_id, TRACE_ID_HEX);
    out[3 + TRACE_ID_HEX] = '-';
    memcpy(out + 4 + TRACE_ID_HEX, ctx->span_id, TRACE_SPAN_HEX);
    memcpy(out + 4 + TRACE_ID_HEX + TRACE_SPAN_HEX, ctx->sampled ? "-01" : "-00", 4);
}

/*
 * Ids come from xoshiro256** (Blackman and Vigna), one generator per
 * thread seeded from getrandom(2) on its first id: ids must be unique and
 * unpredictable enough to never collide, not secret, and a getrandom call
 * per id would cost a system call on every request (about 0.7 us here). A
 * forked child reseeds, so it never repeats its parent's ids.
 */
static _Thread_local uint64_t trace_rng[4];
static _Thread_local bool trace_rng_seeded;
static pthread_once_t trace_rng_once = PTHREAD_ONCE_INIT;

static void trace_rng_after_fork(void) { trace_rng_seeded = false; }
static void trace_rng_register(void) { pthread_atfork(NULL, NULL, trace_rng_after_fork); }

static uint64_t trace_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t trace_rng_next(void)
{
    if (!trace_rng_seeded) {
        pthread_once(&trace_rng_once, trace_rng_register);
        do {
            size_t got = 0;
            while (got < sizeof trace_rng) {
                ssize_t n = getrandom((char *)trace_rng + got, sizeof trace_rng - got, 0);
                if (n > 0)
                    got += (size_t)n;
            }
        } while (!(trace_rng[0] | trace_rng[1] | trace_rng[2] | trace_rng[3]));
        trace_rng_seeded = true;
    }
    uint64_t *st = trace_rng, result = trace_rotl(st[1] * 5, 7) * 9, t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = trace_rotl(st[3], 45);
    return result;
}

/* Writes <hex> (16 or 32) random lowercase hex digits, not all zeros, and
 * a NUL. */
static void trace_random_hex(char *out, size_t hex)
{
    static const char digits[] = "0123456789abcdef";
    do {
        for (size_t i = 0; i < hex; i += 16) {
            uint64_t v = trace_rng_next();
            for (size_t k = 0; k < 16; k++, v >>= 4)
                out[i + k] = digits[v & 15];
        }
        out[hex] = '\0';
    } while (trace_is_zeros(out, hex));
}

void trace_ctx_child(const struct trace_ctx *parent, struct trace_ctx *out, char *parent_span)
{
    bool valid = trace_ctx_is_valid(parent);
    struct trace_ctx c = {.sampled = valid ? parent->sampled : true};
    if (valid)
        memcpy(c.trace_id, parent->trace_id, sizeof c.trace_id);
    else
        trace_random_hex(c.trace_id, TRACE_ID_HEX);
    trace_random_hex(c.span_id, TRACE_SPAN_HEX);
    if (parent_span) {
        if (valid)
            memcpy(parent_span, parent->span_id, TRACE_SPAN_HEX + 1);
        else
            parent_span[0] = '\0';
    }
    *out = c;
}

/* --- the current context ----------------------------------------------------------- */

static _Thread_local struct trace_ctx trace_here;
static _Thread_local bool trace_here_set;

void trace_set_current(const struct trace_ctx *ctx)
{
    trace_here_set = ctx != NULL;
    if (ctx)
        trace_here = *ctx;
}

const struct trace_ctx *trace_current(void) { return trace_here_set ? &trace_here : NULL; }

/* --- spans ----------------------------------------------------------------------------- */

int64_t trace_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Length of the longest prefix of <s>/<len> that does not end inside a
 * UTF-8 sequence. */
static size_t trace_utf8_cut(const char *s, size_t len)
{
    size_t lead = len, tail = 0;
    while (lead > 0 && tail < 3 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--, tail++;
    if (lead == 0)
        return len;
    unsigned char c = (unsigned char)s[lead - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return tail + 1 < need ? lead - 1 : len;
}

/* Bytes of the valid UTF-8 sequence at <s> (<len> left), 0 when invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t trace_utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (n == 0 || n > len)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

void trace__copy_text(char *dst, size_t room, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len >= room)
        len = trace_utf8_cut(src, room - 1);
    for (size_t i = 0; i < len;) {
        size_t n = trace_utf8_seq((const unsigned char *)src + i, len - i);
        if (n == 0) {
            dst[i++] = '?';
            continue;
        }
        memcpy(dst + i, src + i, n);
        i += n;
    }
    dst[len] = '\0';
}

void trace_span_begin(struct trace_span *sp, const char *name, enum trace_kind kind,
                      const struct trace_ctx *parent)
{
    memset(sp, 0, offsetof(struct trace_span, attrs)); /* the attributes are filled as added */
    sp->nattrs = 0;
    sp->dropped_attrs = 0;
    trace_ctx_child(parent, &sp->ctx, sp->parent_span_id);
    sp->kind = kind;
    sp->start_ns = trace_now_ns();
    sp->recording = sp->ctx.sampled && trace_export_is_running();
    trace__copy_text(sp->name, sizeof sp->name, name);
}

int trace_span_make(struct trace_span *sp, const char *name, enum trace_kind kind,
                    const char *trace_id, const char *span_id, const char *parent_span_id,
                    bool sampled, int64_t start_unix_ns, int64_t end_unix_ns)
{
    memset(sp, 0, offsetof(struct trace_span, attrs));
    sp->nattrs = 0;
    sp->dropped_attrs = 0;
    bool parent_ok =
        !parent_span_id || !*parent_span_id || trace__is_id(parent_span_id, TRACE_SPAN_HEX);
    if (!trace__is_id(trace_id, TRACE_ID_HEX) || !trace__is_id(span_id, TRACE_SPAN_HEX) ||
        !parent_ok || start_unix_ns <= 0 || end_unix_ns < start_unix_ns)
        return RC_INVALID;
    memcpy(sp->ctx.trace_id, trace_id, TRACE_ID_HEX + 1);
    memcpy(sp->ctx.span_id, span_id, TRACE_SPAN_HEX + 1);
    sp->ctx.sampled = sampled;
    if (parent_span_id && *parent_span_id)
        memcpy(sp->parent_span_id, parent_span_id, TRACE_SPAN_HEX + 1);
    sp->kind = kind;
    sp->start_ns = start_unix_ns;
    sp->end_ns = end_unix_ns;
    sp->recording = sampled && trace_export_is_running();
    trace__copy_text(sp->name, sizeof sp->name, name);
    return RC_OK;
}

void trace_span_set_name(struct trace_span *sp, const char *name)
{
    trace__copy_text(sp->name, sizeof sp->name, name);
}

/* The next free attribute of <sp> with <key>, or NULL (counted) when full. */
static struct trace_attr *trace_attr_new(struct trace_span *sp, const char *key)
{
    if (!sp->recording)
        return NULL;
    if (sp->nattrs == TRACE_ATTRS_MAX) {
        sp->dropped_attrs++;
        return NULL;
    }
    struct trace_attr *a = &sp->attrs[sp->nattrs++];
    trace__copy_text(a->key, sizeof a->key, key);
    return a;
}

void trace_span_attr_str(struct trace_span *sp, const char *key, const char *value)
{
    struct trace_attr *a = trace_attr_new(sp, key);
    if (a) {
        a->is_int = false;
        trace__copy_text(a->s, sizeof a->s, value);
    }
}

void trace_span_attr_int(struct trace_span *sp, const char *key, int64_t value)
{
    struct trace_attr *a = trace_attr_new(sp, key);
    if (a) {
        a->is_int = true;
        a->i = value;
    }
}

void trace_span_link(struct trace_span *sp, const struct trace_ctx *linked)
{
    sp->has_link = trace_ctx_is_valid(linked);
    if (sp->has_link)
        sp->link = *linked;
}

void trace_span_set_error(struct trace_span *sp, const char *message)
{
    sp->error = true;
    trace__copy_text(sp->status_message, sizeof sp->status_message, message);
}

void trace_span_end(struct trace_span *sp)
{
    if (!sp->end_ns)
        sp->end_ns = trace_now_ns();
    trace_span_submit(sp);
}

void trace_span_submit(const struct trace_span *sp)
{
    if (sp->recording && sp->end_ns)
        trace__enqueue(sp);
}

const char *trace_http_method(const char *method)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",    "PATCH",
                                        "DELETE", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < ARRAY_LEN(known); i++)
        if (method && !strcmp(method, known[i]))
            return known[i];
    return "_OTHER";
}
