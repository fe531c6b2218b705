/*
 * request — one request's way through the server: libmicrohttpd's
 * callbacks, routing, the worker a long request moves to, responses and
 * strict query parameters. The server's start and stop are server.c's.
 *
 * Long requests leave libmicrohttpd's threads for a worker (pool.c).
 *
 * Routing: only /debug/pprof/<name>; GET and HEAD everywhere, POST where an
 * endpoint allows it (symbol); 405 otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/endpoints/endpoints.h"
#include "server/http/guard.h"
#include "server/http/http.h"
#include "server/http/pool.h"
#include "server/text/strbuf.h"

#define PREFIX "/debug/pprof/"
#define MAX_BODY (1u << 20)

long long pprofd__now_nanos(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void add_common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
}

/* Queue r now, or keep it for the resume when running on a worker. Takes
 * over the caller's reference to r. */
static enum MHD_Result queue_response(pprofd__request *req, unsigned status,
                                      struct MHD_Response *r)
{
    if (req->deferred) {
        if (req->deferred_response) /* a handler answered twice: keep the first */
            MHD_destroy_response(r);
        else {
            req->deferred_status = status;
            req->deferred_response = r;
        }
        return MHD_YES;
    }
    enum MHD_Result ok = MHD_queue_response(req->conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

enum MHD_Result pprofd__respond_text(pprofd__request *req, unsigned status,
                                     const char *content_type, const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", content_type);
    add_common_headers(r);
    return queue_response(req, status, r);
}

enum MHD_Result pprofd__respond_strbuf(pprofd__request *req, const char *content_type,
                                       pprofd__strbuf *b)
{
    enum MHD_Result r;
    if (b->failed)
        r = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    else
        r = pprofd__respond_text(req, MHD_HTTP_OK, content_type, b->data ? b->data : "", b->len);
    free(b->data);
    b->data = NULL;
    return r;
}

enum MHD_Result pprofd__respond_error(pprofd__request *req, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof msg - 2)
        n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    msg[n] = 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, msg, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(r, "X-Go-Pprof", "1");
    add_common_headers(r);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    return queue_response(req, status, r);
}

/* The body of a profile response: compressed bytes, served by callback. */
typedef struct body {
    unsigned char *data;
    size_t len;
} body;

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    body *b = cls;
    if (pos >= b->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = b->len - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, b->data + pos, n);
    return (ssize_t)n;
}

static void free_body(void *cls)
{
    body *b = cls;
    free(b->data);
    free(b);
}

enum MHD_Result pprofd__respond_profile(pprofd__request *req, const char *filename,
                                        pprofd__profile *p)
{
    body *b = calloc(1, sizeof *b);
    if (b)
        b->data = pprofd__profile_encode_gzip(p, &b->len);
    else
        pprofd__profile_free(p);
    if (!b || !b->data) {
        free(b);
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                     "could not encode profile: out of memory");
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(b->len, 64 * 1024, read_body, b, free_body);
    if (!r) {
        free_body(b);
        return MHD_NO;
    }
    char disposition[256];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", filename);
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    MHD_add_response_header(r, "Content-Disposition", disposition);
    add_common_headers(r);
    return queue_response(req, MHD_HTTP_OK, r);
}

const char *pprofd__query(pprofd__request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

int pprofd__query_long(pprofd__request *req, const char *key, long min, long max, long *out,
                       enum MHD_Result *result)
{
    const char *s = pprofd__query(req, key);
    if (!s)
        return 0;
    /* Digits only, optionally signed: no spaces, no hex, no trailing junk. */
    const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
    int ok = *d != 0 && strlen(d) <= 18;
    for (const char *c = d; ok && *c; c++)
        ok = *c >= '0' && *c <= '9';
    long v = ok ? strtol(s, NULL, 10) : 0;
    if (!ok || v < min) {
        *result = pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST,
                                        "invalid value for \"%s\": want an integer >= %ld", key,
                                        min);
        return -1;
    }
    if (v > max) {
        *result = pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST,
                                        "%s=%ld exceeds the maximum of %ld", key, v, max);
        return -1;
    }
    *out = v;
    return 1;
}

int pprofd__query_seconds(pprofd__request *req, long *out, enum MHD_Result *result)
{
    return pprofd__query_long(req, "seconds", 1, req->server->max_seconds, out, result);
}

