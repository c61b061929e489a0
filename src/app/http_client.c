/* Loopback HTTP/1.0 client; see http_client.h. */
#include "app/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int app_http(const char *method, int port, const char *path, const char *body, int timeout_ms,
             int *status, char *resp, size_t len)
{
    return app_http_with(method, port, path, NULL, body, timeout_ms, status, resp, len);
}

int app_http_with(const char *method, int port, const char *path, const char *headers,
                  const char *body, int timeout_ms, int *status, char *resp, size_t len)
{
    return app_http_bytes(method, port, path, headers, body ? "application/json" : NULL, body,
                          body ? strlen(body) : 0, timeout_ms, status, resp, len);
}

/* Sends all <len> bytes at <data> on <fd>; false when it could not. */
static bool app_http_send_all(int fd, const char *data, size_t len)
{
    for (ssize_t n; len > 0; data += n, len -= (size_t)n)
        if ((n = send(fd, data, len, MSG_NOSIGNAL)) <= 0)
            return false;
    return true;
}

int app_http_bytes(const char *method, int port, const char *path, const char *headers,
                   const char *content_type, const void *body, size_t blen, int timeout_ms,
                   int *status, char *resp, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char head[8192];
    int hlen =
        snprintf(head, sizeof head,
                 "%s %s HTTP/1.0\r\nHost: localhost\r\n%s%s%s%sContent-Length: %zu\r\n\r\n", method,
                 path, content_type ? "Content-Type: " : "", content_type ? content_type : "",
                 content_type ? "\r\n" : "", headers ? headers : "", blen);
    int rc = -1;
    if (hlen < 0 || (size_t)hlen >= sizeof head) {
        close(fd);
        return -1;
    }
    char buf[16384];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        !app_http_send_all(fd, head, (size_t)hlen) || !app_http_send_all(fd, body, blen))
        goto out;
    for (ssize_t n; got < sizeof buf - 1 && (n = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0;)
        got += (size_t)n;
    buf[got] = '\0';
    if (got < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
        goto out;
    *status = (int)strtol(buf + 9, NULL, 10);
    if (resp && len) {
        const char *start = strstr(buf, "\r\n\r\n");
        snprintf(resp, len, "%s", start ? start + 4 : "");
    }
    rc = 0;
out:
    close(fd);
    return rc;
}
