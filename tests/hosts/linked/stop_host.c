/* A host with pprofd linked in that tries to hurt itself through it.
 *   stop     64 client threads poll heap?seconds=1 and profile?seconds=1;
 *            pprofd_stop() after 300 ms. Every answer must be a 200, or a
 *            503 with Retry-After, or a closed connection; none may hang.
 *   closefds close fds 3-1023 as a daemon does, reuse the numbers, then
 *            the server must answer cmdline again, and stop cleanly.
 *   sigmask  every pprofd thread (pprofd-*) blocks SIGTERM and SIGINT.
 * Exits 0 when all held; prints what failed otherwise. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pprofd.h"

static int port;
static atomic_int stopped, bad, ok200, ok503, closed;

/* One GET; the status, 0 for a closed/refused connection, -1 for a hang
 * or an answer that breaks the contract. */
static int get(const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct timeval tv = {15, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return 0;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET /debug/pprof/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return 0;
    }
    char head[4096];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof head - 1 && (r = read(fd, head + got, sizeof head - 1 - got)) > 0)
        got += (size_t)r;
    int timed_out = r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    /* drain the rest */
    char sink[65536];
    while (!timed_out && (r = read(fd, sink, sizeof sink)) > 0)
        ;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        timed_out = 1;
    close(fd);
    head[got] = 0;
    if (timed_out) {
        fprintf(stderr, "hung: GET %s\n", path);
        return -1;
    }
    if (got == 0)
        return 0;
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    if (status == 503 && !strstr(head, "\nRetry-After:")) {
        fprintf(stderr, "503 without Retry-After: %s\n", head);
        return -1;
    }
    return status;
}

static void *client(void *arg)
{
    const char *path = (intptr_t)arg & 1 ? "profile?seconds=1" : "heap?seconds=1";
    while (!atomic_load(&stopped)) {
        int st = get(path);
        if (st == 200)
            atomic_fetch_add(&ok200, 1);
        else if (st == 503)
            atomic_fetch_add(&ok503, 1);
        else if (st == 0)
            atomic_fetch_add(&closed, 1);
        else if (st == 409) /* another profile at another hz: allowed */
            ;
        else {
            fprintf(stderr, "bad answer %d for %s\n", st, path);
            atomic_fetch_add(&bad, 1);
        }
    }
    return NULL;
}

static int run_stop(pprofd_server *s)
{
    pthread_t t[64];
    for (intptr_t i = 0; i < 64; i++)
        pthread_create(&t[i], NULL, client, (void *)i);
    nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
    pprofd_stop(s);
    atomic_store(&stopped, 1);
    for (int i = 0; i < 64; i++)
        pthread_join(t[i], NULL);
    printf("stop: 200=%d 503=%d closed=%d bad=%d\n", ok200, ok503, closed, bad);
    return bad ? 1 : 0;
}

static int run_closefds(pprofd_server *s)
{
    (void)s;
    /* As a daemon does it: at start, before any client came. */
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    /* Reuse the numbers as a daemon would: files, an epoll, an eventfd. */
    int ep = epoll_create1(0), ev = eventfd(0, 0);
    int files[16];
    for (int i = 0; i < 16; i++)
        files[i] = open("/dev/null", O_RDWR);
    (void)ep, (void)ev, (void)files;
    int st = 0;
    for (int i = 0; i < 100 && st != 200; i++) {
        st = get("cmdline");
        if (st != 200)
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    if (st != 200) {
        fprintf(stderr, "the server no longer answers after the fds were closed (%d)\n", st);
        return 1;
    }
    pprofd_stop(s);
    printf("closefds: answered again, stopped\n");
    return 0;
}

static int run_sigmask(pprofd_server *s)
{
    int bad_threads = 0, seen = 0;
    /* The threads name themselves as they start. */
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[320], line[256], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fgets(name, sizeof name, f))
                name[strcspn(name, "\n")] = 0;
            fclose(f);
        }
        if (strncmp(name, "pprofd-", 7) != 0 && strncmp(name, "MHD-", 4) != 0)
            continue;
        seen++;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        unsigned long long blk = 0;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "SigBlk: %llx", &blk) == 1)
                break;
        if (f)
            fclose(f);
        unsigned long long want = 1ull << (SIGTERM - 1) | 1ull << (SIGINT - 1) |
                                  1ull << (SIGUSR1 - 1) | 1ull << (SIGCHLD - 1);
        unsigned long long must_not = 1ull << (SIGPROF - 1);
        if ((blk & want) != want || (blk & must_not)) {
            fprintf(stderr, "thread %s (%s) SigBlk %llx\n", e->d_name, name, blk);
            bad_threads++;
        }
    }
    if (d)
        closedir(d);
    pprofd_stop(s);
    printf("sigmask: %d pprofd threads, %d with host signals open\n", seen, bad_threads);
    return seen == 0 || bad_threads ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "stop";
    pprofd_server *s = pprofd_start(&(pprofd_options){.addr = "127.0.0.1:0"});
    if (!s)
        return 2;
    port = pprofd_port(s);
    if (strcmp(mode, "stop") == 0)
        return run_stop(s);
    if (strcmp(mode, "closefds") == 0)
        return run_closefds(s);
    if (strcmp(mode, "sigmask") == 0)
        return run_sigmask(s);
    return 2;
}
