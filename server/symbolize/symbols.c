/*
 * symbols — see symbols.h. Built on elfutils' libdwfl reporting this very
 * process (/proc/self/maps), in three layers, each loaded lazily and kept:
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
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
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
#include <zlib.h>

#include "sampler/base.h"
#include "sampler/fork.h"
#include "sampler/loader.h"
#include "server/symbolize/symbols.h"

/* Deepest inline chain kept for one address (physical function included). */
#define MAX_FRAMES 32
/* Addresses cached before the cache starts over (bounds its memory at a few
 * tens of MiB for a pathological host; profiles hold far fewer). */
#define PC_CACHE_MAX (1u << 18)

/* ---- state, all guarded by `lock` ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Dwfl *dwfl;
static char *debuginfo_path;
static unsigned long long seen_adds, seen_subs; /* loader counters at the last report */
static pprofd__symbols_stats stats;
static long long libdw_bytes; /* signed sum of malloc deltas around libdw work */

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name);

static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                    char **file_name, Elf **elfp);

static const Dwfl_Callbacks callbacks = {
    .find_elf = find_elf,
    .find_debuginfo = find_debuginfo,
    .debuginfo_path = &debuginfo_path, /* NULL: /usr/lib/debug */
};

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

/* ---- the objects themselves ---- */

/*
 * dwfl_linux_proc_find_elf, plus objects whose file was deleted or replaced
 * since it was mapped (a deploy that swaps the binary under a running
 * service; /proc/self/maps then says "PATH (deleted)"). The kernel keeps the
 * mapped inode alive and /proc/self/map_files/START-END opens it: the
 * whole file, .symtab and DWARF included. O(mappings) to find the range,
 * once per such object.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                    char **file_name, Elf **elfp)
{
    int fd = dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
    const char *deleted = strstr(modname, " (deleted)");
    if (fd >= 0 || *elfp || !deleted || deleted[strlen(" (deleted)")] != 0)
        return fd;
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps)
        return -1;
    char line[4096 + 256], path[4096];
    unsigned long start, end;
    while (fd < 0 && fgets(line, sizeof line, maps)) {
        path[0] = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095[^\n]", &start, &end, path) == 3 &&
            strcmp(path, modname) == 0) {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/map_files/%lx-%lx", start, end);
            fd = open(link, O_RDONLY | O_CLOEXEC);
        }
    }
    fclose(maps);
    if (fd >= 0) /* the old name: .gnu_debuglink is searched beside it */
        *file_name = strndup(modname, (size_t)(deleted - modname));
    return fd;
}

/* ---- separate debug files ---- */

/* CRC-32 of a whole file, as .gnu_debuglink records it. O(file size). */
static int file_crc32(int fd, uint32_t *out)
{
    unsigned char buf[16384];
    uLong crc = crc32(0, Z_NULL, 0);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        crc = crc32(crc, buf, (uInt)n);
    if (n < 0 || lseek(fd, 0, SEEK_SET) != 0)
        return -1;
    *out = (uint32_t)crc;
    return 0;
}

/*
 * Where a module's DWARF (or full .symtab) lives when the file itself has
 * none: by build ID (/usr/lib/debug/.build-id/xx/rest.debug, libdwfl's
 * dwfl_build_id_find_debuginfo), else by .gnu_debuglink next to the file,
 * in its .debug/ folder, or under /usr/lib/debug/<its folder>/, checked
 * against the link's CRC.
 *
 * Not dwfl_standard_find_debuginfo: on a miss it loads libdebuginfod (and
 * with it libcurl, gnutls, ...) into the host, and where DEBUGINFOD_URLS is
 * set (Debian's login shells set it) it would download debug files over
 * the network from inside a production process, holding our lock for as
 * long as that takes. A profiler must not do either.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    int fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                          debuglink_file, debuglink_crc, debuginfo_file_name);
    if (fd >= 0 || !file_name || !debuglink_file || !*debuglink_file ||
        strchr(debuglink_file, '/'))
        return fd;
    const char *slash = strrchr(file_name, '/');
    int dirlen = slash ? (int)(slash - file_name) : 0;
    static const char *const patterns[] = {"%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s"};
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        char path[4096];
        int n = snprintf(path, sizeof path, patterns[i], dirlen, file_name, debuglink_file);
        if (n < 0 || (size_t)n >= sizeof path || strcmp(path, file_name) == 0)
            continue;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        uint32_t crc;
        if (file_crc32(fd, &crc) == 0 && crc == debuglink_crc) {
            *debuginfo_file_name = strdup(path);
            return fd;
        }
        close(fd);
    }
    return -1;
}

/* ---- malloc accounting for libdw ---- */

