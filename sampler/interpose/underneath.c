/* underneath — see underneath.h. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler/interpose/underneath.h"

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

int pprofd__underneath_foreign;
void *(*pprofd__next_malloc)(size_t) = __libc_malloc;
void (*pprofd__next_free)(void *) = __libc_free;
void *(*pprofd__next_calloc)(size_t, size_t) = __libc_calloc;
void *(*pprofd__next_realloc)(void *, size_t) = __libc_realloc;
void *(*pprofd__next_memalign)(size_t, size_t) = __libc_memalign;

static struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
} next;

/* glibc's own, for its early chunks: the program's malloc_usable_size is
 * the other allocator's. */
static size_t (*glibc_usable_size)(void *);

/* glibc's brk heap at the switch: chunks allocated before it. */
static uintptr_t early_lo, early_hi;

static int early(const void *p)
{
    return (uintptr_t)p - early_lo < early_hi - early_lo;
}

static void free_early_or_next(void *p)
{
    if (__builtin_expect(early(p), 0))
        __libc_free(p);
    else
        next.free(p);
}

static void *realloc_early_or_next(void *p, size_t size)
{
    if (!p || !early(p))
        return next.realloc(p, size);
    /* A glibc chunk from before the switch moves to the new allocator. */
    void *q = next.malloc(size);
    if (!q)
        return NULL;
    size_t have = glibc_usable_size(p);
    memcpy(q, p, have < size ? have : size);
    __libc_free(p);
    return q;
}

void *pprofd__underneath_memalign(size_t align, size_t size)
{
    if (next.memalign)
        return next.memalign(align, size);
    if (next.aligned_alloc && size % align == 0)
        return next.aligned_alloc(align, size);
    void *p = NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    int saved = errno;
    int err = next.posix_memalign(&p, align, size);
    errno = err ? err : saved;
    return err ? NULL : p;
}

/* name's definition in the object at base, or NULL. */
static void *from(const char *name, const void *base)
{
    void *f = dlsym(RTLD_NEXT, name);
    Dl_info info;
    if (!f || !dladdr(f, &info) || info.dli_fbase != base)
        return NULL;
    return f;
}

/* The start of glibc's brk heap, from /proc/self/maps, without malloc;
 * 0 when there is none listed. */
static uintptr_t heap_start(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[4096 + 256];
    size_t have = 0;
    uintptr_t start = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            size_t len = (size_t)(nl - line);
            if (len > 6 && strcmp(nl - 6, "[heap]") == 0) {
                start = (uintptr_t)strtoul(line, NULL, 16);
                goto done;
            }
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        if (have > 256)
            have = 0; /* a line longer than any maps line we look for */
        memmove(buf, line, have);
    }
done:
    close(fd);
    return start;
}

void pprofd__underneath_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;

    void *m = dlsym(RTLD_NEXT, "malloc");
    if (!m || m == (void *)__libc_malloc)
        return;
    Dl_info info;
    if (!dladdr(m, &info))
        return;
    next.malloc = (void *(*)(size_t))m;
    next.free = (void (*)(void *))from("free", info.dli_fbase);
    next.calloc = (void *(*)(size_t, size_t))from("calloc", info.dli_fbase);
    next.realloc = (void *(*)(void *, size_t))from("realloc", info.dli_fbase);
    next.memalign = (void *(*)(size_t, size_t))from("memalign", info.dli_fbase);
    next.posix_memalign = (int (*)(void **, size_t, size_t))from("posix_memalign", info.dli_fbase);
    next.aligned_alloc = (void *(*)(size_t, size_t))from("aligned_alloc", info.dli_fbase);
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    glibc_usable_size = libc ? (size_t (*)(void *))dlsym(libc, "malloc_usable_size") : NULL;
    if (!next.free || !next.calloc || !next.realloc || !glibc_usable_size ||
        (!next.memalign && !next.posix_memalign)) {
        fprintf(stderr, "pprofd: %s provides malloc but not the rest of its family; "
                        "allocations stay with glibc\n", info.dli_fname);
        memset(&next, 0, sizeof next);
        return;
    }
    early_hi = (uintptr_t)sbrk(0);
    early_lo = heap_start();
    if (!early_lo || early_lo > early_hi)
        early_lo = early_hi; /* no brk heap: nothing was allocated there */
    __atomic_store_n(&pprofd__next_malloc, next.malloc, __ATOMIC_RELAXED);
    __atomic_store_n(&pprofd__next_calloc, next.calloc, __ATOMIC_RELAXED);
    __atomic_store_n(&pprofd__next_memalign, pprofd__underneath_memalign, __ATOMIC_RELAXED);
    __atomic_store_n(&pprofd__next_realloc, realloc_early_or_next, __ATOMIC_RELAXED);
    __atomic_store_n(&pprofd__next_free, free_early_or_next, __ATOMIC_RELAXED);
    __atomic_store_n(&pprofd__underneath_foreign, 1, __ATOMIC_RELEASE);
}

/* Before the program's constructors, which may allocate and keep. */
__attribute__((constructor(101))) static void underneath_at_load(void)
{
    pprofd__underneath_init();
}
