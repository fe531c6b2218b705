/* A host whose SIGTERM handler calls exit(), as many daemons' do: run
 * under LD_PRELOAD, pprofd's destructor then stops the server from the exit
 * path with clients mid-request. Prints "ready", sleeps until killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void on_term(int sig)
{
    (void)sig;
    exit(0);
}

int main(void)
{
    signal(SIGTERM, on_term);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
