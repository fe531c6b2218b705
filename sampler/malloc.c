/*
 * malloc — the interposition layer. Our definitions of the malloc family
 * win by ELF symbol interposition: under LD_PRELOAD, and when libpprofd is
 * linked into the program (its definitions come before libc's). glibc's own
 * internal allocations (strdup, fopen, ...) come here too, as glibc
 * documents for replacement allocators.
 *
 * Every call forwards to glibc's exported __libc_* entry points, so there
 * is no dlsym and no bootstrap allocator: the very first malloc works. The
 * memory itself is always glibc's, untouched: we add no header, so
 * malloc_usable_size, mallinfo and friends stay truthful without us.
 *
 * Each entry point is a fast path: a TLS countdown on allocation, a one-byte
 * filter test on free (see heap.h). Interposed entry points call
 * pprofd__heap_record_alloc with skip = 0: only the entry point itself sits
 * between the host's call site and the recorder.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "sampler/heap.h"

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

static inline void *sampled(void *p, size_t size)
{
    if (__builtin_expect(pprofd__heap_should_sample(size), 0) && p)
        pprofd__heap_record_alloc(p, size, 1);
    return p;
}

/* The recorder's skip count assumes one interposer frame between it and the
 * host, so the entry points below must not be inlined into each other. */
#define ENTRY EXPORT __attribute__((noinline))

ENTRY void *malloc(size_t size)
{
    return sampled(__libc_malloc(size), size);
}

ENTRY void free(void *p)
{
    if (p && __builtin_expect(pprofd__heap_maybe_tracked(p), 0))
        pprofd__heap_record_free(p);
    __libc_free(p);
}

ENTRY void *calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return sampled(__libc_calloc(n, size), total);
}

ENTRY void *realloc(void *p, size_t size)
{
    if (!p)
        return sampled(__libc_malloc(size), size);
    if (size == 0) {
        /* glibc frees and returns NULL. */
        free(p);
        return NULL;
    }
    pprofd__heap_object old;
    bool had = pprofd__heap_maybe_tracked(p) && pprofd__heap_take(p, &old);
    void *q = __libc_realloc(p, size);
    if (!q) {
        if (had)
            pprofd__heap_put_back(&old);
        return NULL;
    }
    if (had)
        pprofd__heap_account_free(&old);
    return sampled(q, size);
}

ENTRY void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (!p)
        return sampled(__libc_malloc(total), total);
    /* Through realloc's logic, which adds a frame: account for it by
     * sampling here instead. */
    if (total == 0) {
        free(p);
        return NULL;
    }
    pprofd__heap_object old;
    bool had = pprofd__heap_maybe_tracked(p) && pprofd__heap_take(p, &old);
    void *q = __libc_realloc(p, total);
    if (!q) {
        if (had)
            pprofd__heap_put_back(&old);
        return NULL;
    }
    if (had)
        pprofd__heap_account_free(&old);
    return sampled(q, total);
}

ENTRY void *memalign(size_t align, size_t size)
{
    return sampled(__libc_memalign(align, size), size);
}

ENTRY void *aligned_alloc(size_t align, size_t size)
{
    return sampled(__libc_memalign(align, size), size);
}

ENTRY int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    int saved = errno;
    void *p = __libc_memalign(align, size);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = sampled(p, size);
    return 0;
}

ENTRY void *valloc(size_t size)
{
    return sampled(__libc_valloc(size), size);
}

ENTRY void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (size + page - 1) & ~(page - 1);
    return sampled(__libc_pvalloc(size), rounded ? rounded : page);
}
