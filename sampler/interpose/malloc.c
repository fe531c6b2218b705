/*
 * malloc — the interposition layer. Our definitions of the malloc family
 * win by ELF symbol interposition: under LD_PRELOAD, and when libpprofd is
 * linked into the program (its definitions come before libc's). glibc's own
 * internal allocations (strdup, fopen, ...) come here too, as glibc
 * documents for replacement allocators, and so do libstdc++'s operator new
 * and delete, which call malloc and free.
 *
 * Every call forwards to glibc's exported __libc_* entry points, so there
 * is no dlsym and no bootstrap allocator: the very first malloc, made by the
 * dynamic loader or libc before any constructor runs, works like any other.
 * A program linked with another allocator (jemalloc, tcmalloc) is the
 * exception: from pprofd's constructor on, the family forwards to that one
 * (underneath.h), through the same jump.
 * The memory itself is the allocator's, untouched: we add no header, so
 * malloc_usable_size, mallinfo2, malloc_trim and friends (glibc's, or the
 * other allocator's own) stay truthful without us and are deliberately not
 * interposed (one less frame and one less way to be wrong).
 *
 * Cost. The fast paths are the whole point of this file:
 *   allocation: one TLS subtraction and a branch (heap.h), then a tail jump
 *               through a pointer to glibc's entry point (underneath.h),
 *               which is what a jump through its GOT slot would cost;
 *   free:       a multiply, a shift and one byte load from a static filter,
 *               then the same tail jump.
 * Everything else (sampling, tracked frees, realloc of a tracked object) is
 * out of line in pprofd__heap_sample_slow or the *_slow helpers here.
 *
 * Every function here sits in the PPROFD_HEAP_HOOK section, so the recorded
 * stack begins at the host's call site however the compiler inlined or
 * tail-called these. Nothing here calls malloc; all of it is re-entrant.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "sampler/heap.h"
#include "sampler/interpose/underneath.h"

#define EXPORT __attribute__((visibility("default")))
#define ENTRY EXPORT PPROFD_HEAP_HOOK
#define SLOW static PPROFD_HEAP_HOOK __attribute__((noinline, cold))
#define GLIBC __attribute__((noplt))

extern void *__libc_valloc(size_t) GLIBC;
extern void *__libc_pvalloc(size_t) GLIBC;

#define FOREIGN __builtin_expect(__atomic_load_n(&pprofd__underneath_foreign, __ATOMIC_RELAXED), 0)
#define NEXT(f) __atomic_load_n(&pprofd__next_##f, __ATOMIC_RELAXED)

/* The allocator underneath: glibc's, or the program's own (underneath.h). */
static inline void *next_malloc(size_t size)
{
    return NEXT(malloc)(size);
}

static inline void next_free(void *p)
{
    NEXT(free)(p);
}

static inline void *next_calloc(size_t n, size_t size)
{
    return NEXT(calloc)(n, size);
}

static inline void *next_realloc(void *p, size_t size)
{
    return NEXT(realloc)(p, size);
}

static inline void *next_memalign(size_t align, size_t size)
{
    return NEXT(memalign)(align, size);
}

/* Account size bytes against the countdown; on the rare expiry, let the
 * sampler decide about p. */
static inline void *account(void *p, size_t size)
{
    if (__builtin_expect(pprofd__heap_countdown_take(size), 1))
        return p;
    return pprofd__heap_sample_slow(p, size);
}

SLOW void free_tracked(void *p)
{
    pprofd__heap_record_free(p);
    next_free(p);
}

static inline void free_impl(void *p)
{
    if (__builtin_expect(pprofd__heap_maybe_tracked(p), 0) && p)
        free_tracked(p);
    else
        next_free(p);
}

ENTRY void *malloc(size_t size)
{
    if (__builtin_expect(pprofd__heap_countdown_take(size), 1))
        return next_malloc(size);
    return pprofd__heap_sample_slow(next_malloc(size), size);
}

ENTRY void free(void *p)
{
    free_impl(p);
}

ENTRY void *calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return account(next_calloc(n, size), total);
}

/* realloc of a pointer that may be tracked, or whose countdown ran out: the
 * old object leaves the table (freed), the new one is sampled on its own
 * merit. On failure the old object is still the host's, so it goes back. */
SLOW void *realloc_slow(void *p, size_t size, int spent)
{
    pprofd__heap_object old;
    int had = pprofd__heap_maybe_tracked(p) && pprofd__heap_take(p, &old);
    void *q = next_realloc(p, size);
    if (!q) {
        if (had)
            pprofd__heap_put_back(&old);
        return NULL;
    }
    if (had)
        pprofd__heap_account_free(&old);
    return spent ? pprofd__heap_sample_slow(q, size) : q;
}

static inline void *realloc_impl(void *p, size_t size)
{
    if (!p)
        return account(next_malloc(size), size);
    if (size == 0) {
        /* glibc frees and returns NULL. */
        free_impl(p);
        return NULL;
    }
    int spent = !pprofd__heap_countdown_take(size);
    if (__builtin_expect(!spent && !pprofd__heap_maybe_tracked(p), 1))
        return next_realloc(p, size);
    return realloc_slow(p, size, spent);
}

ENTRY void *realloc(void *p, size_t size)
{
    return realloc_impl(p, size);
}

ENTRY void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_impl(p, total);
}

ENTRY void *memalign(size_t align, size_t size)
{
    return account(next_memalign(align, size), size);
}

/* As the C library it stands for does: glibc up to 2.37 makes aligned_alloc
 * an alias of memalign (any alignment, rounded up to a power of two; 0 as
 * the smallest), 2.38 and later reject an alignment that is not a power of
 * two with EINVAL, as C17 allows. */
ENTRY void *aligned_alloc(size_t align, size_t size)
{
#if !defined(__GLIBC__) || __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 38)
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
#endif
    return account(next_memalign(align, size), size);
}

ENTRY int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    int saved = errno;
    void *p = next_memalign(align, size);
    if (!p) {
        errno = saved; /* posix_memalign reports by its result, not errno */
        return ENOMEM;
    }
    *out = account(p, size);
    return 0;
}

ENTRY void *valloc(size_t size)
{
    if (FOREIGN)
        return account(pprofd__underneath_memalign((size_t)sysconf(_SC_PAGESIZE), size), size);
    return account(__libc_valloc(size), size);
}

ENTRY void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (size > SIZE_MAX - page + 1) { /* rounding up would wrap: as glibc */
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (size + page - 1) & ~(page - 1);
    if (FOREIGN)
        return account(pprofd__underneath_memalign(page, rounded ? rounded : page),
                       rounded ? rounded : page);
    return account(__libc_pvalloc(size), rounded ? rounded : page);
}

/* This file's malloc itself, whatever the program's "malloc" resolves to. */
extern void *pprofd__malloc_self(size_t) __attribute__((alias("malloc"), visibility("hidden"), copy(malloc)));

/* Whether the program's malloc is this file's. It is not when libpprofd was
 * loaded with dlopen (after the program bound malloc to the C library):
 * then no allocation reaches the sampler and heap profiles stay empty. */
int pprofd__malloc_is_the_programs(void)
{
    void *global = dlsym(RTLD_DEFAULT, "malloc");
    return global == NULL || global == (void *)pprofd__malloc_self;
}
