/*
 * interpose/pthread — pthread_create, so that every thread the host makes
 * is registered (sampler/threads.h) and its creating stack is counted for
 * the threadcreate profile.
 *
 * The real function is resolved once with dlsym(RTLD_NEXT); dlsym may
 * allocate, which is fine here: our malloc never needs pthread_create.
 * Normal context only (it allocates the trampoline's arguments).
 *
 * Cost per pthread_create: one unwind of the creator's stack (a few
 * microseconds with libunwind) and one lock-free stack-table insert, on top
 * of the malloc of the trampoline's arguments.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sampler/threads.h"
#include "sampler/unwind.h"

/* Referenced by threads.c so that a static link always brings this file
 * along with the registry it feeds (see there). */
const char pprofd__interpose_pthread = 1;

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

__attribute__((visibility("default"))) int pthread_create(pthread_t *thread,
                                                          const pthread_attr_t *attr,
                                                          void *(*fn)(void *), void *arg)
{
    static _Atomic(create_fn) real;
    create_fn f = atomic_load_explicit(&real, memory_order_acquire);
    if (!f) {
        f = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
        if (!f)
            return EAGAIN;
        atomic_store_explicit(&real, f, memory_order_release);
    }
    /* The creator's stack, leaf = the call site of pthread_create. */
    uintptr_t pcs[PPROFD_MAX_DEPTH + 2];
    int depth = pprofd__unwind_here(pcs, PPROFD_MAX_DEPTH + 2, 1);
    void *start_arg = pprofd__thread_start_args(fn, arg);
    int rc = start_arg ? f(thread, attr, pprofd__thread_start, start_arg) : f(thread, attr, fn, arg);
    if (rc != 0)
        pprofd__thread_start_args_free(start_arg);
    else
        pprofd__threadcreate_record(pcs, depth);
    return rc;
}
