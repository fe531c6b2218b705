/* Frames of the shapes a host built without frame pointers has, for
 * test-unwind: compiled -O2 -fomit-frame-pointer. Each calls the next
 * through a pointer and uses the result, so none is inlined or turned into
 * a tail call. */
#include <stdint.h>
#include <string.h>

#include "tests/unwind/frames.h"

/* A fixed-size frame that leaves the frame pointer alone. */
uint64_t frame_plain(next_fn next, uint64_t x)
{
    volatile uint64_t local[4] = {x, x + 1, x + 2, x + 3};
    return next(x) + local[2];
}

/* Seven values live across the call: more than the other callee-saved
 * registers hold, so the frame pointer register is saved and used as a
 * general one. */
uint64_t frame_pressure(next_fn next, uint64_t a)
{
    uint64_t x1 = a * 3, x2 = a * 5 + 1, x3 = a * 7 + 2, x4 = a * 11 + 3, x5 = a * 13 + 4,
             x6 = a * 17 + 5, x7 = a * 19 + 6;
    __asm__ volatile("" : "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6), "+r"(x7));
    uint64_t r = next(a);
    __asm__ volatile("" : "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6), "+r"(x7));
    return r + x1 + x2 + x3 + x4 + x5 + x6 + x7;
}

/* A frame whose size is known only at run time: the compiler keeps a
 * frame pointer for it even here. */
uint64_t frame_vla(next_fn next, uint64_t n)
{
    char buf[n % 512 + 1];
    memset(buf, (int)n, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
    return next(n) + (uint64_t)buf[0];
}

/* Over-aligned locals: the stack is realigned on entry, so the distance
 * from sp to the caller's frame depends on where the caller's sp was. */
uint64_t frame_realigned(next_fn next, uint64_t x)
{
    _Alignas(64) volatile uint64_t block[8];
    block[0] = x;
    return next(x) + block[0];
}
