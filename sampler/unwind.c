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
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <ucontext.h>

#include "sampler/unwind.h"

/* Bring the dlclose interposer into every static link that has the rule
 * table (the reason is threads.c's, for pthread_create). */
extern const char pprofd__interpose_dlfcn;
__attribute__((used)) static const char *const pull_interposer = &pprofd__interpose_dlfcn;

/* Depth of pprofd__unwind_here() calls on this thread; read by the SIGPROF
 * handler of the same thread. Initial-exec: no allocation on first touch. */
static __thread volatile int in_libunwind __attribute__((tls_model("initial-exec")));

int pprofd__unwind_busy(void)
{
    return in_libunwind;
}

/* fork() while another thread is inside libunwind would leave the child
 * with libunwind's cache lock, or the loader's lock it takes through
 * dl_iterate_phdr, held by a thread that does not exist there: the child's
 * first walk would hang. The sampler's fork handler closes this gate and
 * waits for the walks in flight (they take microseconds); walks arriving
 * meanwhile wait for the gate to open. Walks are rare since the heap
 * sampler walks by frame rules, so the shared counter costs nothing that
 * shows. The CPU profiler's walks in signal handlers cannot wait and do
 * not take part. */
static _Atomic int walks_in_flight;
static _Atomic int fork_gate_closed;

