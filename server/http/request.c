/*
 * http — libmicrohttpd set-up, routing and limits, and the public
 * start/stop API.
 *
 * The listening socket is ours (so a taken port is reported with its
 * errno). libmicrohttpd serves it with a pool of epoll threads: under many
 * concurrent keep-alive clients (hey's 50) a thread per connection spends
 * the machine on context switches. Long requests leave the pool: the
 * connection is suspended, a detached worker thread runs the handler, and
 * the response is queued when the worker resumes the connection (the
 * pattern libmicrohttpd documents for suspend/resume).
 *
 * Routing: only /debug/pprof/<name>; GET and HEAD everywhere, POST where an
 * endpoint allows it (symbol); 405 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sampler/config.h"
#include "sampler/heap.h"
#include "sampler/threads.h"
#include "server/http/http.h"
#include "server/text/strbuf.h"

#define PREFIX "/debug/pprof/"
#define MAX_BODY (1u << 20)
#define MAX_CONNECTIONS 256
#define POOL_THREADS 2
#define IDLE_TIMEOUT_SECONDS 60
#define DEFAULT_ADDR "127.0.0.1:1234"

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
    pprofd__gzip g;
    body *b = calloc(1, sizeof *b);
    int failed = !b || pprofd__gzip_init(&g) < 0;
    if (!failed) {
        failed = pprofd__profile_encode(p, &g) < 0;
        if (!failed)
            b->data = pprofd__gzip_take(&g, &b->len);
        pprofd__gzip_free(&g);
    }
    pprofd__profile_free(p);
    if (failed) {
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

/* Requests that wait (a profile window, a delta) or stop threads. */
static int may_take_long(pprofd__request *req)
{
    static const char *const slow[] = {"profile", "threads", "goroutine", NULL};
    for (int i = 0; slow[i]; i++)
        if (strcmp(req->name, slow[i]) == 0)
            return 1;
    return pprofd__query(req, "seconds") != NULL;
}

typedef struct worker_job {
    pprofd__request *req;
    const pprofd__endpoint *ep;
} worker_job;

static void *worker_main(void *arg)
{
    worker_job job = *(worker_job *)arg;
    free(arg);
    /* Thread dumps show this name (libmicrohttpd's would be inherited). */
    pthread_setname_np(pthread_self(), "pprofd-worker");
    pprofd__request *req = job.req;
    pprofd_server *s = req->server;
    if (job.ep->handle(req) == MHD_NO && req->deferred_response) {
        MHD_destroy_response(req->deferred_response);
        req->deferred_response = NULL;
    }
    req->answered = 1;
    MHD_resume_connection(req->conn);
    atomic_fetch_sub(&s->workers, 1);
    return NULL;
}

static enum MHD_Result run_on_worker(pprofd__request *req, const pprofd__endpoint *ep)
{
    worker_job *job = malloc(sizeof *job);
    if (!job)
        return pprofd__respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    job->req = req;
    job->ep = ep;
    req->deferred = 1;
    atomic_fetch_add(&req->server->workers, 1);
    MHD_suspend_connection(req->conn);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, worker_main, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(job);
        MHD_resume_connection(req->conn);
        atomic_fetch_sub(&req->server->workers, 1);
        req->deferred = 0;
        return pprofd__respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
                                     "cannot start a worker thread: %s", strerror(rc));
    }
    return MHD_YES;
}

/* Called again after a worker resumed the connection. */
static enum MHD_Result finish_deferred(pprofd__request *req)
{
    struct MHD_Response *r = req->deferred_response;
    req->deferred_response = NULL;
    if (!r)
        return MHD_NO; /* the handler failed hard: close the connection */
    enum MHD_Result ok = MHD_queue_response(req->conn, req->deferred_status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result dispatch(pprofd__request *req, const char *url)
{
    size_t plen = strlen(PREFIX);
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
    if (!is_get && !(is_post && ep && ep->allow_post))
        return pprofd__respond_error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
                                     "method %s not allowed", req->method);
    if (req->body_too_large)
        return pprofd__respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
                                     "request body exceeds %u bytes", MAX_BODY);
    if (ep && may_take_long(req))
        return run_on_worker(req, ep);
    return ep ? ep->handle(req) : pprofd__handle_index(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    pprofd__request *req = *con_cls;
    if (!req) {
        /* First call: headers only. Answer on the next one. */
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->conn = conn;
        req->server = cls;
        req->method = method;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
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
        return req->answered ? finish_deferred(req) : MHD_YES;
    return dispatch(req, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
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
        free(req);
        *con_cls = NULL;
    }
}

/* "host:port", ":port", "port", "[v6]:port" -> a listening socket. */
static int open_listener(const char *addr, char *shown, size_t shown_size, char *err,
                         size_t err_size)
{
    char host[256] = "127.0.0.1", port[264];
    const char *colon = strrchr(addr, ':');
    if (!colon) {
        snprintf(port, sizeof port, "%s", addr);
    } else {
        size_t hl = (size_t)(colon - addr);
        if (hl >= sizeof host) {
            snprintf(err, err_size, "host name too long");
            return -1;
        }
        if (hl > 0) {
            memcpy(host, addr, hl);
            host[hl] = 0;
            if (host[0] == '[' && host[hl - 1] == ']') {
                memmove(host, host + 1, hl - 2);
                host[hl - 2] = 0;
            }
        }
        snprintf(port, sizeof port, "%s", colon + 1);
    }
    int digits = port[0] != 0;
    for (const char *c = port; *c; c++)
        digits = digits && *c >= '0' && *c <= '9';
    if (!digits || atol(port) > 65535) {
        snprintf(err, err_size, "bad port in \"%s\" (want host:port, :port or port)", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, err_size, "cannot resolve \"%s\": %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, err_size, "cannot listen on %s:%s: %s", host, port, strerror(saved));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char numeric[64] = "";
    int bound_port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, numeric, sizeof numeric);
            bound_port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, numeric, sizeof numeric);
            bound_port = ntohs(in6->sin6_port);
        }
    }
    snprintf(shown, shown_size, "%s:%d", numeric, bound_port);
    return fd;
}

