/* fork — see fork.h for the order of the steps. */
#include <pthread.h>
#include <stdatomic.h>

#include "sampler/cpu.h"
#include "sampler/fork.h"
#include "sampler/heap.h"
#include "sampler/threaddump.h"

static _Atomic(void (*)(void)) child_steps[PPROFD_FORK_SLOTS];

static void prepare(void)
{
    pprofd__cpu_fork_prepare();
    pprofd__heap_fork_prepare();
}

static void parent(void)
{
    pprofd__heap_fork_release();
    pprofd__cpu_fork_parent();
}

static void child(void)
{
    pprofd__heap_fork_release();
    pprofd__cpu_fork_child();
    pprofd__thread_dump_fork_child();
    for (int i = 0; i < PPROFD_FORK_SLOTS; i++) {
        void (*step)(void) = atomic_load(&child_steps[i]);
        if (step)
            step();
    }
}

static void register_handlers(void)
{
    pthread_atfork(prepare, parent, child);
}

void pprofd__fork_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_handlers);
}

void pprofd__fork_on_child(pprofd__fork_slot slot, void (*step)(void))
{
    pprofd__fork_init();
    if (slot >= 0 && slot < PPROFD_FORK_SLOTS)
        atomic_store(&child_steps[slot], step);
}
