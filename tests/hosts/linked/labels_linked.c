/* A host with pprofd linked in that labels its work: the same function,
 * work(), runs under job=a one quarter of the time and under job=b three
 * quarters, and keep() keeps 8 MiB under job=a and 24 MiB under job=b, so
 * only the labels tell the two apart. Prints "ready", runs until SIGTERM. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pprofd.h"

static volatile sig_atomic_t stop;
static volatile uint64_t sink;
static void *kept[4096];
static int nkept;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

__attribute__((noipa)) void work(int units)
{
    uint64_t x = sink;
    for (int i = 0; i < units * 20000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
}

__attribute__((noipa)) void keep(size_t bytes)
{
    for (size_t total = 0; total < bytes; total += 8192) {
        kept[nkept] = malloc(8192);
        memset(kept[nkept++], 1, 8192);
    }
}

int main(void)
{
    signal(SIGTERM, on_term);
    pprofd_server *server = pprofd_start(NULL); /* $PPROFD_ADDR */
    if (!server)
        return 1;
    pprofd_labels a = pprofd_labels_with(PPROFD_NO_LABELS, "job", "a");
    pprofd_labels b = pprofd_labels_with(PPROFD_NO_LABELS, "job", "b");
    pprofd_labels prev = pprofd_labels_set(a);
    keep(8u << 20);
    pprofd_labels_set(b);
    keep(24u << 20);
    pprofd_labels_set(prev);
    printf("ready\n");
    fflush(stdout);
    while (!stop) {
        prev = pprofd_labels_set(a);
        work(1);
        pprofd_labels_set(b);
        work(3);
        pprofd_labels_set(prev);
    }
    for (int i = 0; i < nkept; i++)
        free(kept[i]);
    pprofd_stop(server);
    return 0;
}
