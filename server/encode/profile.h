/*
 * profile — builds a profile.proto message and writes it, gzip'd, into a
 * pprofd__gzip sink. Server threads only; not thread-safe per builder (one
 * builder per request).
 *
 * Stacks come in as call-site addresses, leaf first (see sampler/unwind.h).
 * At encode time the builder takes the mappings (mappings.h: executable
 * ones, main program first, with build IDs) and runs every distinct
 * address once through the symbolizer (server/symbolize).
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_PROFILE_H
#define PPROFD_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "server/encode/gzip.h"

typedef struct pprofd__profile pprofd__profile;

typedef struct pprofd__label {
    const char *key;
    const char *str; /* NULL for a numeric label */
    int64_t num;
    const char *unit; /* NULL or e.g. "bytes" */
} pprofd__label;

pprofd__profile *pprofd__profile_new(void);
void pprofd__profile_free(pprofd__profile *p);

void pprofd__profile_add_sample_type(pprofd__profile *p, const char *type, const char *unit);
void pprofd__profile_set_period(pprofd__profile *p, const char *type, const char *unit,
                                int64_t period);
void pprofd__profile_set_default_sample_type(pprofd__profile *p, const char *type);
/* pprof drops frames whose function name (argument list removed) fully
 * matches regexp, and every frame below them, from each sample. */
void pprofd__profile_set_drop_frames(pprofd__profile *p, const char *regexp);
void pprofd__profile_set_time(pprofd__profile *p, int64_t time_nanos, int64_t duration_nanos);
void pprofd__profile_add_comment(pprofd__profile *p, const char *text);

/*
 * Add one sample. values has one entry per sample type. pseudo_leaf, when
 * not NULL, puts a synthetic frame of that name (e.g. "[lost]") at the leaf,
 * before pcs. Returns 0 or -1 when out of memory.
 */
int pprofd__profile_add_sample(pprofd__profile *p, const char *pseudo_leaf,
                               const uintptr_t *pcs, int depth, const int64_t *values,
                               const pprofd__label *labels, int nlabels);

/* Symbolize, pack and compress into g. Returns 0 or -1 (out of memory, or
 * the sink failed). */
int pprofd__profile_encode(pprofd__profile *p, pprofd__gzip *g);

/* pprofd__profile_encode into a fresh gzip stream: the compressed bytes
 * (malloc'd, *len of them), or NULL out of memory. Consumes p. */
unsigned char *pprofd__profile_encode_gzip(pprofd__profile *p, size_t *len);

/* Number of samples added so far. */
size_t pprofd__profile_sample_count(const pprofd__profile *p);

#endif
