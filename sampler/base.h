/*
 * base — the few small helpers every room uses, one copy each. Header-only
 * and async-signal-safe: no allocation, no lock, no state.
 */
#ifndef PPROFD_BASE_H
#define PPROFD_BASE_H

#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* The calling thread's kernel id (glibc 2.36's gettid() is the same system
 * call; this spelling also builds where the wrapper is missing). */
static inline pid_t pprofd__current_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* A 64-bit finaliser (murmur3's fmix64 first half): spreads keys whose low
 * bits are alike (addresses, small integers) over a power-of-two table. */
static inline uint64_t pprofd__mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

/* FNV-1a over a NUL-terminated string: hash of interned names. */
static inline uint64_t pprofd__hash_string(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

#endif
