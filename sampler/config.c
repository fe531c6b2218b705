/* config — see config.h. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "sampler/config.h"

extern char **__environ;

static pprofd__settings config;
static _Atomic int state; /* 0 unread, 1 reading, 2 read */

/* getenv without locks or allocation, and with secure_getenv's rule: a
 * setuid or setgid program (AT_SECURE) ignores its environment, or anyone
 * who may run it could make it serve its memory on every interface. */
static const char *env(const char *name)
{
    if (getauxval(AT_SECURE))
        return NULL;
    size_t len = strlen(name);
    for (char **e = __environ; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/* A decimal integer filling the whole value, or dflt when unset, empty or
 * malformed. strtol neither allocates nor locks. */
static long env_integer(const char *name, long dflt)
{
    const char *s = env(name);
    if (!s || !*s)
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end)
        return dflt;
    return v;
}

static void read_environment(pprofd__settings *c)
{
    const char *addr = env("PPROFD_ADDR");
    if (addr && strlen(addr) < sizeof c->addr)
        strcpy(c->addr, addr);
    const char *preload = env("LD_PRELOAD");
    c->preloaded = preload && strstr(preload, "pprofd") != NULL;

    c->mem_rate = env_integer("PPROFD_MEM_RATE", PPROFD_DEFAULT_MEM_RATE);
    if (c->mem_rate < 0)
        c->mem_rate = PPROFD_DEFAULT_MEM_RATE;
    long cap = env_integer("PPROFD_MEM_CAP", 0);
    c->mem_cap = cap > 0 ? (size_t)cap : 0;

    long hz = env_integer("PPROFD_CPU_HZ", PPROFD_DEFAULT_CPU_HZ);
    c->cpu_hz = hz >= 1 && hz <= 1000 ? (int)hz : PPROFD_DEFAULT_CPU_HZ;
    long max = env_integer("PPROFD_MAX_SECONDS", PPROFD_DEFAULT_MAX_SECONDS);
    c->max_seconds = max > 0 && max <= (1l << 30) ? (int)max : PPROFD_DEFAULT_MAX_SECONDS;

    const char *timer = env("PPROFD_CPU_TIMER");
    c->cpu_setitimer = timer && strcmp(timer, "setitimer") == 0;
    long stacks = env_integer("PPROFD_CPU_STACKS", 0);
    c->cpu_stacks = stacks > 0 && stacks <= (1l << 22) ? stacks : 0;
    c->unwind_check = env_integer("PPROFD_UNWIND_CHECK", 0) > 0;
    const char *dir = env("PPROFD_PROFILE_DIR");
    if (dir && strlen(dir) < sizeof c->profile_dir)
        strcpy(c->profile_dir, dir);
    const char *token = env("PPROFD_TOKEN");
    if (token && strlen(token) < sizeof c->token)
        strcpy(c->token, token);
    c->server_pid = env_integer("PPROFD_SERVER_PID", 0);
    const char *token_file = env("PPROFD_TOKEN_FILE");
    if (token_file && strlen(token_file) < sizeof c->token_file)
        strcpy(c->token_file, token_file);
}

const pprofd__settings *pprofd__config(void)
{
    if (__builtin_expect(atomic_load_explicit(&state, memory_order_acquire) == 2, 1))
        return &config;
    int expected = 0;
    if (atomic_compare_exchange_strong(&state, &expected, 1)) {
        read_environment(&config);
        atomic_store_explicit(&state, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(&state, memory_order_acquire) != 2)
            sched_yield();
    }
    return &config;
}

void pprofd__config_mark_serving(void)
{
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("PPROFD_SERVER_PID", pid, 1);
}

int pprofd__config_inherited_server(void)
{
    const pprofd__settings *c = pprofd__config();
    if (c->server_pid <= 0 || c->server_pid == (long)getpid())
        return 0;
    /* The server gone, the address may be free again: serve it then. */
    if (kill((pid_t)c->server_pid, 0) < 0 && errno == ESRCH)
        return 0;
    const char *colon = strrchr(c->addr, ':');
    const char *port = colon ? colon + 1 : c->addr;
    return strcmp(port, "0") != 0;
}

pprofd__settings *pprofd__config_for_tests(void)
{
    pprofd__config();
    return &config;
}

/* Read when the library loads, if no malloc asked first. */
__attribute__((constructor(101))) static void read_at_load(void)
{
    pprofd__config();
}
