/*
 * A minimal blocking HTTP/1.0 client for loopback: enough for the
 * supervisor's health checks and `webtoon demo`, which talk to our own
 * services on 127.0.0.1.
 */
#ifndef WEBTOON_APP_HTTP_CLIENT_H
#define WEBTOON_APP_HTTP_CLIENT_H

#include <stddef.h>

/*
 * Sends <method> <path> to 127.0.0.1:<port> with an optional JSON <body>
 * (NULL for none) and waits at most <timeout_ms>. On success returns 0 with
 * the status in <status> and up to <len> - 1 bytes of the body in <resp>
 * (NUL-terminated; may be NULL). Returns -1 when no answer came.
 */
int app_http(const char *method, int port, const char *path, const char *body, int timeout_ms,
             int *status, char *resp, size_t len);

/* The same with extra request <headers> (NULL: none), each line ending in
 * "\r\n" ("Authorization: Bearer ...\r\n"). */
int app_http_with(const char *method, int port, const char *path, const char *headers,
                  const char *body, int timeout_ms, int *status, char *resp, size_t len);

/* The same with a body of any <blen> bytes (an image) sent as
 * <content_type> (NULL: none, and no body). */
int app_http_bytes(const char *method, int port, const char *path, const char *headers,
                   const char *content_type, const void *body, size_t blen, int timeout_ms,
                   int *status, char *resp, size_t len);

#endif
