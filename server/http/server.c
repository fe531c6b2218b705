/*
 * server — the public API's start and stop: the listening socket (ours, so
 * a taken port is reported with its errno), the settings a server runs
 * with, libmicrohttpd's daemon and the one thread that polls it. Requests
 * themselves are request.c's; long ones run on pool.c's workers.
 *
 * One polling thread of ours, not libmicrohttpd's internal threads: with
 * them, a host that closes every descriptor (a daemon, at start) leaves
 * libmicrohttpd spinning on a dead epoll descriptor and aborting in
 * MHD_stop_daemon, and nothing can stop its threads without writing into
 * descriptors that may now be the host's. Our loop checks, before every
 * call into the daemon, that the listening socket is still the one we
 * opened (its inode); if not, it abandons that daemon without calling it
 * again (a small leak) and listens afresh on the same address. A single
 * poller also puts every connection under one connection limit: with two
 * epoll threads of 128 connections each, 200 keep-alive clients stalled
 * one of them at its limit, with the listen backlog overflowing.
 *
 * Signals: every thread of the server (the poller, the workers) starts
 * with every signal blocked but SIGPROF, the thread-dump signal and the
 * synchronous faults, so a host's handler (a SIGTERM that calls exit())
 * never runs on one of them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sampler/config.h"
#include "sampler/heap.h"
#include "sampler/threaddump.h"
#include "sampler/threads.h"
#include "server/http/guard.h"
#include "server/http/http.h"
#include "server/http/pool.h"

#define MAX_CONNECTIONS 1024
#define LISTEN_BACKLOG 4096 /* the kernel caps it at net.core.somaxconn */
#define IDLE_TIMEOUT_SECONDS 60
#define WORKER_THREADS 4
#define WORKER_QUEUE_CAP 64
#define POLL_MAX_MS 1000
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
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
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
    int any = 0;
    if (ss.ss_family == AF_INET6) {
        any = IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
        snprintf(shown, shown_size, "[%s]:%d", numeric, bound_port);
    } else {
        any = ss.ss_family == AF_INET &&
              ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
        snprintf(shown, shown_size, "%s:%d", numeric, bound_port);
    }
    /* Profiles hold the program's memory layout and more: say it once. */
    if (any)
        fprintf(stderr, "pprofd: serving %s on every interface: anyone who reaches this host "
                        "can read its profiles (PPROFD_TOKEN requires a token)\n", shown);
    return fd;
}

/* Block, in the calling thread, every signal that is not pprofd's own, so
 * that the threads it creates start with them blocked; the old mask in
 * *old. The thread-dump signal is chosen now, so that it can be left open
 * (pprofd's threads answer /threads like any other). Synchronous faults
 * stay open: blocking them would not stop the kernel from delivering. */
static void block_host_signals(sigset_t *old)
{
    static const int ours[] = {SIGPROF, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    sigset_t set;
    sigfillset(&set);
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        sigdelset(&set, ours[i]);
    int dump = pprofd__thread_dump_signal();
    if (dump > 0)
        sigdelset(&set, dump);
    pthread_sigmask(SIG_SETMASK, &set, old);
}

/* The listening socket's inode: the canary for "the host closed our
 * descriptors" (anonymous inodes, epoll's and eventfd's, all look alike). */
static void remember_listener(pprofd_server *s)
{
    struct stat st;
    if (fstat(s->listen_fd, &st) == 0) {
        s->listen_dev = st.st_dev;
        s->listen_ino = st.st_ino;
    }
}

static int listener_intact(const pprofd_server *s)
{
    struct stat st;
    return s->listen_fd >= 0 && fstat(s->listen_fd, &st) == 0 && st.st_ino == s->listen_ino &&
           st.st_dev == s->listen_dev;
}

/* A daemon on s->listen_fd, driven by our poller (no threads of its own). */
static struct MHD_Daemon *start_daemon(pprofd_server *s)
{
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, pprofd__on_request, s,
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_NOTIFY_COMPLETED, pprofd__on_completed, s,
        MHD_OPTION_URI_LOG_CALLBACK, pprofd__on_uri, s,
        /* libmicrohttpd's 32 KiB per connection ran out parsing ~600 query
         * parameters (2.4 KB of URL) and closed without an answer. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_SECONDS,
        MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    s->epoll_fd = info ? info->epoll_fd : -1;
    if (s->epoll_fd < 0) {
        int fd = MHD_quiesce_daemon(d); /* keep our listening socket */
        (void)fd;
        MHD_stop_daemon(d);
        return NULL;
    }
    return d;
}

