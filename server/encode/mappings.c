/*
 * mappings — the executable mappings of the process, for every profile's
 * mapping table: /proc/self/maps for the ranges and file names, the
 * loaded objects' notes (through the loader) for their build IDs. See
 * mappings.h.
 */
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sampler/fork.h"
#include "sampler/loader.h"
#include "server/encode/mappings.h"

typedef struct build_id_rec {
    uintptr_t lo, hi; /* an executable PT_LOAD of the object */
    char hex[2 * 64 + 1];
} build_id_rec;

typedef struct build_ids {
    build_id_rec items[512];
    int n;
} build_ids;

static void note_build_id(struct dl_phdr_info *info, char *hex, size_t hexsize)
{
    hex[0] = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *note = (const char *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)note;
            size_t namesz = (nh->n_namesz + 3) & ~3u, descsz = (nh->n_descsz + 3) & ~3u;
            size_t total = sizeof *nh + namesz + descsz;
            if (total > left)
                break;
            const char *name = note + sizeof *nh;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                const unsigned char *desc = (const unsigned char *)(name + namesz);
                size_t o = 0;
                for (size_t k = 0; k < nh->n_descsz && o + 3 <= hexsize; k++)
                    o += (size_t)snprintf(hex + o, hexsize - o, "%02x", desc[k]);
                return;
            }
            note += total;
            left -= total;
        }
    }
}

static int collect_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    build_ids *ids = arg;
    char hex[sizeof ids->items[0].hex];
    note_build_id(info, hex, sizeof hex);
    if (!hex[0])
        return 0;
    for (int i = 0; i < info->dlpi_phnum && ids->n < (int)(sizeof ids->items / sizeof ids->items[0]); i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        build_id_rec *r = &ids->items[ids->n++];
        r->lo = info->dlpi_addr + ph->p_vaddr;
        r->hi = r->lo + ph->p_memsz;
        memcpy(r->hex, hex, sizeof hex);
    }
    return 0;
}

static const char *build_id_for(const build_ids *ids, uintptr_t start, uintptr_t end)
{
    for (int i = 0; i < ids->n; i++)
        if (ids->items[i].lo < end && start < ids->items[i].hi)
            return ids->items[i].hex;
    return "";
}

/* A file deleted or replaced since it was mapped shows in /proc/self/maps
 * as "PATH (deleted)"; the mapping names PATH, as Go's profiles do. */
static void trim_deleted(char *path)
{
    static const char suffix[] = " (deleted)";
    size_t len = strlen(path), n = sizeof suffix - 1;
    if (len > n && strcmp(path + len - n, suffix) == 0)
        path[len - n] = 0;
}

/*
 * The executable mappings change when the loader adds or removes an object,
 * and rarely otherwise (a JIT's mmap, a binary replaced on disk). Reading
 * /proc/self/maps and every object's notes was a fifth of serving /heap
 * under load, so the parsed list is kept while the loader's add/remove
 * counters are unchanged and the copy is less than a second old.
 */

static struct {
    pthread_mutex_t lock;
    pprofd__mapping *items;
    size_t n;
    unsigned long long adds, subs;
    struct timespec read_at;
    int valid;
} maps_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* A fork child must not inherit the lock held by a thread that is gone. */
static void maps_cache_after_fork(void)
{
    pthread_mutex_init(&maps_cache.lock, NULL);
}

static void maps_cache_register(void)
{
    pprofd__fork_on_child(PPROFD_FORK_MAPPINGS, maps_cache_after_fork);
}

static void maps_cache_clear(void)
{
    for (size_t i = 0; i < maps_cache.n; i++) {
        free(maps_cache.items[i].path);
        free(maps_cache.items[i].filename);
        free(maps_cache.items[i].build_id);
    }
    free(maps_cache.items);
    maps_cache.items = NULL;
    maps_cache.n = 0;
    maps_cache.valid = 0;
}

/* Called with maps_cache.lock held. Returns 0, or -1 out of memory. */
static int maps_cache_fill(void)
{
    maps_cache_clear();
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return 0; /* no /proc: profiles without mappings, as before */
    /* malloc, not calloc: only the entries written are touched, so the
     * table's 76 KB costs no page faults. */
    build_ids *ids = malloc(sizeof *ids);
    if (ids) {
        ids->n = 0;
        dl_iterate_phdr(collect_build_id, ids);
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    trim_deleted(exe); /* compared with mapping names, trimmed the same way */

    int rc = 0;
    size_t cap = 0;
    char line[4096 + 256];
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end, offset;
        char perms[8], path[4096];
        path[0] = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095[^\n]", &start, &end, perms, &offset,
                   path) < 4)
            continue;
        if (perms[2] != 'x' || path[0] != '/')
            continue;
        if (maps_cache.n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            pprofd__mapping *items = realloc(maps_cache.items, ncap * sizeof *items);
            if (!items)
                goto fail;
            maps_cache.items = items;
            cap = ncap;
        }
        pprofd__mapping *m = &maps_cache.items[maps_cache.n];
        m->start = start;
        m->limit = end;
        m->offset = offset;
        m->path = strdup(path);
        trim_deleted(path);
        m->filename = strdup(path);
        m->build_id = strdup(ids ? build_id_for(ids, start, end) : "");
        maps_cache.n++;
        if (!m->path || !m->filename || !m->build_id)
            goto fail;
        /* pprof takes the first mapping as the main binary. */
        if (exe[0] && strcmp(path, exe) == 0 && maps_cache.n > 1) {
            pprofd__mapping tmp = *m;
            memmove(&maps_cache.items[1], &maps_cache.items[0], (maps_cache.n - 1) * sizeof tmp);
            maps_cache.items[0] = tmp;
        }
    }
    maps_cache.valid = 1;
    goto out;
fail:
    maps_cache_clear();
    rc = -1;
out:
    free(ids);
    fclose(f);
    return rc;
}

int pprofd__mappings_foreach(int (*fn)(const pprofd__mapping *m, void *arg), void *arg)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, maps_cache_register);
    unsigned long long counters[2];
    pprofd__loader_counters(&counters[0], &counters[1]);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);

    int rc = 0;
    pthread_mutex_lock(&maps_cache.lock);
    long age_ms = (now.tv_sec - maps_cache.read_at.tv_sec) * 1000 +
                  (now.tv_nsec - maps_cache.read_at.tv_nsec) / 1000000;
    if (!maps_cache.valid || counters[0] != maps_cache.adds || counters[1] != maps_cache.subs ||
        age_ms >= 1000 || age_ms < 0) {
        if (maps_cache_fill() < 0) {
            rc = -1;
            goto out;
        }
        maps_cache.adds = counters[0];
        maps_cache.subs = counters[1];
        maps_cache.read_at = now;
    }
    for (size_t i = 0; i < maps_cache.n && rc == 0; i++)
        rc = fn(&maps_cache.items[i], arg);
out:
    pthread_mutex_unlock(&maps_cache.lock);
    return rc;
}

