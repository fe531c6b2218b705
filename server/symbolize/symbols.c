/*
 * symbols — see symbols.h, and symbolize/internal.h for how the work is
 * split between this file, functions.c and debuginfo.c. Built on elfutils'
 * libdwfl reporting this very process (/proc/self/maps), in three layers,
 * each loaded lazily and kept:
 *
 *   1. the Dwfl session: one module per mapped ELF object. libdwfl finds
 *      each object's symbol table (.symtab in the file, else in its
 *      separate debug file, else MiniDebugInfo, else .dynsym) and its DWARF
 *      (in the file, or a separate debug file found by build ID under
 *      /usr/lib/debug/.build-id/xx/rest.debug or by .gnu_debuglink).
 *   2. per module, our own sorted table of function symbols (binary search,
 *      where libdwfl's dwfl_module_addrinfo scans the whole table), built on
 *      the first address that falls in the module: O(N log N) once.
 *   3. per address, the finished frames (names interned in one string
 *      pool): the first lookup of an address walks DWARF scopes (O(DIEs of
 *      its compile unit)), every later one is a hash probe. Profiles reuse
 *      the same few thousand addresses request after request, so the warm
 *      path is what a scrape pays.
 *
 * Objects loaded or unloaded since the last look are noticed through the
 * loader's dlpi_adds/dlpi_subs counters (one dl_iterate_phdr step, on cache
 * misses and unknown mappings only: see refresh_session): any change
 * re-reads /proc/self/maps; an unload also flushes the per-address cache,
 * since its addresses may now mean something else.
 *
 * Memory: libdw's and our allocations go through the host's malloc, and so
 * through pprofd's heap sampler: they show in the heap profile under
 * pprofd__symbolize and pprofd__symbols_object_info. That is deliberate:
 * it is real memory the process holds, and hiding it would make the
 * profile disagree with RSS. The largest part is DWARF that libelf inflates
 * from compressed sections (~13 MB for libc's debug file from libc6-dbg).
 * The index page reports the total (pprofd__symbols_memory).
 *
 * Everything sits behind one mutex: libdwfl is not thread-safe, and
 * profiles are built on server threads where a short wait is harmless.
 */
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sampler/base.h"
#include "sampler/fork.h"
#include "sampler/loader.h"
#include "server/symbolize/internal.h"

/* Addresses cached before the cache starts over (bounds its memory at a few
 * tens of MiB for a pathological host; profiles hold far fewer). */
#define PC_CACHE_MAX (1u << 18)

/* ---- state, all guarded by `lock` ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Dwfl *dwfl;
static unsigned long long seen_adds, seen_subs; /* loader counters at the last report */
static pprofd__symbols_stats stats;

/* __cxa_demangle, if the process has a C++ runtime: looked up at run time
 * so that pprofd gains no libstdc++ dependency, and C++ hosts (which carry
 * libstdc++ anyway) get demangled names. */
typedef char *(*demangle_fn)(const char *mangled, char *buf, size_t *len, int *status);
static demangle_fn cxa_demangle;

/* ---- the lock, and fork ---- */

/*
 * fork() copies the lock as it is. A prepare handler that took it would
 * hold up the host's fork for as long as a cold symbolization runs (a
 * second), so instead the child re-creates the lock, and if a thread of
 * the parent was inside the symbolizer at the fork, the child drops (and
 * leaks) the half-updated state and starts over on its first use.
 */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static _Atomic int busy; /* 1 while a thread holds `lock` */

static void forget_everything(void);

static void child_after_fork(void)
{
    if (atomic_load_explicit(&busy, memory_order_relaxed))
        forget_everything();
    atomic_store_explicit(&busy, 0, memory_order_relaxed);
    pthread_mutex_init(&lock, NULL);
}

static void register_atfork(void)
{
    pprofd__fork_on_child(PPROFD_FORK_SYMBOLS, child_after_fork);
}

static void lock_symbols(void)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&lock);
    atomic_store_explicit(&busy, 1, memory_order_relaxed);
}

static void unlock_symbols(void)
{
    atomic_store_explicit(&busy, 0, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
}

/* ---- what libdw holds ----
 * Not measured. glibc's only figure for it, mallinfo2(), walks every free
 * chunk of every arena with that arena's lock held (470 ms on a heap of a
 * million free chunks, the host's malloc stalled meanwhile), and it counts
 * every thread's allocations, the host's too. The figures below are
 * pprofd's own tables, exactly. The measure calls stay as the places to
 * count libdw's allocations by other means. */

static long long libdw_bytes; /* stays 0: see above */

pprofd__measure pprofd__symbols_measure_begin(void)
{
    pprofd__measure s = {0};
    return s;
}

void pprofd__symbols_measure_end(pprofd__measure s)
{
    (void)s;
}

/* ---- string pool: every string the cache hands out ---- */

typedef struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    char data[];
} pool_chunk;