/* The descriptors were closed under the daemon: never call it again (its
 * memory and connections are leaked; its descriptors' numbers may be the
 * host's now), and serve the same address with a new socket and daemon.
 * Workers still holding its connections leave them (pool.c's resume).
 * Polling thread only. */
static void listen_again(pprofd_server *s)
{
    pthread_mutex_lock(&s->daemon_lock);
    s->generation++;
    s->daemon = NULL;
    s->listen_fd = -1;
    s->wake_fd = -1;
    pthread_mutex_unlock(&s->daemon_lock);
    fprintf(stderr, "pprofd: the server's descriptors were closed under it; listening again on %s\n",
            s->addr);
    int said = 0;
    while (!atomic_load(&s->poller_exit)) {
        char err[512], shown[128];
        int fd = open_listener(s->addr, shown, sizeof shown, err, sizeof err);
        int wake = fd >= 0 ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
        if (fd >= 0 && wake >= 0) {
            pthread_mutex_lock(&s->daemon_lock);
            s->listen_fd = fd;
            s->wake_fd = wake;
            remember_listener(s);
            s->daemon = start_daemon(s);
            pthread_mutex_unlock(&s->daemon_lock);
            if (s->daemon)
                return;
            snprintf(err, sizeof err, "cannot start the HTTP server on %s", s->addr);
            pthread_mutex_lock(&s->daemon_lock);
            s->listen_fd = s->wake_fd = -1;
            pthread_mutex_unlock(&s->daemon_lock);
        }
        if (fd >= 0)
            close(fd);
        if (wake >= 0)
            close(wake);
        if (!said++)
            fprintf(stderr, "pprofd: %s; trying again every second\n", err);
        poll(NULL, 0, 1000);
    }
}

/* The one thread that drives libmicrohttpd: quick requests are answered
 * here, long ones handed to the pool. */
static void *poll_main(void *arg)
{
    pprofd_server *s = arg;
    pthread_setname_np(pthread_self(), "pprofd-http");
    while (!atomic_load(&s->poller_exit)) {
        if (!s->daemon || !listener_intact(s)) {
            listen_again(s);
            continue;
        }
        int ms = POLL_MAX_MS;
        MHD_UNSIGNED_LONG_LONG left;
        if (MHD_get_timeout(s->daemon, &left) == MHD_YES && left < (MHD_UNSIGNED_LONG_LONG)ms)
            ms = (int)left;
        struct pollfd p[2] = {{.fd = s->epoll_fd, .events = POLLIN},
                              {.fd = s->wake_fd, .events = POLLIN}};
        poll(p, 2, ms);
        if (p[1].revents & POLLIN) {
            uint64_t v;
            (void)!read(s->wake_fd, &v, sizeof v);
        }
        if (atomic_load(&s->poller_exit))
            break;
        if ((p[0].revents | p[1].revents) & POLLNVAL || !listener_intact(s)) {
            listen_again(s);
            continue;
        }
        MHD_run(s->daemon);
    }
    return NULL;
}

