/*
 * unwind — capture the calling thread's stack as program counters.
 *
 * Addresses are stored as call sites: a return address minus one, so that
 * symbolization (ours or pprof's) names the line of the call, not the line
 * after it. Leaf first.
 *
 * pprofd__unwind_here() uses libunwind's DWARF unwinder and so works for
 * code built without frame pointers (Debian's libc, most distributions'
 * binaries). It is reentrant and takes no lock of ours; it must not be
 * called from a signal handler that may interrupt the dynamic loader.
 */
#ifndef PPROFD_UNWIND_H
#define PPROFD_UNWIND_H

#include <stdint.h>

/* Deepest stack we keep; deeper stacks are truncated at the root end. */
#define PPROFD_MAX_DEPTH 64

/* Fill pcs with up to max call sites of the caller's stack, skipping the
 * innermost `skip` frames above the caller of this function. Returns the
 * number stored. */
int pprofd__unwind_here(uintptr_t *pcs, int max, int skip);

#endif