PPROFD_API pprofd_server *pprofd_start(const pprofd_options *opts)
{
    /* libmicrohttpd is loaded now, not with libpprofd (server/mhd.h). */
    char err[512];
    if (pprofd__mhd_load(err, sizeof err) < 0) {
        fprintf(stderr, "pprofd: %s\n", err);
        return NULL;
    }
    pprofd_options o = {0};
    if (opts)
        o = *opts;
    const pprofd__settings *config = pprofd__config();
    const char *addr = o.addr ? o.addr : config->addr;
    if (!addr || !*addr)
        addr = DEFAULT_ADDR;

    pprofd_server *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "pprofd: out of memory\n");
        return NULL;
    }
    s->listen_fd = -1;
    s->pid = getpid();
    s->cpu_hz = o.cpu_hz <= 0 ? config->cpu_hz : o.cpu_hz <= 1000 ? o.cpu_hz : PPROFD_DEFAULT_CPU_HZ;
    s->max_seconds = o.max_seconds > 0 ? o.max_seconds : config->max_seconds;
    if (o.mem_rate != 0)
        pprofd__heap_set_rate(o.mem_rate < 0 ? 0 : o.mem_rate);
    s->mem_rate = pprofd__heap_rate();
    if (o.mem_cap != 0)
        pprofd__heap_set_memory_cap(o.mem_cap); /* else $PPROFD_MEM_CAP (config.h) */

    s->listen_fd = open_listener(addr, s->addr, sizeof s->addr, err, sizeof err);
    if (s->listen_fd < 0) {
        fprintf(stderr, "pprofd: %s\n", err);
        goto fail;
    }
    const char *colon = strrchr(s->addr, ':');
    s->port = colon ? atoi(colon + 1) : 0;
    /* Asked for any free port: say which one, or nobody can connect. */
    const char *asked = strrchr(addr, ':');
    if (strcmp(asked ? asked + 1 : addr, "0") == 0)
        fprintf(stderr, "pprofd: listening on %s\n", s->addr);

    /* The listener and the connection threads it starts are ours: mark
     * them so thread dumps can say so. */
    pprofd__threads_mark_server(1);
    s->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
        0, NULL, NULL, on_request, s,
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_SECONDS,
        MHD_OPTION_END);
    pprofd__threads_mark_server(0);
    if (!s->daemon) {
        fprintf(stderr, "pprofd: cannot start the HTTP server on %s\n", s->addr);
        goto fail;
    }
    return s;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s);
    return NULL;
}

PPROFD_API int pprofd_port(const pprofd_server *s)
{
    return s ? s->port : -1;
}

PPROFD_API void pprofd_stop(pprofd_server *s)
{
    if (!s)
        return;
    if (getpid() != s->pid) {
        /* A forked child: the server's threads are not here; only the
         * descriptor was inherited. */
        close(s->listen_fd);
        return;
    }
    atomic_store(&s->stopping, 1);
    /* libmicrohttpd must not be stopped with connections suspended: let the
     * workers see `stopping` (pprofd__wait polls it every 100 ms) and
     * resume theirs first. */
    while (atomic_load(&s->workers) > 0) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* Quiesce first: it hands the listening socket back, so it is closed
     * exactly once, by us. */
    int fd = MHD_quiesce_daemon(s->daemon);
    MHD_stop_daemon(s->daemon);
    close(fd >= 0 ? fd : s->listen_fd);
    free(s);
}
