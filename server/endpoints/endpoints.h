/*
 * endpoints — every /debug/pprof/<name> the server answers, behind one
 * table (table.c), one file per family:
 *
 *   heap.c        heap, allocs
 *   cpu.c         profile
 *   threads.c     threads, goroutine, threadcreate
 *   contention.c  mutex, block
 *   symbol.c      symbol
 *   cmdline.c     cmdline
 *   index.c       the index page (its HTML is text/index.c's)
 *   files.c       CPU and heap profiles written to files at exit
 *                 (PPROFD_PROFILE_DIR), for programs that do not live long
 *
 * A handler parses its parameters (server/http/http.h, strictly), reads the
 * sampler's tables, and answers: a profile built with server/encode, or
 * text written by server/text. Handlers run on server threads only, never
 * in a signal handler or inside malloc; those the router deems long (a
 * window to wait out, a thread capture) run on a worker, where they may
 * block in pprofd__wait.
 *
 * A new endpoint is a handler here, a row in table.c, and a row in the
 * README's endpoint table (test-docs checks the two agree).
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_ENDPOINTS_H
#define PPROFD_ENDPOINTS_H

#include "sampler/labels.h"
#include "server/http/http.h"

/* The pairs of label set `id` (sampler/labels.h) as profile labels, into
 * out; how many. */
static inline int pprofd__sample_labels(uint32_t id, pprofd__label out[PPROFD_LABEL_PAIRS])
{
    const pprofd__label_set *s = pprofd__labels_get(id);
    int n = s ? s->npairs : 0;
    for (int i = 0; i < n; i++)
        out[i] = (pprofd__label){.key = s->pairs[i].key, .str = s->pairs[i].value};
    return n;
}

typedef enum MHD_Result (*pprofd__handler)(pprofd__request *req);

typedef struct pprofd__endpoint {
    const char *name;
    const char *description;
    pprofd__handler handle;
    long (*count)(void);  /* for the index page; NULL: no count */
    int allow_post;
} pprofd__endpoint;

/* Every endpoint, in index order; ends with a zeroed entry. */
extern const pprofd__endpoint pprofd__endpoints[];
const pprofd__endpoint *pprofd__endpoint_find(const char *name);

/* heap.c: heap and allocs, and the index page's count of sampled stacks.
 * ?seconds=N: the delta over N seconds; ?debug=1: the legacy text. */
enum MHD_Result pprofd__handle_heap(pprofd__request *req);
enum MHD_Result pprofd__handle_allocs(pprofd__request *req);
long pprofd__count_heap(void);
/* The heap profile now (no delta), default_type its default sample type;
 * NULL out of memory. For files.c. */
pprofd__profile *pprofd__heap_profile_now(const char *default_type);

/* cpu.c: ?seconds=N (default 30, 1..max_seconds) and ?hz=H (1..1000,
 * default the server's cpu_hz): samples every thread's CPU for the window
 * and answers Go's CPU profile. 409 when the host owns SIGPROF or a profile
 * at another rate runs; a client that hangs up ends its window at once. */
enum MHD_Result pprofd__handle_cpu_profile(pprofd__request *req);
/* Go's CPU profile of r's window since start_nanos; consumes r (closes
 * it). NULL out of memory. */
struct pprofd__cpu_reader;
/* files.c's anchor, referenced by table.c so that static links keep it. */
extern const char pprofd__files_linked;
pprofd__profile *pprofd__cpu_profile_build(struct pprofd__cpu_reader *r, long long start_nanos);

/* threads.c: one capture of every thread (or two, for ?seconds=), grouped
 * by thread name and stack; threadcreate from the pthread_create
 * interposer's table. */
enum MHD_Result pprofd__handle_threads(pprofd__request *req);
enum MHD_Result pprofd__handle_goroutine(pprofd__request *req);
enum MHD_Result pprofd__handle_threadcreate(pprofd__request *req);
long pprofd__count_threads(void);
long pprofd__count_threadcreate(void);

/* contention.c: valid, empty until contention profiling exists; the count
 * for the index page is 0. */
enum MHD_Result pprofd__handle_mutex(pprofd__request *req);
enum MHD_Result pprofd__handle_block(pprofd__request *req);
long pprofd__count_contention(void);

/* symbol.c: pprof's remote symbolization, GET and POST. */
enum MHD_Result pprofd__handle_symbol(pprofd__request *req);

/* cmdline.c: argv joined by NUL, as Go's. */
enum MHD_Result pprofd__handle_cmdline(pprofd__request *req);

/* index.c: the HTML index of every endpoint with its count. */
enum MHD_Result pprofd__handle_index(pprofd__request *req);

#endif