static void wake_poller(pprofd_server *s)
{
    pthread_mutex_lock(&s->daemon_lock);
    if (listener_intact(s) && s->wake_fd >= 0) {
        uint64_t one = 1;
        (void)!write(s->wake_fd, &one, sizeof one);
    }
    pthread_mutex_unlock(&s->daemon_lock);
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
    s->listen_fd = s->wake_fd = s->epoll_fd = -1;
    pthread_mutex_init(&s->daemon_lock, NULL);
    s->pid = getpid();
    s->cpu_hz = o.cpu_hz <= 0 ? config->cpu_hz : o.cpu_hz <= 1000 ? o.cpu_hz : PPROFD_DEFAULT_CPU_HZ;
    s->max_seconds = o.max_seconds > 0 ? o.max_seconds : config->max_seconds;
    if (o.mem_rate != 0)
        pprofd__heap_set_rate(o.mem_rate < 0 ? 0 : o.mem_rate);
    s->mem_rate = pprofd__heap_rate();
    if (o.mem_cap != 0)
        pprofd__heap_set_memory_cap(o.mem_cap); /* else $PPROFD_MEM_CAP (config.h) */

    if (pprofd__read_token(o.token ? o.token : config->token,
                           o.token_file ? o.token_file : config->token_file, s->token,
                           sizeof s->token, err, sizeof err) < 0) {
        fprintf(stderr, "pprofd: %s\n", err);
        goto fail;
    }

    s->listen_fd = open_listener(addr, s->addr, sizeof s->addr, err, sizeof err);
    if (s->listen_fd < 0) {
        fprintf(stderr, "pprofd: %s\n", err);
        goto fail;
    }
    remember_listener(s);
    const char *colon = strrchr(s->addr, ':');
    s->port = colon ? atoi(colon + 1) : 0;
    /* Asked for any free port: say which one, or nobody can connect. */
    const char *asked = strrchr(addr, ':');
    if (strcmp(asked ? asked + 1 : addr, "0") == 0)
        fprintf(stderr, "pprofd: listening on %s\n", s->addr);

    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->daemon = s->wake_fd >= 0 ? start_daemon(s) : NULL;
    if (!s->daemon) {
        fprintf(stderr, "pprofd: cannot start the HTTP server on %s\n", s->addr);
        goto fail;
    }

    /* The threads are ours: marked so thread dumps can say so, and with
     * the host's signals blocked. */
    sigset_t old;
    block_host_signals(&old);
    pprofd__threads_mark_server(1);
    s->pool = pprofd__pool_start(s, WORKER_THREADS, WORKER_QUEUE_CAP);
    int rc = s->pool ? pthread_create(&s->poller, NULL, poll_main, s) : EAGAIN;
    pprofd__threads_mark_server(0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        fprintf(stderr, "pprofd: cannot start the server's threads: %s\n", strerror(rc));
        pprofd__pool_stop(s->pool); /* nothing was served: nothing suspended */
        goto fail;
    }
    return s;
fail:
    if (s->daemon) {
        MHD_quiesce_daemon(s->daemon);
        MHD_stop_daemon(s->daemon);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    pthread_mutex_destroy(&s->daemon_lock);
    explicit_bzero(s->token, sizeof s->token);
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
         * descriptors were inherited. */
        close(s->listen_fd);
        close(s->wake_fd);
        return;
    }
    atomic_store(&s->stopping, 1);
    if (pprofd__threads_is_server()) {
        /* Called from one of the server's own threads (a handler of the
         * host's that our mask let through): it cannot wait for itself.
         * The server stops answering long requests and is left running. */
        return;
    }
    /* Requests arriving from now on get 503 (long ones) or their quick
     * answer; the workers finish or give up theirs and resume every
     * suspended connection before the daemon is stopped, which
     * libmicrohttpd requires (it aborts otherwise). */
    pprofd__pool_stop(s->pool);
    atomic_store(&s->poller_exit, 1);
    wake_poller(s);
    pthread_join(s->poller, NULL);
    if (s->daemon && listener_intact(s)) {
        /* Quiesce first: it hands the listening socket back, so it is
         * closed exactly once, by us. */
        int fd = MHD_quiesce_daemon(s->daemon);
        MHD_stop_daemon(s->daemon);
        close(fd >= 0 ? fd : s->listen_fd);
        close(s->wake_fd);
    }
    /* Else the daemon was abandoned (listen_again): never called again. */
    pthread_mutex_destroy(&s->daemon_lock);
    explicit_bzero(s->token, sizeof s->token);
    free(s);
}
