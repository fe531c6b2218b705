/* A program that loads libpprofd with dlopen (its path in argv[1]) instead
 * of LD_PRELOAD or linking, starts the server through dlsym and prints
 * "127.0.0.1:PORT" and "ready". Its malloc stays the C library's: for
 * test-e2e-dlopen-warning, pprofd must say so rather than serve heap
 * profiles that are silently empty. Runs until SIGTERM. */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pprofd.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    signal(SIGTERM, on_term);
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    pprofd_server *(*start)(const pprofd_options *) =
        (pprofd_server * (*)(const pprofd_options *)) dlsym(lib, "pprofd_start");
    int (*port)(const pprofd_server *) = (int (*)(const pprofd_server *))dlsym(lib, "pprofd_port");
    void (*stop_server)(pprofd_server *) = (void (*)(pprofd_server *))dlsym(lib, "pprofd_stop");
    if (!start || !port || !stop_server)
        return 1;
    pprofd_server *s = start(&(pprofd_options){.addr = "127.0.0.1:0"});
    if (!s)
        return 1;
    printf("127.0.0.1:%d\nready\n", port(s));
    fflush(stdout);
    while (!stop) {
        free(malloc(1 << 20));
        usleep(1000);
    }
    stop_server(s);
    return 0;
}
