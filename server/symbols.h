/*
 * symbols — address -> function (and, where known, file:line and inline
 * chain). One symbolizer serves every profile. Thread-safe (an internal
 * mutex); server threads only, never a signal handler or malloc.
 */
#ifndef PPROFD_SYMBOLS_H
#define PPROFD_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pprofd__frame {
    const char *name;        /* demangled where it applies; never NULL */
    const char *system_name; /* as in the symbol table; never NULL */
    const char *file;        /* "" when unknown */
    int64_t line;            /* 0 when unknown */
    int64_t start_line;      /* 0 when unknown */
} pprofd__frame;

/* What the symbolizer knows about the object mapped at an address. */
typedef struct pprofd__object_info {
    int has_functions, has_filenames, has_line_numbers, has_inline_frames;
} pprofd__object_info;

/* Resolve pc into at most max frames, innermost (inlined) first. Returns how
 * many were written; 0 when nothing names the address. The strings stay
 * valid until fn returns: the callback form lets the symbolizer hold its
 * lock and its caches while the caller copies what it needs. */
typedef void (*pprofd__frames_fn)(uintptr_t pc, const pprofd__frame *frames, int n, void *arg);
void pprofd__symbolize(uintptr_t pc, pprofd__frames_fn fn, void *arg);

/* Flags for the mapping whose file is `path` (as in /proc/self/maps). */
void pprofd__symbols_object_info(const char *path, pprofd__object_info *out);

/* Bytes the symbol caches hold, for the index page. */
size_t pprofd__symbols_memory(void);

#endif
