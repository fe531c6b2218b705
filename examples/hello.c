/*
 * hello.c — a C program that serves its own profiles through pprofd's API.
 *
 *   ./hello-c [host:port]      (default $PPROFD_ADDR, else 127.0.0.1:1234)
 *   go tool pprof -top http://127.0.0.1:1234/debug/pprof/allocs
 *
 * It allocates in make_greetings() until Ctrl-C or SIGTERM, then stops the
 * server and exits 0. Build it against an installed pprofd with the
 * Makefile (pkg-config) or CMakeLists.txt (find_package) next to it.
 */
#include <pprofd.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Some allocation churn for the allocs profile to show, by name. */
__attribute__((noinline)) static size_t make_greetings(int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        char *s = malloc(256 + (size_t)i % 256);
        if (!s)
            return total;
        total += (size_t)snprintf(s, 256, "hello #%d from a C program", i);
        free(s);
    }
    return total;
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    /* Zero fields are defaults; a NULL addr means $PPROFD_ADDR, else
     * 127.0.0.1:1234. Port 0 picks a free port. */
    pprofd_options options = {0};
    options.addr = argc > 1 ? argv[1] : NULL;
    pprofd_server *server = pprofd_start(&options);
    if (!server)
        return 1; /* pprofd printed why */

    /* A program built against one pprofd and run with another would say
     * so here. */
    if (strcmp(pprofd_version(), PPROFD_VERSION) != 0)
        fprintf(stderr, "hello-c: built with pprofd %s, running with %s\n", PPROFD_VERSION,
                pprofd_version());
    printf("hello-c: pprofd %s serving http://127.0.0.1:%d/debug/pprof/\n", pprofd_version(),
           pprofd_port(server));
    fflush(stdout);

    size_t made = 0;
    while (!stop) {
        made += make_greetings(1000);
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }

    pprofd_stop(server);
    printf("hello-c: made %zu bytes of greetings; bye\n", made);
    return 0;
}
