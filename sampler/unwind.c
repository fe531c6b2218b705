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

/* Follow the frame-pointer chain from fp, appending call sites to pcs[n..max).
 * Loads stay in [lo, hi): lo is at or above the interrupted sp, so the range
 * is mapped whenever [lo, hi) is the thread's stack. Async-signal-safe. Not
 * instrumented: a garbage frame pointer that passes the bounds check may
 * point into a sanitizer's redzone, which is mapped and harmless to read
 * but would be reported. */
__attribute__((no_sanitize("address", "thread"))) static int
walk_frame_pointers(uintptr_t fp, uintptr_t lo, uintptr_t hi, uintptr_t *pcs, int n, int max)
{
    /* Each frame: fp[0] = caller's fp, fp[1] = return address. */
    while (n < max) {
        if (fp < lo || fp % sizeof(uintptr_t) != 0 || hi < 2 * sizeof(uintptr_t) ||
            fp > hi - 2 * sizeof(uintptr_t))
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

/* An sp outside the known stack (an alternate signal stack, a coroutine's
 * stack) leaves nothing we know to be mapped. */
static int on_known_stack(uintptr_t sp, uintptr_t lo, uintptr_t hi)
{
    return hi > lo && sp >= lo && sp < hi;
}

/* Async-signal-safe. */
int pprofd__unwind_signal(const void *ucontext, uintptr_t stack_lo, uintptr_t stack_hi,
                          uintptr_t *pcs, int max)
{
    uintptr_t pc, sp, fp;
    if (max <= 0 || !registers_of(ucontext, &pc, &sp, &fp) || pc == 0)
        return 0;
    pcs[0] = pc;
    if (!on_known_stack(sp, stack_lo, stack_hi))
        return 1;
    return walk_frame_pointers(fp, sp, stack_hi, pcs, 1, max);
}

/* libunwind needs a context it may write to; the kernel's saved state,
 * restored at sigreturn, must stay untouched. On x86-64 and aarch64
 * unw_context_t is a ucontext_t. */
static int init_cursor(unw_cursor_t *cursor, unw_context_t *context, const void *ucontext)
{
    memcpy(context, ucontext,
           sizeof *context < sizeof(ucontext_t) ? sizeof *context : sizeof(ucontext_t));
    return unw_init_local2(cursor, context, UNW_INIT_SIGNAL_FRAME);
}

/* Continue a DWARF walk from the cursor's current frame (already stored at
 * pcs[n-1]). */
static int walk_dwarf(unw_cursor_t *cursor, uintptr_t *pcs, int n, int max)
{
    while (n < max && unw_step(cursor) > 0) {
        unw_word_t ip = 0;
        if (unw_get_reg(cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        pcs[n++] = (uintptr_t)ip - 1;
    }
    return n;
}

/* Async-signal-safe under the conditions in unwind.h. */
int pprofd__unwind_signal_dwarf(const void *ucontext, uintptr_t *pcs, int max)
{
    unw_context_t context;
    unw_cursor_t cursor;
    uintptr_t pc, sp, fp;
    if (max <= 0 || !registers_of(ucontext, &pc, &sp, &fp) || pc == 0)
        return 0;
    pcs[0] = pc;
    if (init_cursor(&cursor, &context, ucontext) < 0)
        return 1;
    return walk_dwarf(&cursor, pcs, 1, max);
}

#if defined(__x86_64__)
#define UNW_FRAME_POINTER UNW_X86_64_RBP
#elif defined(__aarch64__)
#define UNW_FRAME_POINTER UNW_AARCH64_X29
#endif

/* Async-signal-safe under the conditions in unwind.h. */
int pprofd__unwind_signal_mixed(const void *ucontext, uintptr_t stack_lo, uintptr_t stack_hi,
                                uintptr_t *pcs, int max, int *all_dwarf)
{
    unw_context_t context;
    unw_cursor_t cursor;
    uintptr_t pc, sp, fp;
    *all_dwarf = 0;
    if (max <= 0 || !registers_of(ucontext, &pc, &sp, &fp) || pc == 0)
        return 0;
    pcs[0] = pc;
#ifdef UNW_FRAME_POINTER
    if (max < 2 || init_cursor(&cursor, &context, ucontext) < 0 || unw_step(&cursor) <= 0)
        return pprofd__unwind_signal(ucontext, stack_lo, stack_hi, pcs, max);
    unw_word_t ip = 0, caller_sp = 0, caller_fp = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
        return 1;
    pcs[1] = (uintptr_t)ip - 1;
    /* The leaf's frame by DWARF: leaves often keep no frame, and the frame
     * pointer then still names their caller's frame, which a pure
     * frame-pointer walk would read as the leaf's and so skip the caller. */
    if (on_known_stack(sp, stack_lo, stack_hi) &&
        unw_get_reg(&cursor, UNW_REG_SP, &caller_sp) == 0 &&
        unw_get_reg(&cursor, UNW_FRAME_POINTER, &caller_fp) == 0 && caller_sp >= sp) {
        int n = walk_frame_pointers((uintptr_t)caller_fp, (uintptr_t)caller_sp, stack_hi, pcs,
                                    2, max);
        if (n <= 2)
            goto dwarf;
        /* Trust the chain only if the caller keeps a frame pointer: then
         * the chain's next return address is the one DWARF finds. A caller
         * built without them leaves its own caller's frame in the
         * register, and the chain would skip a frame. */
        unw_word_t next_ip = 0;
        if (unw_step(&cursor) <= 0 || unw_get_reg(&cursor, UNW_REG_IP, &next_ip) < 0 ||
            next_ip == 0)
            return n;
        if ((uintptr_t)next_ip - 1 == pcs[2])
            return n;
        pcs[2] = (uintptr_t)next_ip - 1;
        *all_dwarf = 1;
        return walk_dwarf(&cursor, pcs, 3, max);
    }
dwarf:
    /* No usable frame pointer past the leaf: code built without them. */
    *all_dwarf = 1;
    return walk_dwarf(&cursor, pcs, 2, max);
#else
    (void)context;
    (void)cursor;
    return pprofd__unwind_signal(ucontext, stack_lo, stack_hi, pcs, max);
#endif
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
