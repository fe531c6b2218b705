/*
 * unwind — capture a thread's stack as program counters.
 *
 * Addresses are stored as call sites: a return address minus one, so that
 * symbolization (ours or pprof's) names the line of the call, not the line
 * after it. Leaf first. The one exception is the first frame of a stack
 * taken from a signal's ucontext: that is the interrupted instruction
 * itself, exact, and is stored as is.
 *
 * pprofd__unwind_here() uses libunwind's DWARF unwinder and so works for
 * code built without frame pointers (Debian's libc, most distributions'
 * binaries). It is reentrant and takes no lock of ours; it must not be
 * called from a signal handler that may interrupt the dynamic loader. The
 * heap sampler calls it only when its own walk by learnt frame rules
 * (pprofd__unwind_by_rules) cannot answer: libunwind's walk costs about
 * 800 instructions and a few kilobytes of cold stack per sample.
 *
 * Signal context (the CPU profiler's SIGPROF handler):
 *   - pprofd__unwind_signal() walks frame pointers from the ucontext. It is
 *     async-signal-safe: no call, no lock, and every load is checked against
 *     stack bounds the caller knows to be mapped, so a garbage frame pointer
 *     (code built without frame pointers uses rbp as a general register)
 *     ends the walk instead of faulting.
 *   - pprofd__unwind_signal_dwarf() runs libunwind from the ucontext. It is
 *     only as signal-safe as libunwind: its one-time initialisation takes a
 *     mutex (so pprofd__unwind_warm_up() must run first, in normal context),
 *     it guards its caches with a mutex taken with all signals blocked (so
 *     the interrupted thread never holds it), and on a cache miss it calls
 *     dl_iterate_phdr, whose glibc lock is recursive (same-thread re-entry
 *     does not deadlock; another thread holding it finishes without us).
 *     The remaining hazard, re-entering libunwind itself on a thread that
 *     was interrupted inside it, is what pprofd__unwind_busy() reports: the
 *     caller must not use the DWARF path then.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_UNWIND_H
#define PPROFD_UNWIND_H

#include <stdint.h>

/* Deepest stack we keep; deeper stacks are truncated at the root end. */
#define PPROFD_MAX_DEPTH 256

/* Fill pcs with the caller's stack as call sites, skipping the innermost
 * `skip` frames above the caller of this function. The walk uses pcs as
 * its scratch space, all max entries of it, so at most max - 1 - skip call
 * sites are stored. Returns the number stored. */
int pprofd__unwind_here(uintptr_t *pcs, int max, int skip);

/* The heap sampler's fast walk, for a frame known exactly: pc is a return
 * address into it, sp and fp the registers it will have when that return
 * happens. Every frame up from there by the rules pprofd__unwind_learn()
 * recorded (x86-64; 0 elsewhere), loads confined to [sp, hi). Returns the
 * depth stored (call sites, leaf first), or 0 when some frame has no
 * usable rule: *unknown is then 1 if a rule was missing (learning may
 * help) and 0 if a frame needs libunwind every time. No call, no lock. */
int pprofd__unwind_by_rules(uintptr_t pc, uintptr_t sp, uintptr_t fp, uintptr_t hi,
                            uintptr_t *pcs, int max, int *unknown);

/* Step libunwind through the calling stack (microseconds a frame) and
 * record a rule for each frame's pc. Returns the highest sp a frame of
 * this stack has: an upper bound for pprofd__unwind_by_rules() loads on
 * this thread's stack. Same conditions as pprofd__unwind_here(). */
uintptr_t pprofd__unwind_learn(void);

/* For the fork protocol (sampler/fork.h): before fork, wait until
 * no other thread is inside libunwind through pprofd__unwind_here() or
 * pprofd__unwind_learn(), and hold new walks back; after it (parent and
 * child), let them go. */
void pprofd__unwind_fork_prepare(void);
void pprofd__unwind_fork_done(void);

/* Forget every learnt rule. The library's dlclose() (it interposes it)
 * calls this after the object is gone. */
void pprofd__unwind_forget(void);

/* For tests: the rule recorded for a return address, 0 none, 1 frame
 * pointer, 2 untouched, 3 saved, 4 end, 5 none fits. */
int pprofd__unwind_rule_kind(uintptr_t pc);

/* The stack of the code a signal interrupted, by frame pointers: pcs[0] is
 * the interrupted pc, then one call site per frame. [stack_lo, stack_hi) is
 * the interrupted thread's stack, or 0, 0 when unknown (then only pcs[0] is
 * given). Loads are confined to [max(stack_lo, sp), stack_hi), which is
 * mapped whenever sp lies in it; frame pointers must rise strictly, so the
 * walk ends. Async-signal-safe. Returns the number stored (>= 1 when max >= 1
 * and the ucontext has a pc). */
int pprofd__unwind_signal(const void *ucontext, uintptr_t stack_lo, uintptr_t stack_hi,
                          uintptr_t *pcs, int max);

/* What the CPU profiler uses where libunwind may run: every frame by the
 * rule learnt for its pc (keeps a frame pointer; or has not touched it and
 * returns through sp + offset), each frame checked on its own, so a pc
 * seen before is unwound with no libunwind call at all (x86-64); when some
 * frame has no rule, the whole stack by libunwind, learning the rules of
 * every frame on the way (*all_dwarf set to 1 then). Same conditions as
 * pprofd__unwind_signal_dwarf(). Returns the number stored. */
int pprofd__unwind_signal_mixed(const void *ucontext, uintptr_t stack_lo, uintptr_t stack_hi,
                                uintptr_t *pcs, int max, int *all_dwarf);

/* The same by libunwind's DWARF unwinder, for code without frame pointers.
 * Async-signal-safe only after pprofd__unwind_warm_up() and when
 * pprofd__unwind_busy() is 0 on the calling thread (see above). ucontext is
 * not modified. Returns the number stored. */
int pprofd__unwind_signal_dwarf(const void *ucontext, uintptr_t *pcs, int max);

/* Run libunwind's one-time initialisation (locks, caches, the loaded
 * objects' unwind tables it has seen) in normal context. Idempotent,
 * thread-safe. */
void pprofd__unwind_warm_up(void);

/* Nonzero while the calling thread is inside libunwind through
 * pprofd__unwind_here() (the heap sampler). Async-signal-safe. */
int pprofd__unwind_busy(void);

#endif
