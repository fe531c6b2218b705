/*
 * pprofd — Go's /debug/pprof for C and C++ programs.
 *
 * An HTTP server inside the process serves CPU, heap, allocation and thread
 * profiles as gzip-compressed profile.proto, readable by `go tool pprof`.
 *
 * Two ways in:
 *   - link with -lpprofd and call pprofd_start(); or
 *   - LD_PRELOAD=libpprofd.so PPROFD_ADDR=127.0.0.1:1234 ./prog, no code.
 *
 * Everything here is thread-safe unless a comment says otherwise. Nothing in
 * this header is async-signal-safe unless its comment says so.
 */
#ifndef PPROFD_H
#define PPROFD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PPROFD_BUILDING)
#define PPROFD_API __attribute__((visibility("default")))
#else
#define PPROFD_API
#endif

/* The version of this header; CMake reads its number from here (the
 * project, the soname, pprofd.pc and the CMake package follow it). */
#define PPROFD_VERSION_MAJOR 0
#define PPROFD_VERSION_MINOR 1
#define PPROFD_VERSION_PATCH 0
#define PPROFD_VERSION "0.1.0"

/*
 * Settings. A zero field means "the default"; every field also has an
 * environment variable, read by the LD_PRELOAD constructor and by
 * pprofd_start() for fields left at zero.
 */
typedef struct pprofd_options {
    /* "host:port" to serve on. ":port" or "port" mean loopback only; every
     * interface only when named ("0.0.0.0:1234", "[::]:1234"). Port 0 picks
     * a free port (see pprofd_port()). NULL: $PPROFD_ADDR, else
     * "127.0.0.1:1234". */
    const char *addr;

    /* Mean bytes between heap samples ($PPROFD_MEM_RATE, default 524288, as
     * Go's runtime.MemProfileRate). 1 samples every allocation. A negative
     * value turns heap sampling off (the env variable uses 0 for that). */
    long mem_rate;

    /* CPU sampling frequency in Hz ($PPROFD_CPU_HZ, default 100). */
    int cpu_hz;

    /* Longest `seconds=` a request may ask for ($PPROFD_MAX_SECONDS,
     * default 300). */
    int max_seconds;

    /* Most memory, in bytes, the heap sampler may hold for its tables of
     * stacks and live sampled objects ($PPROFD_MEM_CAP, default 64 MiB;
     * about 4 MiB of it is fixed). Past it new samples are dropped and
     * counted; the heap profiles show them as a "[lost]" sample and a
     * comment, and the index page says so. Nothing held is ever given back,
     * so lowering it only stops growth. */
    size_t mem_cap;

    /* A secret every request must then carry as "Authorization: Bearer
     * <token>" ($PPROFD_TOKEN); 401 without it. NULL: none (or the file's). */
    const char *token;

    /* A file whose first line is that token ($PPROFD_TOKEN_FILE), so the
     * secret need not sit in the environment. Ignored when token is set. */
    const char *token_file;
} pprofd_options;

typedef struct pprofd_server pprofd_server;

/*
 * Start serving /debug/pprof/ on its own threads. opts may be NULL (all
 * defaults). Returns NULL after printing a one-line reason on stderr when the
 * server cannot start (bad address, port taken, libmicrohttpd missing); the
 * host carries on.
 * Heap sampling, once enabled by the library being loaded, runs whether or
 * not a server is started.
 */
PPROFD_API pprofd_server *pprofd_start(const pprofd_options *opts);

/*
 * The TCP port the server listens on (useful after asking for port 0), or
 * -1 for NULL.
 */
PPROFD_API int pprofd_port(const pprofd_server *server);

/*
 * Stop serving: in-flight requests are cut short, the threads are joined and
 * the server's memory is freed. NULL is a no-op. Must not be called from a
 * request handler.
 */
PPROFD_API void pprofd_stop(pprofd_server *server);

/*
 * Labels: key/value pairs attached to the calling thread's samples, for a
 * scope, as Go's pprof.Do does. Every CPU sample the thread takes, and
 * every allocation it makes (heap and allocs: an object keeps the labels
 * it was allocated under until it is freed), carries the thread's label
 * set; `go tool pprof -tags` lists them, `-tagfocus key=value` selects.
 *
 *     pprofd_labels req = pprofd_labels_with(pprofd_labels_current(), "endpoint", path);
 *     pprofd_labels prev = pprofd_labels_set(req);
 *     handle(request);
 *     pprofd_labels_set(prev);   // restore
 *
 * A label set is immutable and interned: the same pairs always give the
 * same value, so a program may make its sets once and keep them.
 * PPROFD_NO_LABELS (0) is the empty set. A new thread starts with the set
 * of the thread that created it; pprofd's own threads carry pprofd=server.
 * Distinct sets are capped (4096); past the cap pprofd_labels_with returns
 * a set labels=[lost], and pprofd counts the refusals.
 */
typedef uint32_t pprofd_labels;
#define PPROFD_NO_LABELS ((pprofd_labels)0)

/*
 * base with key=value added (replacing base's value for key). Keys follow
 * Pyroscope's rule, [a-zA-Z_][a-zA-Z0-9_]*, at most 64 bytes; values are at
 * most 256 bytes; a set holds at most 16 pairs. On a bad key or value, or
 * past 16 pairs, it returns base unchanged with errno EINVAL (E2BIG for
 * the pairs). A lock-free lookup when the set exists, a short lock when it
 * is new. Not async-signal-safe.
 */
PPROFD_API pprofd_labels pprofd_labels_with(pprofd_labels base, const char *key,
                                            const char *value);

/* Make labels the calling thread's set; returns the set it had, to restore
 * with another pprofd_labels_set. Two thread-local loads and stores:
 * async-signal-safe. */
PPROFD_API pprofd_labels pprofd_labels_set(pprofd_labels labels);

/* The calling thread's set now. Async-signal-safe. */
PPROFD_API pprofd_labels pprofd_labels_current(void);

/*
 * The version of the library actually loaded, "MAJOR.MINOR.PATCH". Compare
 * it with PPROFD_VERSION, the version of this header, to catch a program
 * built against one pprofd and run with another. Thread-safe and
 * async-signal-safe: it returns a constant.
 */
PPROFD_API const char *pprofd_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PPROFD_H */