int pprofd__wait(pprofd__request *req, long ms)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (atomic_load(&req->server->stopping))
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= ms)
            return 0;
        long slice = ms - elapsed < 100 ? ms - elapsed : 100;
        if (fd >= 0) {
            /* A hang-up shows as readable with nothing to read. */
            struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
            if (poll(&pfd, 1, (int)slice) > 0) {
                if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))
                    return 1;
                char c;
                ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
                if (n == 0)
                    return 1;
                /* Pipelined bytes: not a hang-up; don't spin on them. */
                struct timespec ts = {0, slice * 1000000};
                nanosleep(&ts, NULL);
            }
        } else {
            struct timespec ts = {0, slice * 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

static enum MHD_Result dispatch(pprofd__request *req, const char *url, int http11)
{
    size_t plen = strlen(PREFIX);
    /* Before anything else: what was sent must be a plain path. */
    if (!pprofd__raw_path_ok(req, url))
        return pprofd__respond_error(req, MHD_HTTP_NOT_FOUND, "404 page not found");
    if (http11 && !MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Host"))
        return pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST, "missing required Host header");
    if (!pprofd__authorized(req)) {
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen("401 unauthorized: a bearer token is required\n"),
            "401 unauthorized: a bearer token is required\n", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"pprofd\"");
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        add_common_headers(r);
        return queue_response(req, MHD_HTTP_UNAUTHORIZED, r);
    }
    if (atomic_load(&req->server->stopping))
        return pprofd__respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is stopping");
    if (strcmp(url, "/debug/pprof") == 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Location", PREFIX);
        return queue_response(req, MHD_HTTP_MOVED_PERMANENTLY, r);
    }
    if (strncmp(url, PREFIX, plen) != 0)
        return pprofd__respond_error(req, MHD_HTTP_NOT_FOUND, "404 page not found");
    req->name = url + plen;

    const pprofd__endpoint *ep = NULL;
    if (req->name[0] != 0) {
        ep = pprofd__endpoint_find(req->name);
        if (!ep)
            return pprofd__respond_error(req, MHD_HTTP_NOT_FOUND, "Unknown profile");
    }
    int is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    int is_post = strcmp(req->method, "POST") == 0;
    if (!is_get && !(is_post && ep && ep->allow_post)) {
        struct pprofd__strbuf;
        char line[128];
        int n = snprintf(line, sizeof line, "method %s not allowed\n", req->method);
        struct MHD_Response *r = MHD_create_response_from_buffer(
            n > 0 && (size_t)n < sizeof line ? (size_t)n : 0, line, MHD_RESPMEM_MUST_COPY);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Allow", ep && ep->allow_post ? "GET, HEAD, POST" : "GET, HEAD");
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        add_common_headers(r);
        return queue_response(req, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    }
    char why[160];
    if (pprofd__check_query(req, why, sizeof why) < 0)
        return pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST, "%s", why);
    if (req->body_too_large)
        return pprofd__respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
                                     "request body exceeds %u bytes", MAX_BODY);
    if (ep && pprofd__may_take_long(req))
        return pprofd__run_on_worker(req, ep);
    return ep ? ep->handle(req) : pprofd__handle_index(req);
}

enum MHD_Result pprofd__on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    pprofd__request *req = *con_cls;
    if (!req) { /* no URI callback ran (out of memory there) */
        req = pprofd__on_uri(cls, url, conn);
        if (!req)
            return MHD_NO;
        *con_cls = req;
    }
    if (!req->method) {
        /* First call: headers only. Answer on the next one. Only a POST to
         * /symbol has its body kept; any other is read and dropped. */
        req->method = method;
        req->wants_body = strcmp(method, "POST") == 0 && req->raw_uri &&
                          strcmp(req->raw_uri, PREFIX "symbol") == 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (!req->wants_body) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (req->body_too_large || req->body_len + n > MAX_BODY) {
            req->body_too_large = 1;
        } else {
            char *b = realloc(req->body, req->body_len + n + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + req->body_len, upload_data, n);
            req->body = b;
            req->body_len += n;
            b[req->body_len] = 0;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->deferred)
        return req->answered ? pprofd__finish_deferred(req) : MHD_YES;
    return dispatch(req, url, version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0);
}

void pprofd__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    pprofd__request *req = *con_cls;
    if (req) {
        if (req->deferred_response)
            MHD_destroy_response(req->deferred_response);
        free(req->body);
        free(req->raw_uri);
        free(req);
        *con_cls = NULL;
    }
}
