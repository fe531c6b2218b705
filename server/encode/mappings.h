/*
 * mappings — the process's executable file mappings, main program first,
 * each with the build ID of the object mapped there (pprof matches local
 * binaries by it). Server threads only.
 *
 * The list is kept while the loader's add/remove counters are unchanged
 * and the copy is less than a second old: reading /proc/self/maps and
 * every object's notes was a fifth of serving /heap under load. A fork
 * child re-creates the cache's lock (sampler/fork.h).
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_MAPPINGS_H
#define PPROFD_MAPPINGS_H

#include <stdint.h>

typedef struct pprofd__mapping {
    uint64_t start, limit, offset;
    char *path;     /* as /proc/self/maps says it (maybe "PATH (deleted)") */
    char *filename; /* " (deleted)" trimmed */
    char *build_id; /* hex, "" when the object has none */
} pprofd__mapping;

/* Call fn for each mapping, in order, with the cache's lock held (fn must
 * not call back here); stops at fn's first nonzero return and returns it.
 * -1 when the list cannot be read into memory. Without /proc: no mappings,
 * 0. */
int pprofd__mappings_foreach(int (*fn)(const pprofd__mapping *m, void *arg), void *arg);

#endif
