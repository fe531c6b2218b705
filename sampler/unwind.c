/*
 * unwind — stack capture. See unwind.h for the contract.
 *
 * libunwind's unw_backtrace() walks .eh_frame with a per-thread cache and
 * allocates with mmap, not malloc, so it is safe to call from inside our
 * malloc interposer (the heap sampler's reentrancy guard covers the rest).
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "sampler/unwind.h"

__attribute__((noinline)) int pprofd__unwind_here(uintptr_t *pcs, int max, int skip)
{
    void *raw[PPROFD_MAX_DEPTH + 16];
    int want = max + skip + 1;
    if (want > (int)(sizeof raw / sizeof raw[0]))
        want = (int)(sizeof raw / sizeof raw[0]);

    /* raw[0] is this function itself. */
    int n = unw_backtrace(raw, want);
    int out = 0;
    for (int i = 1 + skip; i < n && out < max; i++) {
        uintptr_t pc = (uintptr_t)raw[i];
        if (pc == 0)
            break;
        pcs[out++] = pc - 1;
    }
    return out;
}
