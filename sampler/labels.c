/* labels — see labels.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "pprofd.h"
#include "sampler/base.h"
#include "sampler/labels.h"

__thread uint32_t pprofd__labels_tls __attribute__((tls_model("initial-exec")));

#define SLOTS (PPROFD_LABEL_SETS * 2) /* open addressing, at most half full */
#define ARENA (8u << 20)              /* reserved; pages are touched as sets come */

static _Atomic(pprofd__label_set *) by_id[PPROFD_LABEL_SETS];
static _Atomic(pprofd__label_set *) slots[SLOTS];
static _Atomic uint32_t nsets; /* ids 1..nsets are taken */
static _Atomic uint64_t refused;
static pthread_mutex_t insert_lock = PTHREAD_MUTEX_INITIALIZER;
static char *arena;
static size_t arena_used;
static _Atomic uint32_t lost_id, server_id;

const pprofd__label_set *pprofd__labels_get(uint32_t id)
{
    if (id == 0 || id > PPROFD_LABEL_SETS)
        return NULL;
    return atomic_load_explicit(&by_id[id - 1], memory_order_acquire);
}

size_t pprofd__labels_sets(void)
{
    return atomic_load(&nsets);
}

uint64_t pprofd__labels_refused(void)
{
    return atomic_load(&refused);
}

/* Pyroscope's rule for label names. */
static int valid_key(const char *k)
{
    if (!k || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
        return 0;
    size_t n = 0;
    for (; k[n]; n++)
        if (!((k[n] >= 'a' && k[n] <= 'z') || (k[n] >= 'A' && k[n] <= 'Z') ||
              (k[n] >= '0' && k[n] <= '9') || k[n] == '_'))
            return 0;
    return n <= PPROFD_LABEL_KEY_MAX;
}

static uint64_t hash_pairs(const pprofd__label_pair *p, int n)
{
    uint64_t h = 0x6a09e667f3bcc909ull;
    for (int i = 0; i < n; i++)
        h = pprofd__mix64(h ^ pprofd__hash_string(p[i].key)) ^
            pprofd__mix64(pprofd__hash_string(p[i].value) + (uint64_t)i);
    return h ? h : 1;
}

static int same_pairs(const pprofd__label_set *s, uint64_t hash, const pprofd__label_pair *p,
                      int n)
{
    if (s->hash != hash || s->npairs != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(s->pairs[i].key, p[i].key) || strcmp(s->pairs[i].value, p[i].value))
            return 0;
    return 1;
}

static uint32_t find(uint64_t hash, const pprofd__label_pair *p, int n, size_t *empty)
{
    for (size_t i = hash & (SLOTS - 1), probes = 0; probes < SLOTS;
         probes++, i = (i + 1) & (SLOTS - 1)) {
        pprofd__label_set *s = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (!s) {
            if (empty)
                *empty = i;
            return 0;
        }
        if (same_pairs(s, hash, p, n))
            return s->id;
    }
    return 0;
}

static char *arena_take(size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    if (!arena) {
        void *m = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        arena = m;
    }
    if (arena_used + bytes > ARENA)
        return NULL;
    char *at = arena + arena_used;
    arena_used += bytes;
    return at;
}

static char *arena_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *at = arena_take(n);
    if (at)
        memcpy(at, s, n);
    return at;
}

/* Under insert_lock. The new set's id, or 0 when full. */
static uint32_t insert(uint64_t hash, const pprofd__label_pair *p, int n, size_t slot)
{
    uint32_t id = atomic_load(&nsets) + 1;
    if (id > PPROFD_LABEL_SETS)
        return 0;
    pprofd__label_set *s = (pprofd__label_set *)arena_take(sizeof *s + (size_t)n * sizeof p[0]);
    if (!s)
        return 0;
    s->hash = hash;
    s->id = id;
    s->npairs = n;
    for (int i = 0; i < n; i++) {
        s->pairs[i].key = arena_string(p[i].key);
        s->pairs[i].value = arena_string(p[i].value);
        if (!s->pairs[i].key || !s->pairs[i].value)
            return 0;
    }
    atomic_store_explicit(&by_id[id - 1], s, memory_order_release);
    atomic_store_explicit(&slots[slot], s, memory_order_release);
    atomic_store(&nsets, id);
    return id;
}

/* The id of the set of these pairs (sorted, unique keys), made if new; 0
 * when the cap is reached (reserve: a slot kept for the [lost] set). */
static uint32_t intern(const pprofd__label_pair *p, int n, int reserve)
{
    uint64_t hash = hash_pairs(p, n);
    uint32_t id = find(hash, p, n, NULL);
    if (id)
        return id;
    pthread_mutex_lock(&insert_lock);
    size_t slot = 0;
    id = find(hash, p, n, &slot);
    if (!id && atomic_load(&nsets) + (reserve ? 0u : 1u) < PPROFD_LABEL_SETS)
        id = insert(hash, p, n, slot);
    pthread_mutex_unlock(&insert_lock);
    return id;
}

static uint32_t named(_Atomic uint32_t *cache, const char *key, const char *value)
{
    uint32_t id = atomic_load_explicit(cache, memory_order_acquire);
    if (!id) {
        pprofd__label_pair p = {key, value};
        id = intern(&p, 1, 1);
        atomic_store_explicit(cache, id, memory_order_release);
    }
    return id;
}

uint32_t pprofd__labels_server(void)
{
    return named(&server_id, "pprofd", "server");
}

PPROFD_API pprofd_labels pprofd_labels_with(pprofd_labels base, const char *key,
                                            const char *value)
{
    if (!valid_key(key) || !value || strlen(value) > PPROFD_LABEL_VALUE_MAX) {
        errno = EINVAL;
        return base;
    }
    const pprofd__label_set *b = pprofd__labels_get(base);
    if (base && !b) {
        errno = EINVAL;
        return base;
    }
    pprofd__label_pair p[PPROFD_LABEL_PAIRS];
    int n = 0, placed = 0;
    for (int i = 0; b && i < b->npairs; i++) {
        int c = strcmp(b->pairs[i].key, key);
        if (!placed && c >= 0) {
            p[n++] = (pprofd__label_pair){key, value};
            placed = 1;
            if (c == 0)
                continue; /* replaced */
        }
        if (n == PPROFD_LABEL_PAIRS) {
            errno = E2BIG;
            return base;
        }
        p[n++] = b->pairs[i];
    }
    if (!placed) {
        if (n == PPROFD_LABEL_PAIRS) {
            errno = E2BIG;
            return base;
        }
        p[n++] = (pprofd__label_pair){key, value};
    }
    uint32_t id = intern(p, n, 0);
    if (id)
        return id;
    atomic_fetch_add(&refused, 1);
    return named(&lost_id, "labels", "[lost]");
}

PPROFD_API pprofd_labels pprofd_labels_set(pprofd_labels labels)
{
    uint32_t old = pprofd__labels_tls;
    pprofd__labels_tls = labels;
    return old;
}

PPROFD_API pprofd_labels pprofd_labels_current(void)
{
    return pprofd__labels_tls;
}
