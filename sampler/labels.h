/*
 * labels — key/value labels on the calling thread's samples (the public
 * API is pprofd_labels_* in include/pprofd.h; this is the sampler's side).
 *
 * A label set is immutable and interned: the same pairs are always the same
 * set, named by a small integer id (0: no labels). A thread's current set
 * is one initial-exec TLS word, so the SIGPROF handler and the heap sampler
 * read it with one load, and setting it is one store. Samplers count a
 * sample under (stack, label set) (stacktab.h's labelled entries); a live
 * heap object keeps its entry, so its free is taken off the same set.
 *
 * Sets live in mmap'd memory, never freed, so an id read from a sample is
 * valid forever. Lookup is lock-free; a new set is inserted under a mutex
 * (normal context only). There are at most PPROFD_LABEL_SETS sets; past
 * that, pprofd_labels_with returns the "[lost]" set (labels=[lost]),
 * counted in pprofd__labels_refused.
 *
 * A new thread starts with its creator's set (as Go's goroutines inherit
 * their creator's labels); pprofd's own threads start with pprofd=server.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_LABELS_H
#define PPROFD_LABELS_H

#include <stddef.h>
#include <stdint.h>

#define PPROFD_LABEL_SETS 4096     /* distinct sets, the [lost] one included */
#define PPROFD_LABEL_PAIRS 16      /* pairs in one set */
#define PPROFD_LABEL_KEY_MAX 64    /* bytes of a key, NUL excluded */
#define PPROFD_LABEL_VALUE_MAX 256 /* bytes of a value, NUL excluded */

typedef struct pprofd__label_pair {
    const char *key, *value;
} pprofd__label_pair;

typedef struct pprofd__label_set {
    uint64_t hash;
    uint32_t id;
    int npairs;
    pprofd__label_pair pairs[]; /* sorted by key, keys unique */
} pprofd__label_set;

extern __thread uint32_t pprofd__labels_tls __attribute__((tls_model("initial-exec")));

/* The calling thread's set. Async-signal-safe: one TLS load. */
static inline uint32_t pprofd__labels_current(void)
{
    return pprofd__labels_tls;
}

/* The set named id, or NULL (0, or not an id). Any context. */
const pprofd__label_set *pprofd__labels_get(uint32_t id);

/* The set {pprofd=server}, given to pprofd's own threads. */
uint32_t pprofd__labels_server(void);

/* Sets made, and pprofd_labels_with calls refused for the cap. */
size_t pprofd__labels_sets(void);
uint64_t pprofd__labels_refused(void);

#endif
