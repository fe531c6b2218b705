/* A host that runs a child on demand, for test-e2e-exec-fds: on SIGUSR1 it
 * runs `ls -l /proc/self/fd` through system() with the child's listing in
 * $FD_LIST, then prints "listed". Prints "ready" first; exits on SIGTERM.
 * Its children are started without LD_PRELOAD. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t asked, stop;

static void on_usr1(int sig)
{
    (void)sig;
    asked = 1;
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    signal(SIGUSR1, on_usr1);
    signal(SIGTERM, on_term);
    /* The children must not load pprofd themselves: what they hold is then
     * only what they inherited. */
    unsetenv("LD_PRELOAD");
    printf("ready\n");
    fflush(stdout);
    while (!stop) {
        if (asked) {
            asked = 0;
            if (system("ls -l /proc/self/fd/ > \"$FD_LIST\" 2>&1") != 0)
                printf("system failed\n");
            printf("listed\n");
            fflush(stdout);
        }
        usleep(10000);
    }
    return 0;
}
