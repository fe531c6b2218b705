/*
 * server — the public API's start and stop: the listening socket (ours, so
 * a taken port is reported with its errno), the settings a server runs
 * with, and libmicrohttpd's daemon. libmicrohttpd serves the socket with a
 * pool of epoll threads: under many concurrent keep-alive clients (hey's
 * 50) a thread per connection spends the machine on context switches.
 * Requests themselves are request.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
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

#define MAX_CONNECTIONS 256
#define POOL_THREADS 2
#define IDLE_TIMEOUT_SECONDS 60
#define DEFAULT_ADDR "127.0.0.1:1234"

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
        0, NULL, NULL, pprofd__on_request, s,
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS,
        MHD_OPTION_NOTIFY_COMPLETED, pprofd__on_completed, s,
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