static void walk_enter(void)
{
    for (;;) {
        while (atomic_load_explicit(&fork_gate_closed, memory_order_acquire))
            sched_yield();
        atomic_fetch_add_explicit(&walks_in_flight, 1, memory_order_seq_cst);
        if (!atomic_load_explicit(&fork_gate_closed, memory_order_seq_cst))
            break;
        atomic_fetch_sub_explicit(&walks_in_flight, 1, memory_order_release);
    }
    in_libunwind++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static void walk_exit(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    in_libunwind--;
    atomic_fetch_sub_explicit(&walks_in_flight, 1, memory_order_release);
}

void pprofd__unwind_fork_prepare(void)
{
    atomic_store_explicit(&fork_gate_closed, 1, memory_order_seq_cst);
    /* A thread forking from inside a walk of its own is not waited for. */
    while (atomic_load_explicit(&walks_in_flight, memory_order_seq_cst) > in_libunwind)
        sched_yield();
}

void pprofd__unwind_fork_done(void)
{
    atomic_store_explicit(&fork_gate_closed, 0, memory_order_release);
}

__attribute__((noinline)) int pprofd__unwind_here(uintptr_t *pcs, int max, int skip)
{
    /* The walk writes into pcs itself, then the frames not wanted are
     * shifted out: no second buffer, so the heap sampler's stack stays
     * shallow (each line of it is a cache miss between two samples).
     * pcs[0] is this function itself. The compiler barriers keep the flag
     * set around the whole call, as a signal on this thread sees it. */
    _Static_assert(sizeof(void *) == sizeof(uintptr_t), "unw_backtrace fills void *");
    if (max <= 1 + skip)
        return 0;
    walk_enter();
    int n = unw_backtrace((void **)pcs, max);
    walk_exit();
    int out = 0;
    for (int i = 1 + skip; i < n; i++) {
        if (pcs[i] == 0)
            break;
        pcs[out++] = pcs[i] - 1;
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

/* The interrupted frame: its registers, and its pc stored as pcs[0] (an
 * exact instruction, not a call site). 0 when there is none to take. */
static int take_leaf(const void *ucontext, uintptr_t *pcs, int max, uintptr_t *pc,
                     uintptr_t *sp, uintptr_t *fp)
{
    if (max <= 0 || !registers_of(ucontext, pc, sp, fp) || *pc == 0)
        return 0;
    pcs[0] = *pc;
    return 1;
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
    if (!take_leaf(ucontext, pcs, max, &pc, &sp, &fp))
        return 0;
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
 * pcs[n-1]). Frames are return addresses, stored minus one as call sites,
 * except the frame right above a signal frame: that one is an interrupted
 * instruction (a host's own signal handler was running), stored as is. */
static int walk_dwarf(unw_cursor_t *cursor, uintptr_t *pcs, int n, int max)
{
    while (n < max) {
        int interrupted = unw_is_signal_frame(cursor) > 0;
        if (unw_step(cursor) <= 0)
            break;
        unw_word_t ip = 0;
        if (unw_get_reg(cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        pcs[n++] = interrupted ? (uintptr_t)ip : (uintptr_t)ip - 1;
    }
    return n;
}

/* Async-signal-safe under the conditions in unwind.h. */
int pprofd__unwind_signal_dwarf(const void *ucontext, uintptr_t *pcs, int max)
{
    unw_context_t context;
    unw_cursor_t cursor;
    uintptr_t pc, sp, fp;
    if (!take_leaf(ucontext, pcs, max, &pc, &sp, &fp))
        return 0;
    if (init_cursor(&cursor, &context, ucontext) < 0)
        return 1;
    return walk_dwarf(&cursor, pcs, 1, max);
}

#if defined(__x86_64__)
#define UNW_FRAME_POINTER UNW_X86_64_RBP
#elif defined(__aarch64__)
#define UNW_FRAME_POINTER UNW_AARCH64_X29
#endif

/*
 * Frame rules learnt from libunwind, so that a pc seen before costs no
 * libunwind call (whose cache lock costs two system calls, and whose
 * stepping API costs microseconds a frame). For a pc, how to find the
 * caller of the frame it is in (x86-64: the return address is at CFA - 8):
 *   RULE_FP:         the frame keeps a frame pointer: the caller's fp is at
 *                    [fp], its return address at [fp + 8], its sp fp + 16;
 *   RULE_UNTOUCHED:  the function has not changed fp (yet): the caller's fp
 *                    is fp itself, CFA = sp + offset;
 *   RULE_SAVED:      fp is a general register here, saved on entry:
 *                    CFA = sp + offset, the caller's fp at CFA - saved;
 *   RULE_END:        the outermost frame (libunwind stops here);
 *   RULE_UNRULY:     none of these (a realigned or dynamically sized frame
 *                    without a standard frame pointer, a signal frame):
 *                    ask libunwind every time.
 * An sp-relative CFA is only taken where the frame's size is fixed: a frame
 * whose fp points into itself but is not a standard frame pointer is
 * unruly. Entries are two words, each carrying the pc, written and read
 * with relaxed atomics: a reader that sees words of two different pcs
 * treats the entry as missing. Two-way: a pc lives in its slot or the
 * slot's neighbour. x86-64 only (the rules are its frame layout).
 */
enum { RULE_NONE, RULE_FP, RULE_UNTOUCHED, RULE_SAVED, RULE_END, RULE_UNRULY };
#define RULE_SLOTS 16384
#define MAX_RULE_OFFSET (0x1fffu * 8)
#define MAX_RULE_SAVED (0xffffu * 8)

typedef struct frame_rule {
    unsigned kind;
    uintptr_t offset; /* RULE_UNTOUCHED, RULE_SAVED */
    uintptr_t saved;  /* RULE_SAVED */
} frame_rule;

static struct {
    _Atomic uint64_t word; /* pc << 16 | kind << 13 | offset / 8 */
    _Atomic uint64_t aux;  /* pc << 16 | saved / 8 */
} frame_rules[RULE_SLOTS];

static size_t rule_slot(uintptr_t pc)
{
    return (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 50) & (RULE_SLOTS - 1);
}

/* Async-signal-safe. The rule for pc, RULE_NONE if unknown. */
static unsigned rule_for(uintptr_t pc, frame_rule *r)
{
    r->kind = RULE_NONE;
    size_t slot = rule_slot(pc);
    for (int way = 0; way < 2; way++, slot ^= 1) {
        uint64_t w = atomic_load_explicit(&frame_rules[slot].word, memory_order_relaxed);
        if (w == 0 || (uintptr_t)(w >> 16) != pc)
            continue;
        r->kind = (unsigned)(w >> 13) & 7u;
        r->offset = (uintptr_t)(w & 0x1fff) * 8;
        r->saved = 0;
        if (r->kind == RULE_SAVED) {
            uint64_t a = atomic_load_explicit(&frame_rules[slot].aux, memory_order_relaxed);
            if ((uintptr_t)(a >> 16) != pc)
                return r->kind = RULE_NONE;
            r->saved = (uintptr_t)(a & 0xffff) * 8;
        }
        return r->kind;
    }
    return RULE_NONE;
}

/* Async-signal-safe. Into pc's own slot if free or already pc's, else the
 * neighbour if free or pc's, else over the own slot. */
static void rule_store(uintptr_t pc, unsigned kind, uintptr_t offset, uintptr_t saved)
{
    if (pc == 0 || pc >= ((uintptr_t)1 << 48))
        return;
    size_t slot = rule_slot(pc), pick = slot;
    for (int way = 0; way < 2; way++, slot ^= 1) {
        uint64_t w = atomic_load_explicit(&frame_rules[slot].word, memory_order_relaxed);
        if (w == 0 || (uintptr_t)(w >> 16) == pc) {
            pick = slot;
            break;
        }
    }
    atomic_store_explicit(&frame_rules[pick].aux, (uint64_t)pc << 16 | saved / 8,
                          memory_order_relaxed);
    atomic_store_explicit(&frame_rules[pick].word,
                          (uint64_t)pc << 16 | (uint64_t)kind << 13 | offset / 8,
                          memory_order_relaxed);
}

/* Async-signal-safe: one frame up by rule r, loads within [sp, hi).
 * Returns 0 when r ends the stack or the frame fails a check. */
__attribute__((no_sanitize("address", "thread"))) static int
apply_rule(const frame_rule *r, uintptr_t sp, uintptr_t fp, uintptr_t hi, uintptr_t *caller_pc,
           uintptr_t *caller_sp, uintptr_t *caller_fp)
{
    switch (r->kind) {
    case RULE_FP:
        if (fp < sp || fp % 8 != 0 || hi < 16 || fp > hi - 16)
            return 0;
        *caller_fp = ((const uintptr_t *)fp)[0];
        *caller_pc = ((const uintptr_t *)fp)[1];
        *caller_sp = fp + 16;
        break;
    case RULE_UNTOUCHED:
    case RULE_SAVED: {
        uintptr_t cfa = sp + r->offset;
        if (cfa <= sp || cfa > hi || cfa - 8 < sp || cfa - r->saved < sp)
            return 0;
        *caller_pc = *(const uintptr_t *)(cfa - 8);
        *caller_sp = cfa;
        *caller_fp = r->kind == RULE_SAVED ? *(const uintptr_t *)(cfa - r->saved) : fp;
        break;
    }
    default:
        return 0;
    }
    return *caller_pc != 0;
}

/* Every frame by its rule: the heap sampler's walk, and the CPU
 * profiler's for stacks it has seen before. */
int pprofd__unwind_by_rules(uintptr_t pc, uintptr_t sp, uintptr_t fp, uintptr_t hi,
                            uintptr_t *pcs, int max, int *unknown)
{
    *unknown = 0;
    int n = 0;
    while (n < max) {
        pcs[n++] = pc - 1;
        frame_rule r;
        unsigned kind = rule_for(pc, &r);
        if (kind == RULE_END)
            return n;
        if (kind == RULE_NONE)
            *unknown = 1;
        uintptr_t caller_pc, caller_sp, caller_fp;
        if (!apply_rule(&r, sp, fp, hi, &caller_pc, &caller_sp, &caller_fp) || caller_sp <= sp)
            return 0;
        pc = caller_pc;
        sp = caller_sp;
        fp = caller_fp;
    }
    return n;
}

/* Rules are keyed by address: once dlclose unmaps an object, other code
 * may be mapped at its addresses and must not inherit its rules. Every
 * rule is forgotten (they are relearnt as samples meet them again). A
 * learning walk racing with this may store a rule of the closed object
 * back; that needs the very same address to be reused by a frame of the
 * next object to matter. */
void pprofd__unwind_forget(void)
{
    for (size_t i = 0; i < RULE_SLOTS; i++) {
        atomic_store_explicit(&frame_rules[i].word, 0, memory_order_relaxed);
        atomic_store_explicit(&frame_rules[i].aux, 0, memory_order_relaxed);
    }
}

int pprofd__unwind_rule_kind(uintptr_t pc)
{
    frame_rule r;
    return (int)rule_for(pc, &r);
}

#ifdef UNW_FRAME_POINTER
/* Where libunwind says the frame pointer's value lives, as one number to
 * compare: a memory address, or the register's own number tagged. */
static uintptr_t fp_location(unw_cursor_t *c)
{
    unw_save_loc_t loc;
    if (unw_get_save_loc(c, UNW_FRAME_POINTER, &loc) < 0)
        return 1;
    if (loc.type == UNW_SLT_MEMORY)
        return (uintptr_t)loc.u.addr;
    if (loc.type == UNW_SLT_REG)
        return 3 + 4 * (uintptr_t)loc.u.regnum;
    return 2;
}
#endif

/* Async-signal-safe. Record what libunwind found for the frame at pc (its
 * sp and fp) and its caller (caller_sp, caller_fp) as a rule, or as unruly
 * when none fits. fp_untouched: libunwind says the frame left fp as it
 * found it; fp_saved_at: where it says the caller's fp was saved (an
 * address, or a small tag when not in memory). Both learners, the heap's
 * walk and the CPU profiler's first two frames, write the one table
 * through here. */
static void learn_rule(uintptr_t pc, uintptr_t sp, uintptr_t fp, uintptr_t caller_sp,
                       uintptr_t caller_fp, int fp_untouched, uintptr_t fp_saved_at)
{
#if !defined(__x86_64__)
    /* The rules are x86-64's frame layout: learn none elsewhere. */
    (void)pc, (void)sp, (void)fp, (void)caller_sp, (void)caller_fp, (void)fp_untouched;
    (void)fp_saved_at;
    return;
#endif
    uintptr_t size = caller_sp - sp;
    unsigned kind = RULE_UNRULY;
    uintptr_t saved = 0;
    if (caller_sp <= sp || size % 8 != 0)
        kind = RULE_UNRULY;
    else if (caller_sp == fp + 16 && fp >= sp && fp_saved_at == fp)
        kind = RULE_FP;
    else if (fp >= sp && fp < caller_sp)
        kind = RULE_UNRULY; /* fp points into the frame, not as a frame pointer */
    else if (size > MAX_RULE_OFFSET)
        kind = RULE_UNRULY;
    else if (fp_untouched && caller_fp == fp)
        kind = RULE_UNTOUCHED;
    else if (fp_saved_at >= sp && fp_saved_at < caller_sp && fp_saved_at % 8 == 0 &&
             caller_sp - fp_saved_at <= MAX_RULE_SAVED)
        kind = RULE_SAVED, saved = caller_sp - fp_saved_at;
    rule_store(pc, kind, kind == RULE_FP ? 0 : size, saved);
}

uintptr_t pprofd__unwind_learn(void)
{
    uintptr_t hi = 0;
#if defined(__x86_64__)
    unw_context_t context;
    unw_cursor_t c;
    walk_enter();
    if (unw_getcontext(&context) != 0 || unw_init_local(&c, &context) != 0)
        goto out;
    unw_word_t ip, sp, fp;
    if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || unw_get_reg(&c, UNW_REG_SP, &sp) < 0 ||
        unw_get_reg(&c, UNW_FRAME_POINTER, &fp) < 0)
        goto out;
    uintptr_t loc = fp_location(&c);
    for (int depth = 0; depth < PPROFD_MAX_DEPTH + 16; depth++) {
        int signal_frame = unw_is_signal_frame(&c) > 0;
        if (unw_step(&c) <= 0) {
            rule_store(ip, RULE_END, 0, 0);
            break;
        }
        unw_word_t cip, csp, cfp;
        if (unw_get_reg(&c, UNW_REG_IP, &cip) < 0 || unw_get_reg(&c, UNW_REG_SP, &csp) < 0 ||
            unw_get_reg(&c, UNW_FRAME_POINTER, &cfp) < 0 || cip == 0) {
            rule_store(ip, RULE_END, 0, 0);
            break;
        }
        uintptr_t cloc = fp_location(&c);
        if (signal_frame)
            rule_store(ip, RULE_UNRULY, 0, 0);
        else
            learn_rule(ip, sp, fp, csp, cfp, cloc == loc, cloc);
        if (csp > hi)
            hi = csp;
        ip = cip, sp = csp, fp = cfp, loc = cloc;
    }
out:
    walk_exit();
#endif
    return hi;
}

#ifdef UNW_FRAME_POINTER
/* Async-signal-safe under the conditions in unwind.h. The rest of a DWARF
 * walk from the cursor's frame (stored at pcs[n-1]; its registers pc, sp,
 * fp and fp's location loc), learning each frame's rule on the way, so
 * that the next sample through these frames needs no libunwind. */
static int walk_dwarf_learning(unw_cursor_t *c, uintptr_t pc, uintptr_t sp, uintptr_t fp,
                               uintptr_t loc, uintptr_t *pcs, int n, int max)
{
    while (n < max) {
        int signal_frame = unw_is_signal_frame(c) > 0;
        if (unw_step(c) <= 0) {
            rule_store(pc, RULE_END, 0, 0);
            break;
        }
        unw_word_t cip, csp, cfp;
        if (unw_get_reg(c, UNW_REG_IP, &cip) < 0 || unw_get_reg(c, UNW_REG_SP, &csp) < 0 ||
            unw_get_reg(c, UNW_FRAME_POINTER, &cfp) < 0 || cip == 0) {
            rule_store(pc, RULE_END, 0, 0);
            break;
        }
        uintptr_t cloc = fp_location(c);
        if (signal_frame)
            rule_store(pc, RULE_UNRULY, 0, 0);
        else
            learn_rule(pc, sp, fp, (uintptr_t)csp, (uintptr_t)cfp, cloc == loc, cloc);
        /* Above a signal frame is an interrupted instruction (a host's own
         * signal handler was running), stored as is. */
        pcs[n++] = signal_frame ? (uintptr_t)cip : (uintptr_t)cip - 1;
        pc = (uintptr_t)cip, sp = (uintptr_t)csp, fp = (uintptr_t)cfp, loc = cloc;
    }
    return n;
}
#endif

/* Async-signal-safe under the conditions in unwind.h. Every frame is taken
 * by its own rule: a frame pointer is followed only out of a frame known
 * to keep one. Following the chain blindly from the first frame that
 * keeps one (pprofd's own calloc, say) would read the next frame's rbp,
 * a general register in code built without frame pointers, as a frame
 * pointer and end the stack there. */
int pprofd__unwind_signal_mixed(const void *ucontext, uintptr_t stack_lo, uintptr_t stack_hi,
                                uintptr_t *pcs, int max, int *all_dwarf)
{
    uintptr_t pc, sp, fp;
    *all_dwarf = 0;
    if (!take_leaf(ucontext, pcs, max, &pc, &sp, &fp))
        return 0;
#ifdef UNW_FRAME_POINTER
    if (on_known_stack(sp, stack_lo, stack_hi)) {
        int unknown;
        int n = pprofd__unwind_by_rules(pc, sp, fp, stack_hi, pcs, max, &unknown);
        if (n > 0) {
            pcs[0] = pc; /* the interrupted instruction itself, not a call site */
            return n;
        }
    }
    unw_context_t context;
    unw_cursor_t cursor;
    if (init_cursor(&cursor, &context, ucontext) < 0)
        return pprofd__unwind_signal(ucontext, stack_lo, stack_hi, pcs, max);
    *all_dwarf = 1;
    return walk_dwarf_learning(&cursor, pc, sp, fp, fp_location(&cursor), pcs, 1, max);
#else
    return pprofd__unwind_signal(ucontext, stack_lo, stack_hi, pcs, max);
#endif
}

static void warm_up_once(void)
{
    /* One full walk from here initialises libunwind's globals (its
     * once-lock, the address space and its caches) and reads the unwind
     * tables of the objects on this stack. */
    uintptr_t pcs[PPROFD_MAX_DEPTH + 1];
    pprofd__unwind_here(pcs, PPROFD_MAX_DEPTH + 1, 0);
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
