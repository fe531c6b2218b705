/*
 * loader — what pprofd asks of the dynamic loader about the objects it has
 * mapped. Normal context only: dl_iterate_phdr takes the loader's lock.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_LOADER_H
#define PPROFD_LOADER_H

/* The loader's counts of objects added and removed since the process
 * started (dlpi_adds, dlpi_subs): when both are unchanged, the set of
 * loaded objects is the one seen before. One dl_iterate_phdr step. */
void pprofd__loader_counters(unsigned long long *adds, unsigned long long *subs);

#endif
