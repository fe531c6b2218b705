/*
 * underneath — the allocator pprofd's malloc family forwards to.
 *
 * Almost always it is glibc's, reached through its __libc_* entry points
 * (malloc.c's fast paths). A program linked with another allocator
 * (jemalloc, tcmalloc, mimalloc: `-ljemalloc`) has that allocator's malloc
 * next in the lookup order after pprofd, and its own malloc_usable_size,
 * sdallocx, mallctl... resolve to it too: pointers must then come from it,
 * or the program's first malloc_usable_size is handed a glibc chunk.
 *
 * At load (a constructor, before the program's own) pprofd__underneath_init
 * asks the loader which object provides the next `malloc`. When it is not
 * libc, and that object also provides free, calloc, realloc and an aligned
 * allocation, the whole family is forwarded to it from then on
 * (pprofd__underneath_foreign set), sampling on top as before. Allocations
 * made before the switch (by the loader, libc and constructors that ran
 * earlier) are glibc's: they sit in glibc's brk heap, whose bounds are
 * recorded at the switch, and a free or realloc of one goes back to glibc.
 * (A large early allocation that glibc served by mmap would not be
 * recognised; none is made by the libraries run before pprofd's
 * constructor on Debian 12.)
 *
 * When the next allocator lacks part of the family, nothing is switched
 * and pprofd prints one line: the program behaves as it does today.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_UNDERNEATH_H
#define PPROFD_UNDERNEATH_H

#include <stddef.h>

#define PPROFD_HIDDEN __attribute__((visibility("hidden")))

/* Nonzero once the family forwards to another allocator. */
extern int pprofd__underneath_foreign PPROFD_HIDDEN;

/* Where malloc.c's fast paths jump: glibc's __libc_* from the start, the
 * other allocator's after the switch (through underneath.c's wrappers for
 * free and realloc, which send glibc's early chunks back to glibc). A jump
 * through one of these costs what a jump through the GOT to glibc costs:
 * nothing is added to glibc's case. */
extern void *(*pprofd__next_malloc)(size_t) PPROFD_HIDDEN;
extern void (*pprofd__next_free)(void *) PPROFD_HIDDEN;
extern void *(*pprofd__next_calloc)(size_t, size_t) PPROFD_HIDDEN;
extern void *(*pprofd__next_realloc)(void *, size_t) PPROFD_HIDDEN;
extern void *(*pprofd__next_memalign)(size_t, size_t) PPROFD_HIDDEN;

/* An aligned block from the other allocator, whichever of memalign,
 * aligned_alloc or posix_memalign it has (valloc and pvalloc use it). */
void *pprofd__underneath_memalign(size_t align, size_t size);

/* Find the allocator. Called once, from a constructor; idempotent. */
void pprofd__underneath_init(void);

#endif
