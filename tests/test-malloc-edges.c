/* The allocation entry points pprofd interposes answer the edge cases as
 * the C library underneath does: each case is asked of ours (the program's
 * aligned_alloc/pvalloc, pprofd's in this static link) and of glibc's
 * (dlsym RTLD_NEXT), and the two must agree on success and errno. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/check.h"

typedef void *(*aligned_fn)(size_t, size_t);
typedef void *(*pvalloc_fn)(size_t);

static void same_aligned(aligned_fn libc, size_t align, size_t size)
{
    errno = 0;
    void *ours = aligned_alloc(align, size);
    int our_errno = errno;
    errno = 0;
    void *theirs = libc(align, size);
    int their_errno = errno;
    CHECK_MSG((ours != NULL) == (theirs != NULL) && (ours || our_errno == their_errno),
              "aligned_alloc(%zu, %zu): ours %p errno %d, glibc's %p errno %d", align, size,
              ours, our_errno, theirs, their_errno);
    free(ours);
    free(theirs);
}

int main(void)
{
#ifdef PPROFD_NO_INTERPOSE
    SKIP("built without the interposers");
#endif
    aligned_fn libc_aligned = (aligned_fn)dlsym(RTLD_NEXT, "aligned_alloc");
    pvalloc_fn libc_pvalloc = (pvalloc_fn)dlsym(RTLD_NEXT, "pvalloc");
    if (!libc_aligned || !libc_pvalloc)
        SKIP("no C library aligned_alloc/pvalloc behind ours");
    CHECK(libc_aligned != (aligned_fn)aligned_alloc);

    same_aligned(libc_aligned, 3, 10);
    same_aligned(libc_aligned, 0, 10);
    same_aligned(libc_aligned, 24, 100);
    same_aligned(libc_aligned, 64, 100);
    same_aligned(libc_aligned, 4096, 1);

    /* pvalloc of a size whose rounding to pages would wrap: NULL, ENOMEM. */
    size_t huge = SIZE_MAX - 100;
    errno = 0;
    void *ours = pvalloc(huge);
    int our_errno = errno;
    errno = 0;
    void *theirs = libc_pvalloc(huge);
    int their_errno = errno;
    CHECK_MSG(!ours && our_errno == ENOMEM, "pvalloc(SIZE_MAX - 100): %p errno %d (glibc: %p %d)",
              ours, our_errno, theirs, their_errno);
    CHECK(!theirs && their_errno == ENOMEM);
    void *page = pvalloc(1);
    CHECK(page && ((uintptr_t)page & 4095) == 0 && malloc_usable_size(page) >= 4096);
    free(page);
    printf("test-malloc-edges: ok\n");
    return 0;
}
