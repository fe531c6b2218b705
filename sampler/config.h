/*
 * config — every PPROFD_* environment variable, read once.
 *
 * The environment is read the first time anything asks (the library's
 * first malloc, usually before any constructor runs) or, failing that, by
 * a constructor when the library loads; never again. A host that changes
 * its environment later changes nothing here, and no server thread reads
 * the environment at a time a client chooses. Nothing else in pprofd reads
 * the environment.
 *
 * Reading allocates nothing, takes no lock and calls nothing that might
 * (the first malloc may be the caller): a walk of the environment array
 * and strtol.
 * Concurrent first callers wait for the one reading (microseconds).
 * pprofd__config() is async-signal-safe once the configuration is read.
 *
 * Values are as the variables give them, checked for form; where a value
 * is missing or malformed the field holds the default. pprofd_options
 * fields, where a caller sets them, take precedence (the server decides
 * that, not this file).
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_CONFIG_H
#define PPROFD_CONFIG_H

#include <stddef.h>

#define PPROFD_DEFAULT_MEM_RATE 524288
#define PPROFD_DEFAULT_CPU_HZ 100
#define PPROFD_DEFAULT_MAX_SECONDS 300

typedef struct pprofd__settings {
    char addr[256];    /* PPROFD_ADDR; "" when unset or too long */
    int preloaded;     /* LD_PRELOAD names a file with "pprofd" in it */
    long mem_rate;     /* PPROFD_MEM_RATE: mean bytes between samples; 0 off */
    size_t mem_cap;    /* PPROFD_MEM_CAP in bytes; 0 when unset (the heap's default) */
    int cpu_hz;        /* PPROFD_CPU_HZ, 1..1000 */
    int max_seconds;   /* PPROFD_MAX_SECONDS, > 0 */
    int cpu_setitimer; /* PPROFD_CPU_TIMER=setitimer: the process-wide timer */
    long cpu_stacks;   /* PPROFD_CPU_STACKS, 1..2^22; 0 when unset (the default) */
    int unwind_check;  /* PPROFD_UNWIND_CHECK > 0 */
    char profile_dir[256]; /* PPROFD_PROFILE_DIR: profiles written there at exit; "" unset */
    char token[256];       /* PPROFD_TOKEN: the bearer token requests need; "" none */
    char token_file[256];  /* PPROFD_TOKEN_FILE: a file holding it; "" unset */
    long server_pid;       /* PPROFD_SERVER_PID: the process serving PPROFD_ADDR, set by
                            * it for its children (pprofd__config_mark_serving); 0 unset */
} pprofd__settings;

/* The configuration, read on the first call. Never NULL. */
const pprofd__settings *pprofd__config(void);

/* Under LD_PRELOAD, the process that serves $PPROFD_ADDR says so in its
 * own environment (PPROFD_SERVER_PID), so that the programs it runs, which
 * inherit both, know the address is taken and stay quiet. */
void pprofd__config_mark_serving(void);

/* Whether this process should leave $PPROFD_ADDR alone under LD_PRELOAD:
 * an ancestor serves it and the port is a fixed one (port 0 gives every
 * process a port of its own, so each may serve). */
int pprofd__config_inherited_server(void);

/* Tests only: the same structure, writable, to try a setting without
 * re-executing the test. Not thread-safe against readers. */
pprofd__settings *pprofd__config_for_tests(void);

#endif