static pool_chunk *pool_chunks;
static const char **pool_set; /* open addressing, NULL = empty */
static size_t pool_cap, pool_len, pool_bytes;

static int pool_grow(void)
{
    size_t cap = pool_cap ? pool_cap * 2 : 1024;
    const char **set = calloc(cap, sizeof *set);
    if (!set)
        return -1;
    for (size_t i = 0; i < pool_cap; i++) {
        if (!pool_set[i])
            continue;
        size_t j = pprofd__hash_string(pool_set[i]) & (cap - 1);
        while (set[j])
            j = (j + 1) & (cap - 1);
        set[j] = pool_set[i];
    }
    free(pool_set);
    pool_bytes += (cap - pool_cap) * sizeof *set;
    pool_set = set;
    pool_cap = cap;
    return 0;
}

/* A stable copy of s, shared by every caller that interns the same text.
 * NULL only when out of memory. */
const char *pprofd__symbols_intern(const char *s)
{
    if ((pool_len + 1) * 4 > pool_cap * 3 && pool_grow() < 0)
        return NULL;
    size_t j = pprofd__hash_string(s) & (pool_cap - 1);
    for (; pool_set[j]; j = (j + 1) & (pool_cap - 1))
        if (strcmp(pool_set[j], s) == 0)
            return pool_set[j];
    size_t len = strlen(s) + 1;
    if (!pool_chunks || pool_chunks->cap - pool_chunks->used < len) {
        size_t cap = len > 60000 ? len : 60000;
        pool_chunk *c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = pool_chunks;
        c->used = 0;
        c->cap = cap;
        pool_chunks = c;
        pool_bytes += sizeof *c + cap;
    }
    char *copy = pool_chunks->data + pool_chunks->used;
    memcpy(copy, s, len);
    pool_chunks->used += len;
    pool_set[j] = copy;
    pool_len++;
    return copy;
}

/* ---- per-address cache ---- */

typedef struct pc_entry {
    uintptr_t pc; /* 0 = empty slot (0 is never a call site) */
    uint32_t first, n;
} pc_entry;

static pc_entry *pc_table;
static size_t pc_cap, pc_len;
static pprofd__frame *frame_store;
static size_t frame_len, frame_cap;

static void cache_flush(void)
{
    while (pool_chunks) {
        pool_chunk *next = pool_chunks->next;
        free(pool_chunks);
        pool_chunks = next;
    }
    free(pool_set);
    free(pc_table);
    free(frame_store);
    pool_set = NULL;
    pc_table = NULL;
    frame_store = NULL;
    pool_cap = pool_len = pool_bytes = pc_cap = pc_len = frame_len = frame_cap = 0;
}

static pc_entry *pc_find(uintptr_t pc)
{
    if (!pc_cap)
        return NULL;
    for (size_t j = pprofd__mix64(pc) & (pc_cap - 1); pc_table[j].pc; j = (j + 1) & (pc_cap - 1))
        if (pc_table[j].pc == pc)
            return &pc_table[j];
    return NULL;
}

static int pc_grow(void)
{
    size_t cap = pc_cap ? pc_cap * 2 : 1024;
    pc_entry *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < pc_cap; i++) {
        if (!pc_table[i].pc)
            continue;
        size_t j = pprofd__mix64(pc_table[i].pc) & (cap - 1);
        while (t[j].pc)
            j = (j + 1) & (cap - 1);
        t[j] = pc_table[i];
    }
    free(pc_table);
    pc_table = t;
    pc_cap = cap;
    return 0;
}

/* Store frames (strings already interned) for pc; returns the entry or NULL
 * when out of memory (the caller then answers from its own copy). */
static pc_entry *pc_insert(uintptr_t pc, const pprofd__frame *frames, int n)
{
    if ((pc_len + 1) * 4 > pc_cap * 3 && pc_grow() < 0)
        return NULL;
    if (frame_len + (size_t)n > frame_cap) {
        size_t cap = frame_cap ? frame_cap * 2 : 1024;
        while (cap < frame_len + (size_t)n)
            cap *= 2;
        pprofd__frame *f = realloc(frame_store, cap * sizeof *f);
        if (!f)
            return NULL;
        frame_store = f;
        frame_cap = cap;
    }
    if (n > 0) /* an unnamed address is cached too, with no frames */
        memcpy(frame_store + frame_len, frames, (size_t)n * sizeof *frames);
    size_t j = pprofd__mix64(pc) & (pc_cap - 1);
    while (pc_table[j].pc)
        j = (j + 1) & (pc_cap - 1);
    pc_table[j] = (pc_entry){.pc = pc, .first = (uint32_t)frame_len, .n = (uint32_t)n};
    frame_len += (size_t)n;
    pc_len++;
    return &pc_table[j];
}

