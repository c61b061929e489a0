/*
 * Shared inside the trace module only (double-underscore names): what the
 * span functions (trace.c) and the exporter (otlp.c) need of each other.
 */
#ifndef WEBTOON_TRACE_INTERNAL_H
#define WEBTOON_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/trace/trace.h"

/* True when <s> is <hex> lowercase hex digits, not all zeros. */
bool trace__is_id(const char *s, size_t hex);
/* Copies <src> (NULL: "") into <dst> (<room> bytes), cut at a character
 * boundary, every byte that is not UTF-8 replaced by '?'. */
void trace__copy_text(char *dst, size_t room, const char *src);
/* Queues a copy of the finished, recording span <sp> (otlp.c). */
void trace__enqueue(const struct trace_span *sp);

#endif
