/*
 * symbols — address -> function (and, where known, file:line and inline
 * chain). One symbolizer serves every profile and /debug/pprof/symbol.
 *
 * Thread-safe: one internal mutex serialises everything (libdwfl is not
 * thread-safe). Server threads only, never a signal handler or malloc: it
 * allocates, opens files and takes the dynamic loader's lock
 * (dl_iterate_phdr). Nothing else is locked while the mutex is held, except
 * the loader lock and malloc's, so there is no lock order to respect.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_SYMBOLS_H
#define PPROFD_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pprofd__frame {
    const char *name;        /* demangled where it applies; never NULL */
    const char *system_name; /* as in the symbol table (mangled); never NULL */
    const char *file;        /* "" when unknown */
    int64_t line;            /* 0 when unknown */
    int64_t start_line;      /* 0 when unknown */
} pprofd__frame;

/* What the symbolizer knows about the object mapped at an address. */
typedef struct pprofd__object_info {
    int has_functions, has_filenames, has_line_numbers, has_inline_frames;
} pprofd__object_info;

/* Resolve pc (a call site: return address - 1) into frames, innermost
 * (inlined) first, the physical function last, and call fn once with them
 * (n = 0 when nothing names the address). The strings stay valid until fn
 * returns: the callback form lets the symbolizer hold its lock and its
 * caches while the caller copies what it needs. fn must not call back into
 * the symbolizer. Cached per address: the first call for an address costs
 * a DWARF lookup, later ones a hash probe. */
typedef void (*pprofd__frames_fn)(uintptr_t pc, const pprofd__frame *frames, int n, void *arg);
void pprofd__symbolize(uintptr_t pc, pprofd__frames_fn fn, void *arg);

/* Flags for the mapping whose file is `path` (as in /proc/self/maps): what
 * pprofd__symbolize can say about addresses in it. All zero for a file the
 * symbolizer does not know. */
void pprofd__symbols_object_info(const char *path, pprofd__object_info *out);

/* Function symbols known across every loaded object (loads every object's
 * symbol table on first use; O(objects) afterwards). */
size_t pprofd__symbols_count(void);

/* Bytes the symbol caches hold, for the index page: pprofd's own tables,
 * exactly. What libdw allocates is not counted (glibc could tell only
 * through mallinfo2, which stalls the host's malloc: see symbols.c). */
size_t pprofd__symbols_memory(void);

/* Counters for benchmarks and tests. */
typedef struct pprofd__symbols_stats {
    uint64_t lookups, misses;  /* pprofd__symbolize calls; those not cached */
    uint64_t nanos;            /* time inside pprofd__symbolize, lock wait included */
    uint64_t info_nanos;       /* time inside pprofd__symbols_object_info, the same way */
    uint64_t reloads;          /* re-reads of the loaded objects (dlopen/dlclose seen) */
    size_t own_bytes, libdw_bytes;
} pprofd__symbols_stats;
void pprofd__symbols_get_stats(pprofd__symbols_stats *out);

#endif