/* ---- the Dwfl session and the loader's view ---- */

static int removed_module(Dwfl_Module *m, void *userdata, const char *name, Dwarf_Addr base,
                          void *arg)
{
    (void)m, (void)name, (void)base, (void)arg;
    void **slot = userdata; /* libdwfl passes the address of the module's userdata */
    pprofd__symbols_module_free(*slot);
    *slot = NULL;
    return DWARF_CB_OK;
}

static int free_module_userdata(Dwfl_Module *m, void **userdata, const char *name,
                                Dwarf_Addr base, void *arg)
{
    (void)m, (void)name, (void)base, (void)arg;
    pprofd__symbols_module_free(*userdata);
    *userdata = NULL;
    return DWARF_CB_OK;
}

static int match_cxx_runtime(Dwfl_Module *m, void **userdata, const char *name, Dwarf_Addr base,
                             void *arg)
{
    (void)m, (void)userdata, (void)base;
    if (!strstr(name, "/libstdc++.so") && !strstr(name, "/libc++abi.so"))
        return DWARF_CB_OK;
    *(const char **)arg = name;
    return DWARF_CB_ABORT;
}

/*
 * __cxa_demangle from the C++ runtime mapped in the process, if any: the
 * library is opened again with RTLD_NOLOAD, which finds it even when a
 * plugin loaded it RTLD_LOCAL (out of RTLD_DEFAULT's reach), and takes a
 * reference so the pointer we keep outlives any dlclose by the host.
 * Failing that, a global definition (a static libstdc++ exported with
 * -rdynamic). Called with the lock held after each report; O(modules).
 */
static void find_demangler(void)
{
    const char *path = NULL;
    dwfl_getmodules(dwfl, match_cxx_runtime, &path, 0);
    void *h = path ? dlopen(path, RTLD_LAZY | RTLD_NOLOAD) : NULL;
    cxa_demangle = (demangle_fn)dlsym(h ? h : RTLD_DEFAULT, "__cxa_demangle");
}

char *pprofd__symbols_demangle(const char *mangled)
{
    if (!cxa_demangle)
        return NULL;
    int status = -1;
    char *d = cxa_demangle(mangled, NULL, NULL, &status);
    if (d && status != 0) {
        free(d);
        d = NULL;
    }
    return d;
}

/*
 * Make the session match the objects loaded now. O(1) when nothing changed;
 * otherwise O(mappings) to re-read /proc/self/maps.
 *
 * Called only when an address misses the cache, a mapping's file is not
 * known, or symbols are counted, never on the warm path: dl_iterate_phdr
 * takes the loader's lock, and glibc (2.36) does not reset that lock in the
 * child of a fork, so a host forking while we hold it would get a child
 * that hangs in its first dl_iterate_phdr (C++ exception unwinding, say).
 * A cached address is therefore trusted without looking; a library
 * unloaded and another mapped at the same addresses is noticed by the
 * profile builder asking for the new mapping's flags (an unknown path),
 * which flushes the cache.
 */
static int refresh_session(void)
{
    unsigned long long counters[2];
    pprofd__loader_counters(&counters[0], &counters[1]);
    if (dwfl && counters[0] == seen_adds && counters[1] == seen_subs)
        return 0;
    pprofd__measure s = pprofd__symbols_measure_begin();
    if (dwfl && counters[1] != seen_subs) {
        /* Something was unloaded: start a fresh session. Reporting the
         * maps again into the old one keeps modules libdwfl does not match
         * to their new report (libc's, pprofd's own...), each with its open
         * files and tables: a plugin-loading host grew 15 MB and 7
         * descriptors per request. Lookups after an unload are cold anyway
         * (the cache is flushed below). */
        dwfl_getmodules(dwfl, free_module_userdata, NULL, 0);
        dwfl_end(dwfl);
        dwfl = NULL;
        stats.reloads++;
    }
    if (!dwfl) {
        dwfl = dwfl_begin(&pprofd__symbols_callbacks);
        if (!dwfl) {
            pprofd__symbols_measure_end(s);
            return -1;
        }
    } else {
        stats.reloads++;
    }
    if (counters[1] != seen_subs)
        cache_flush();
    dwfl_report_begin(dwfl);
    int rc = dwfl_linux_proc_report(dwfl, getpid());
    if (dwfl_report_end(dwfl, removed_module, NULL) != 0)
        rc = -1;
    pprofd__symbols_measure_end(s);
    seen_adds = counters[0];
    seen_subs = counters[1];
    if (!cxa_demangle) /* a C++ runtime may have come with a new object */
        find_demangler();
    return rc == 0 ? 0 : -1;
}