static size_t malloc_in_use(void)
{
    /* O(free chunks) inside glibc: called only around cold work. */
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Attribute to libdw what malloc gained over a stretch of work, minus what
 * our own tables gained. Nested stretches count once, at the outermost. */
typedef struct snapshot {
    long long heap, own;
    bool outer;
} snapshot;

static int measure_depth;
static size_t own_bytes_locked(void);

static snapshot measure_begin(void)
{
    snapshot s = {0};
    if (measure_depth++ == 0) {
        s.outer = true;
        s.heap = (long long)malloc_in_use();
        s.own = (long long)own_bytes_locked();
    }
    return s;
}

static void measure_end(snapshot s)
{
    measure_depth--;
    if (s.outer)
        libdw_bytes += ((long long)malloc_in_use() - s.heap) -
                       ((long long)own_bytes_locked() - s.own);
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
static const char *pool_intern(const char *s)
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

/* ---- per-module function table ---- */

typedef struct sym_entry {
    uintptr_t start, end;
    const char *name; /* into libelf's string table: lives as long as the module */
    int rank;         /* lower is preferred among aliases at one address */
} sym_entry;

typedef struct module_cache {
    sym_entry *syms;
    size_t nsyms;
    int info_done;
    pprofd__object_info info;
} module_cache;

static size_t module_bytes; /* sum over live module caches */

static int binding_rank(const GElf_Sym *sym, const char *name)
{
    /* Among aliases, prefer a global name to a weak one to a local one, and
     * fewer leading underscores (malloc over __libc_malloc). */
    int b = GELF_ST_BIND(sym->st_info);
    int rank = b == STB_GLOBAL ? 0 : b == STB_WEAK ? 8 : 16;
    while (*name == '_' && rank % 8 < 7) {
        name++;
        rank++;
    }
    return rank;
}

static int sym_compare(const void *a, const void *b)
{
    const sym_entry *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->rank - y->rank;
}

static void module_cache_free(module_cache *c)
{
    if (!c)
        return;
    module_bytes -= sizeof *c + c->nsyms * sizeof *c->syms;
    free(c->syms);
    free(c);
}

/* Build the module's sorted function table: O(N log N) in its symbols. */
static module_cache *module_cache_load(Dwfl_Module *m)
{
    module_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    int n = dwfl_module_getsymtab(m);
    if (n > 0) {
        c->syms = malloc((size_t)n * sizeof *c->syms);
        if (!c->syms) {
            free(c);
            return NULL;
        }
    }
    for (int i = 1; i < n; i++) { /* entry 0 is the null symbol */
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(m, i, &sym, &addr, &shndx, NULL, NULL);
        int type = name ? GELF_ST_TYPE(sym.st_info) : STT_NOTYPE;
        if (!name || !*name || (type != STT_FUNC && type != STT_GNU_IFUNC) ||
            shndx == SHN_UNDEF || addr == 0)
            continue;
        c->syms[c->nsyms++] = (sym_entry){
            .start = addr, .end = addr + sym.st_size, .name = name, .rank = binding_rank(&sym, name)};
    }
    qsort(c->syms, c->nsyms, sizeof *c->syms, sym_compare);
    /* Keep one entry per address (the best-ranked, first after sorting);
     * a size-0 symbol extends to the next one. */
    size_t out = 0;
    for (size_t i = 0; i < c->nsyms; i++) {
        if (out && c->syms[out - 1].start == c->syms[i].start) {
            if (c->syms[out - 1].end < c->syms[i].end)
                c->syms[out - 1].end = c->syms[i].end;
            continue;
        }
        c->syms[out++] = c->syms[i];
    }
    c->nsyms = out;
    for (size_t i = 0; i + 1 < c->nsyms; i++)
        if (c->syms[i].end == c->syms[i].start)
            c->syms[i].end = c->syms[i + 1].start;
    if (c->nsyms) {
        sym_entry *shrunk = realloc(c->syms, c->nsyms * sizeof *c->syms);
        if (shrunk)
            c->syms = shrunk;
    }
    module_bytes += sizeof *c + c->nsyms * sizeof *c->syms;
    return c;
}

static module_cache *module_cache_for(Dwfl_Module *m)
{
    void **userdata;
    dwfl_module_info(m, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
    if (!*userdata) {
        snapshot s = measure_begin();
        *userdata = module_cache_load(m);
        measure_end(s);
    }
    return *userdata;
}

static const sym_entry *symbol_at(const module_cache *c, uintptr_t pc)
{
    size_t lo = 0, hi = c->nsyms; /* first entry with start > pc */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->syms[mid].start <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || pc >= c->syms[lo - 1].end)
        return NULL;
    return &c->syms[lo - 1];
}

/* ---- the Dwfl session and the loader's view ---- */

static int removed_module(Dwfl_Module *m, void *userdata, const char *name, Dwarf_Addr base,
                          void *arg)
{
    (void)m, (void)name, (void)base, (void)arg;
    void **slot = userdata; /* libdwfl passes the address of the module's userdata */
    module_cache_free(*slot);
    *slot = NULL;
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
    snapshot s = measure_begin();
    if (!dwfl) {
        dwfl = dwfl_begin(&callbacks);
        if (!dwfl) {
            measure_end(s);
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
    measure_end(s);
    seen_adds = counters[0];
    seen_subs = counters[1];
    if (!cxa_demangle) /* a C++ runtime may have come with a new object */
        find_demangler();
    return rc == 0 ? 0 : -1;
}

/* ---- names ---- */

/* The name to show for a symbol: demangled when it is a mangled C++ name
 * and a demangler is at hand, else the symbol itself. Interned. */
static const char *display_name(const char *system_name)
{
    if (cxa_demangle && system_name[0] == '_' && system_name[1] == 'Z') {
        int status = -1;
        char *d = cxa_demangle(system_name, NULL, NULL, &status);
        if (d && status == 0) {
            const char *s = pool_intern(d);
            free(d);
            if (s)
                return s;
        } else {
            free(d);
        }
    }
    return pool_intern(system_name);
}

static const char *die_string(Dwarf_Die *die, int name)
{
    Dwarf_Attribute attr;
    return dwarf_formstring(dwarf_attr_integrate(die, name, &attr));
}

static int die_udata(Dwarf_Die *die, int name, Dwarf_Word *out)
{
    Dwarf_Attribute attr;
    return dwarf_formudata(dwarf_attr(die, name, &attr), out);
}

/* One frame from a subprogram or inlined_subroutine DIE. Strings are not
 * yet interned (they point into libdw's data). */
static bool frame_from_die(Dwarf_Die *die, pprofd__frame *f)
{
    const char *linkage = die_string(die, DW_AT_linkage_name);
    if (!linkage)
        linkage = die_string(die, DW_AT_MIPS_linkage_name);
    const char *plain = dwarf_diename(die);
    if (!linkage && !plain)
        return false;
    f->system_name = linkage ? linkage : plain;
    f->name = plain; /* replaced by the demangled linkage name when interning */
    int decl_line = 0;
    f->start_line = dwarf_decl_line(die, &decl_line) == 0 ? decl_line : 0;
    return true;
}

/*
 * The chain of function DIEs whose ranges contain pc, outermost first: the
 * physical subprogram, then each inlined_subroutine inside it. Our own walk
 * rather than dwarf_getscopes, which at an inlined instance continues with
 * the scopes of the inline's abstract origin and so loses the caller.
 * Namespaces are searched (GCC nests C++ function definitions in them);
 * classes are not, as compilers put the concrete instance of a member
 * function at namespace or CU level, and a class holds only declarations.
 * Subtrees whose range misses pc are skipped whole (DW_AT_sibling), so the
 * cost is O(DIEs at the levels on the way down), at most O(DIEs in the CU).
 */
static int function_chain(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int depth,
                          int max, int nesting)
{
    Dwarf_Die child;
    if (nesting > 64 || dwarf_child(parent, &child) != 0)
        return depth;
    do {
        int tag = dwarf_tag(&child);
        switch (tag) {
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
        case DW_TAG_lexical_block:
        case DW_TAG_try_block:
        case DW_TAG_catch_block:
            if (dwarf_haspc(&child, pc) != 1)
                break;
            if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
                if (depth == max)
                    return depth;
                chain[depth++] = child;
            }
            return function_chain(&child, pc, chain, depth, max, nesting + 1);
        case DW_TAG_namespace:
        case DW_TAG_module: {
            int d = function_chain(&child, pc, chain, depth, max, nesting + 1);
            if (d > depth)
                return d;
            break;
        }
        default:
            break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return depth;
}

/*
 * Frames for pc from DWARF, innermost first: each inlined_subroutine a
 * frame of its own, then the subprogram that holds them. The innermost
 * frame's line comes from the line table; each outer frame's line is the
 * call site recorded on the inlined_subroutine just inside it
 * (DW_AT_call_file/DW_AT_call_line).
 */
static int dwarf_frames(Dwfl_Module *m, uintptr_t pc, pprofd__frame *out, int max)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(m, pc, &bias);
    if (!cu)
        return 0;
    Dwarf_Die chain[MAX_FRAMES];
    int depth = function_chain(cu, pc - bias, chain, 0, max < MAX_FRAMES ? max : MAX_FRAMES, 0);
    if (depth == 0)
        return 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
        files = NULL;

    const char *file = NULL;
    int line = 0;
    Dwarf_Line *l = dwarf_getsrc_die(cu, pc - bias);
    if (l) {
        file = dwarf_linesrc(l, NULL, NULL);
        dwarf_lineno(l, &line);
    }
    int n = 0;
    for (int i = depth - 1; i >= 0; i--) {
        pprofd__frame f = {0};
        frame_from_die(&chain[i], &f); /* no name: the caller fills one in */
        /* The file the code at this line is in: for pprof, file:line must
         * point at the code, even when the declaration sits in a header. */
        f.file = file ? file : "";
        f.line = line;
        out[n++] = f;
        Dwarf_Word w;
        line = die_udata(&chain[i], DW_AT_call_line, &w) == 0 ? (int)w : 0;
        file = files && die_udata(&chain[i], DW_AT_call_file, &w) == 0 && w < nfiles
                   ? dwarf_filesrc(files, w, NULL, NULL)
                   : NULL;
    }
    return n;
}

/* Intern frame strings in place; false when out of memory. A mangled C++
 * system name is shown demangled (DWARF's bare name lacks the class and
 * namespace); with no demangler in the process the name stays the mangled
 * one, and pprof, seeing name == system_name, demangles it itself.
 * Otherwise the DWARF name, else the symbol. */
static bool intern_frame(pprofd__frame *f)
{
    const char *system = pool_intern(f->system_name);
    const char *name;
    if (f->system_name[0] == '_' && f->system_name[1] == 'Z')
        name = display_name(f->system_name);
    else
        name = f->name ? pool_intern(f->name) : system;
    const char *file = pool_intern(f->file);
    if (!system || !name || !file)
        return false;
    f->system_name = system;
    f->name = name;
    f->file = file;
    return true;
}

/* Cold path: everything known about pc. Returns the frame count. */
static int resolve(uintptr_t pc, pprofd__frame *out)
{
    Dwfl_Module *m = dwfl_addrmodule(dwfl, pc);
    if (!m)
        return 0;
    module_cache *c = module_cache_for(m);
    const sym_entry *sym = c ? symbol_at(c, pc) : NULL;
    int n = dwarf_frames(m, pc, out, MAX_FRAMES);
    if (n > 0 && !out[n - 1].system_name && sym) /* DWARF without a name */
        out[n - 1].system_name = sym->name;
    for (int i = 0; i < n; i++)
        if (!out[i].system_name)
            out[i].system_name = "??";
    if (n == 0 && sym) {
        /* No DWARF function here (hand-written assembly, or no DWARF at
         * all): the symbol, with the line table's file:line if it has one. */
        out[0] = (pprofd__frame){.name = NULL, .system_name = sym->name, .file = ""};
        Dwfl_Line *line = dwfl_module_getsrc(m, pc);
        int lineno = 0;
        const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
        if (file) {
            out[0].file = file;
            out[0].line = lineno;
        }
        n = 1;
    }
    for (int i = 0; i < n; i++)
        if (!intern_frame(&out[i]))
            return -1;
    return n;
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
            snapshot s = measure_begin();
            n = resolve(pc, frames);
            if (n < 0)
                n = 0; /* out of memory: unnamed this time, tried again next time */
            else
                pc_insert(pc, frames, n);
            measure_end(s);
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
    module_bytes = 0;
    libdw_bytes = 0;
    measure_depth = 0;
}

/* ---- per-object facts ---- */

/* Does elf have a full symbol table (.symtab), or MiniDebugInfo
 * (.gnu_debugdata, an LZMA'd .symtab)? .dynsym alone names only exported
 * functions. O(sections). */
static bool elf_has_full_symtab(Elf *elf)
{
    size_t shstrndx;
    if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return false;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr))
            continue;
        if (shdr.sh_type == SHT_SYMTAB)
            return true;
        const char *name = elf_strptr(elf, shstrndx, shdr.sh_name);
        if (name && strcmp(name, ".gnu_debugdata") == 0)
            return true;
    }
    return false;
}

/*
 * The mapping flags pprof reads. has_functions: every function has a name
 * (a .symtab in the file, its debug file or MiniDebugInfo); with .dynsym
 * alone static functions stay unnamed, so it is 0 and pprof knows it may
 * do better with the binary. has_filenames/has_line_numbers: DWARF line
 * tables. has_inline_frames: DWARF scopes, which come with them.
 */
static void compute_info(Dwfl_Module *m, module_cache *c)
{
    memset(&c->info, 0, sizeof c->info);
    Dwarf_Addr bias;
    snapshot s = measure_begin();
    Dwarf *dw = dwfl_module_getdwarf(m, &bias);
    GElf_Addr elf_bias;
    c->info.has_functions =
        c->nsyms > 0 && (elf_has_full_symtab(dwfl_module_getelf(m, &elf_bias)) ||
                         (dw && elf_has_full_symtab(dwarf_getelf(dw))));
    if (dw) {
        /* Line numbers: look at the first compile units that have a line
         * table (usually the first one); a file with DWARF but no line
         * tables (-g1 without lines, or types only) says no. */
        Dwarf_Die *cu = NULL;
        for (int i = 0; i < 16 && (cu = dwfl_module_nextcu(m, cu, &bias)); i++) {
            Dwarf_Lines *lines;
            size_t nlines;
            if (dwarf_getsrclines(cu, &lines, &nlines) == 0 && nlines > 0) {
                /* Where DWARF has lines it has the scopes we read inline
                 * chains from. */
                c->info.has_filenames = c->info.has_line_numbers = 1;
                c->info.has_inline_frames = 1;
                break;
            }
        }
    }
    measure_end(s);
    c->info_done = 1;
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
    module_cache *c = f.found ? module_cache_for(f.found) : NULL;
    if (c) {
        if (!c->info_done)
            compute_info(f.found, c);
        *out = c->info;
    }
    stats.info_nanos += now_nanos() - t0;
    unlock_symbols();
}

static int add_module_symbols(Dwfl_Module *m, void **userdata, const char *name,
                              Dwarf_Addr base, void *arg)
{
    (void)userdata, (void)name, (void)base;
    module_cache *c = module_cache_for(m);
    if (c)
        *(size_t *)arg += c->nsyms;
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
           module_bytes;
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
