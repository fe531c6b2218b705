/*
 * interpose/dlfcn — dlclose, so that frame rules learnt for an object's
 * addresses (sampler/unwind.h) are forgotten once it is unmapped: other code
 * may be mapped there next. Normal context only.
 */
#include <dlfcn.h>
#include <stdatomic.h>

#include "sampler/unwind.h"

/* Referenced by unwind.c so that a static link always brings this file
 * along with the rule table it clears (see there). */
const char pprofd__interpose_dlfcn = 1;

__attribute__((visibility("default"))) int dlclose(void *handle)
{
    typedef int (*dlclose_fn)(void *);
    static _Atomic(dlclose_fn) real;
    dlclose_fn f = atomic_load_explicit(&real, memory_order_acquire);
    if (!f) {
        f = (dlclose_fn)dlsym(RTLD_NEXT, "dlclose");
        if (!f)
            return -1;
        atomic_store_explicit(&real, f, memory_order_release);
    }
    int rc = f(handle);
    pprofd__unwind_forget();
    return rc;
}