static uint64_t now_nanos(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void pprofd__symbolize(uintptr_t pc, pprofd__frames_fn fn, void *arg)
{
    uint64_t t0 = now_nanos();
    lock_symbols();
    stats.lookups++;
    pprofd__frame frames[MAX_FRAMES];
    const pprofd__frame *answer = frames;
    int n = 0;
    const pc_entry *e = pc_find(pc);
    if (e) {
        n = (int)e->n;
        if (n > 0)
            answer = frame_store + e->first;
    } else {
        stats.misses++;
        /* Objects loaded or unloaded since the last look: only on a miss,
         * as it takes the loader's lock (see refresh_session). */
        refresh_session();
        if (pc_len >= PC_CACHE_MAX)
            cache_flush(); /* start over rather than grow without bound */
        if (dwfl) {
            pprofd__measure s = pprofd__symbols_measure_begin();
            n = pprofd__symbols_resolve(dwfl, pc, frames);
            if (n < 0)
                n = 0; /* out of memory: unnamed this time, tried again next time */
            else
                pc_insert(pc, frames, n);
            pprofd__symbols_measure_end(s);
        }
    }
    fn(pc, answer, n, arg);
    stats.nanos += now_nanos() - t0;
    unlock_symbols();
}

/* The child of a fork taken mid-update: every pointer may be torn, so
 * none is followed or freed; the memory is lost to this child. */
static void forget_everything(void)
{
    dwfl = NULL;
    seen_adds = seen_subs = 0;
    cxa_demangle = NULL;
    pool_chunks = NULL;
    pool_set = NULL;
    pc_table = NULL;
    frame_store = NULL;
    pool_cap = pool_len = pool_bytes = pc_cap = pc_len = frame_len = frame_cap = 0;
    pprofd__symbols_modules_forget();
    libdw_bytes = 0;
}

typedef struct find_by_name {
    const char *path;
    Dwfl_Module *found;
} find_by_name;

static int match_module_name(Dwfl_Module *m, void **userdata, const char *name, Dwarf_Addr base,
                             void *arg)
{
    (void)userdata, (void)base;
    find_by_name *f = arg;
    if (strcmp(name, f->path) != 0)
        return DWARF_CB_OK;
    f->found = m;
    return DWARF_CB_ABORT;
}

void pprofd__symbols_object_info(const char *path, pprofd__object_info *out)
{
    memset(out, 0, sizeof *out);
    uint64_t t0 = now_nanos();
    lock_symbols();
    find_by_name f = {.path = path};
    if (dwfl)
        dwfl_getmodules(dwfl, match_module_name, &f, 0); /* O(modules) */
    if (!f.found && refresh_session() == 0 && dwfl) /* mapped since the last look */
        dwfl_getmodules(dwfl, match_module_name, &f, 0);
    pprofd__module_cache *c = f.found ? pprofd__symbols_module(f.found) : NULL;
    if (c)
        pprofd__symbols_module_info(f.found, c, out);
    stats.info_nanos += now_nanos() - t0;
    unlock_symbols();
}

static int add_module_symbols(Dwfl_Module *m, void **userdata, const char *name,
                              Dwarf_Addr base, void *arg)
{
    (void)userdata, (void)name, (void)base;
    pprofd__module_cache *c = pprofd__symbols_module(m);
    if (c)
        *(size_t *)arg += pprofd__symbols_module_symbols(c);
    return DWARF_CB_OK;
}

size_t pprofd__symbols_count(void)
{
    size_t n = 0;
    lock_symbols();
    refresh_session();
    if (dwfl)
        dwfl_getmodules(dwfl, add_module_symbols, &n, 0);
    unlock_symbols();
    return n;
}

static size_t own_bytes_locked(void)
{
    return pool_bytes + pc_cap * sizeof *pc_table + frame_cap * sizeof *frame_store +
           pprofd__symbols_modules_bytes();
}

size_t pprofd__symbols_memory(void)
{
    lock_symbols();
    size_t n = own_bytes_locked() + (libdw_bytes > 0 ? (size_t)libdw_bytes : 0);
    unlock_symbols();
    return n;
}

void pprofd__symbols_get_stats(pprofd__symbols_stats *out)
{
    lock_symbols();
    *out = stats;
    out->own_bytes = own_bytes_locked();
    out->libdw_bytes = libdw_bytes > 0 ? (size_t)libdw_bytes : 0;
    unlock_symbols();
}
