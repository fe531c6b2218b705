/*
 * preload — zero-code activation. When libpprofd is loaded through
 * LD_PRELOAD and PPROFD_ADDR is set, a constructor starts the server and a
 * destructor stops it at exit. Linked normally, or without PPROFD_ADDR, it
 * does nothing visible (heap sampling still runs, as the malloc interposer
 * is always there).
 */
#include "pprofd.h"
#include "sampler/config.h"
#include "sampler/heap.h"
#include "sampler/threads.h"

static pprofd_server *preloaded;

__attribute__((constructor(101))) static void pprofd_preload_start(void)
{
    pprofd__threads_register_self();
    pprofd__heap_stacks(); /* initialise the sampler before threads appear */
    const pprofd__settings *config = pprofd__config();
    if (!config->addr[0] || !config->preloaded)
        return;
    /* A program run by a process that serves this address inherited the
     * setting with the library: the port is taken, and saying so from
     * every child (a shell script's every command) helps nobody. */
    if (pprofd__config_inherited_server())
        return;
    preloaded = pprofd_start(&(pprofd_options){.addr = config->addr});
    if (preloaded)
        pprofd__config_mark_serving();
}

__attribute__((destructor)) static void pprofd_preload_stop(void)
{
    pprofd_server *s = preloaded;
    preloaded = NULL;
    pprofd_stop(s);
}
