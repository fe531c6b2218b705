/*
 * unwind — stack capture. See unwind.h for the contract and for what may
 * run in signal context.
 *
 * libunwind's unw_backtrace() walks .eh_frame with a per-thread cache and
 * allocates with mmap, not malloc, so it is safe to call from inside our
 * malloc interposer (the heap sampler's reentrancy guard covers the rest).
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <pthread.h>
#include <string.h>
#include <ucontext.h>

#include "sampler/unwind.h"

/* Depth of pprofd__unwind_here() calls on this thread; read by the SIGPROF
 * handler of the same thread. Initial-exec: no allocation on first touch. */
static __thread volatile int in_libunwind __attribute__((tls_model("initial-exec")));

int pprofd__unwind_busy(void)
{
    return in_libunwind;
}

__attribute__((noinline)) int pprofd__unwind_here(uintptr_t *pcs, int max, int skip)
{
    void *raw[PPROFD_MAX_DEPTH + 16];
    int want = max + skip + 1;
    if (want > (int)(sizeof raw / sizeof raw[0]))
        want = (int)(sizeof raw / sizeof raw[0]);

    /* raw[0] is this function itself. The compiler barriers keep the flag
     * set around the whole call, as a signal on this thread sees it. */
    in_libunwind++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    int n = unw_backtrace(raw, want);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    in_libunwind--;
    int out = 0;
    for (int i = 1 + skip; i < n && out < max; i++) {
        uintptr_t pc = (uintptr_t)raw[i];
        if (pc == 0)
            break;
        pcs[out++] = pc - 1;
    }
    return out;
}

/* The three registers a frame-pointer walk starts from. The only
 * architecture-specific part of this file. */
static int registers_of(const ucontext_t *uc, uintptr_t *pc, uintptr_t *sp, uintptr_t *fp)
{
#if defined(__x86_64__)
    *pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    *sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    *fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    return 1;
#elif defined(__aarch64__)
    *pc = (uintptr_t)uc->uc_mcontext.pc;
    *sp = (uintptr_t)uc->uc_mcontext.sp;
    *fp = (uintptr_t)uc->uc_mcontext.regs[29];
    return 1;
#else
    (void)uc;
    *pc = *sp = *fp = 0;
    return 0;
#endif
}

/* Async-signal-safe. Not instrumented: a garbage frame pointer that passes
 * the bounds check may point into a sanitizer's redzone, which is mapped
 * and harmless to read but would be reported. */
__attribute__((no_sanitize("address", "thread"))) int
pprofd__unwind_signal(const void *ucontext, uintptr_t stack_lo, uintptr_t stack_hi,
                      uintptr_t *pcs, int max)
{
    uintptr_t pc, sp, fp;
    if (max <= 0 || !registers_of(ucontext, &pc, &sp, &fp) || pc == 0)
        return 0;
    int n = 0;
    pcs[n++] = pc;
    /* An sp outside the known stack (an alternate signal stack, a
     * coroutine's stack) leaves nothing we know to be mapped. */
    if (stack_hi <= stack_lo || sp < stack_lo || sp >= stack_hi)
        return n;
    uintptr_t lo = sp;
    /* Each frame: fp[0] = caller's fp, fp[1] = return address. */
    while (n < max) {
        if (fp < lo || fp % sizeof(uintptr_t) != 0 || fp > stack_hi - 2 * sizeof(uintptr_t))
            break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        uintptr_t next = frame[0];
        uintptr_t ret = frame[1];
        if (ret == 0)
            break;
        pcs[n++] = ret - 1;
        /* Strictly rising: a loop in the chain cannot keep us here. */
        if (next <= fp)
            break;
        lo = fp + 2 * sizeof(uintptr_t);
        fp = next;
    }
    return n;
}

/* Async-signal-safe under the conditions in unwind.h. */
int pprofd__unwind_signal_dwarf(const void *ucontext, uintptr_t *pcs, int max)
{
    if (max <= 0)
        return 0;
    /* libunwind may write to the context it is given; work on a copy so the
     * kernel's saved state, restored at sigreturn, stays untouched. On
     * x86-64 and aarch64 unw_context_t is a ucontext_t. */
    unw_context_t context;
    memcpy(&context, ucontext, sizeof context < sizeof(ucontext_t) ? sizeof context
                                                                    : sizeof(ucontext_t));
    unw_cursor_t cursor;
    if (unw_init_local2(&cursor, &context, UNW_INIT_SIGNAL_FRAME) < 0)
        return 0;
    int n = 0;
    do {
        unw_word_t ip = 0;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        /* The first frame is the interrupted pc; the rest return addresses. */
        pcs[n] = n == 0 ? (uintptr_t)ip : (uintptr_t)ip - 1;
        n++;
    } while (n < max && unw_step(&cursor) > 0);
    return n;
}

static void warm_up_once(void)
{
    /* One full walk from here initialises libunwind's globals (its
     * once-lock, the address space and its caches) and reads the unwind
     * tables of the objects on this stack. */
    uintptr_t pcs[PPROFD_MAX_DEPTH];
    pprofd__unwind_here(pcs, PPROFD_MAX_DEPTH, 0);
    unw_context_t context;
    unw_cursor_t cursor;
    if (unw_getcontext(&context) == 0 && unw_init_local(&cursor, &context) == 0)
        while (unw_step(&cursor) > 0)
            ;
}

void pprofd__unwind_warm_up(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, warm_up_once);
}
