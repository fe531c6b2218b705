/*
 * guard — what a request must pass before any endpoint sees it: the raw
 * URI as the client sent it (libmicrohttpd decodes the path before our
 * handler runs, so "heap%00anything" would reach "heap"), strict query
 * parameters, the Host header, and the bearer token when one is set.
 * Each failure is answered with its status and a one-line reason.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/http/guard.h"

/* libmicrohttpd's URI log callback: the first thing it calls for a request,
 * with the URI undecoded. Its return value becomes the request's con_cls. */
void *pprofd__on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    pprofd__request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->conn = conn;
    req->server = cls;
    size_t n = strlen(uri);
    req->raw_uri = malloc(n + 1);
    if (req->raw_uri)
        memcpy(req->raw_uri, uri, n + 1);
    return req;
}

/* The path as sent must be the path as decoded, with no empty or dot
 * segment: any percent-encoding, "//" or ".." is not a profile's name. */
int pprofd__raw_path_ok(const pprofd__request *req, const char *url)
{
    if (!req->raw_uri)
        return 0;
    size_t n = strcspn(req->raw_uri, "?#");
    if (strlen(url) != n || memcmp(req->raw_uri, url, n) != 0)
        return 0;
    return strstr(url, "//") == NULL && strstr(url, "/.") == NULL;
}

/* The parameters pprofd reads: each at most once, always with a value of
 * decimal digits (the endpoints then check its range). Others are
 * ignored, as Go does. */
static const char *const known[] = {"seconds", "hz", "debug", "gc", NULL};

int pprofd__check_query(const pprofd__request *req, char *why, size_t why_size)
{
    const char *q = req->raw_uri ? strchr(req->raw_uri, '?') : NULL;
    if (!q)
        return 0;
    unsigned seen = 0;
    for (const char *p = q + 1; *p;) {
        size_t len = strcspn(p, "&#");
        size_t key_len = strcspn(p, "=&#");
        for (int k = 0; known[k]; k++) {
            if (strlen(known[k]) != key_len || memcmp(p, known[k], key_len) != 0)
                continue;
            if (key_len == len) {
                snprintf(why, why_size, "parameter \"%s\" has no value", known[k]);
                return -1;
            }
            if (seen & (1u << k)) {
                snprintf(why, why_size, "parameter \"%s\" given more than once", known[k]);
                return -1;
            }
            seen |= 1u << k;
            const char *v = p + key_len + 1, *end = p + len;
            int digits = v < end;
            for (const char *c = v; c < end; c++)
                digits = digits && *c >= '0' && *c <= '9';
            if (!digits) {
                snprintf(why, why_size, "invalid value for \"%s\": want an integer", known[k]);
                return -1;
            }
        }
        p += len;
        if (*p != '&')
            break;
        p++;
    }
    return 0;
}

/* Equal in time that depends only on the lengths, not on where they differ. */
static int same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int pprofd__authorized(const pprofd__request *req)
{
    const char *token = req->server->token;
    if (!token[0])
        return 1;
    const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *given = h + 7;
    return same_secret(given, strlen(given), token, strlen(token));
}

int pprofd__read_token(const char *token, const char *file, char *out, size_t out_size,
                       char *err, size_t err_size)
{
    out[0] = 0;
    if (token && token[0]) {
        if (strlen(token) >= out_size) {
            snprintf(err, err_size, "token longer than %zu bytes", out_size - 1);
            return -1;
        }
        strcpy(out, token);
        return 0;
    }
    if (!file || !file[0])
        return 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_size, "cannot read the token file %s", file);
        return -1;
    }
    ssize_t n = read(fd, out, out_size - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, err_size, "cannot read the token file %s", file);
        return -1;
    }
    out[n] = 0;
    /* One line: the trailing newline an editor adds is not part of it. */
    out[strcspn(out, "\r\n")] = 0;
    if (!out[0]) {
        snprintf(err, err_size, "the token file %s is empty", file);
        return -1;
    }
    return 0;
}
