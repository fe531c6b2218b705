/*
 * stacktab — see stacktab.h. Open addressing with linear probing over an
 * array of pointers; entries come from a bump arena. Insertion probes first
 * without allocating, so looking up a known stack costs no arena space; two
 * threads racing to insert the same new stack may waste one entry's worth of
 * arena, never correctness.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sampler/stacktab.h"
#include "sampler/unwind.h"

_Static_assert(sizeof(pprofd__stack) == 64, "an entry's header and counters fill one line");

uint64_t pprofd__stack_hash(const uintptr_t *pcs, int depth)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)depth;
    for (int i = 0; i < depth; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    /* Finalise (murmur3's fmix64): the slot is taken from the low bits, and
     * stacks that differ only in their leaf must not cluster. */
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h ? h : 1;
}

static int same_stack(const pprofd__stack *s, uint64_t hash, const uintptr_t *pcs, int depth,
                      uint32_t labels)
{
    return s->hash == hash && s->depth == (uint32_t)depth && s->labels == labels &&
           memcmp(s->pcs, pcs, (size_t)depth * sizeof pcs[0]) == 0;
}

int pprofd__stacktab_init(pprofd__stacktab *tab, size_t nslots, size_t arena_bytes)
{
    size_t n = 64;
    while (n < nslots)
        n <<= 1;
    memset(tab, 0, sizeof *tab);
    void *slots = mmap(NULL, n * sizeof tab->slots[0], PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (slots == MAP_FAILED)
        return -errno;
    void *arena = mmap(NULL, arena_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (arena == MAP_FAILED) {
        int err = -errno;
        munmap(slots, n * sizeof tab->slots[0]);
        return err;
    }
    tab->nslots = n;
    tab->slots = slots;
    tab->arena = arena;
    tab->arena_size = arena_bytes;
    atomic_init(&tab->arena_limit, arena_bytes);
    return 0;
}

static pprofd__stack *arena_alloc(pprofd__stacktab *tab, int depth)
{
    size_t need = sizeof(pprofd__stack) + (size_t)depth * sizeof(uintptr_t);
    need = (need + 63) & ~(size_t)63; /* the arena is page-aligned: so is each entry's line */
    /* A CAS loop rather than fetch_add, so arena_used never passes the
     * limit: it is what the memory cap is charged. Only new stacks come
     * here, so contention is rare. */
    size_t limit = atomic_load_explicit(&tab->arena_limit, memory_order_relaxed);
    size_t at = atomic_load_explicit(&tab->arena_used, memory_order_relaxed);
    do {
        if (at + need > limit)
            return NULL;
    } while (!atomic_compare_exchange_weak_explicit(&tab->arena_used, &at, at + need,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    return (pprofd__stack *)(tab->arena + at);
}

void pprofd__stacktab_set_limit(pprofd__stacktab *tab, size_t bytes)
{
    atomic_store_explicit(&tab->arena_limit, bytes < tab->arena_size ? bytes : tab->arena_size,
                          memory_order_relaxed);
}

pprofd__stack *pprofd__stacktab_intern(pprofd__stacktab *tab, const uintptr_t *pcs,
                                       int depth)
{
    return pprofd__stacktab_intern_labelled(tab, pcs, depth, 0);
}

/* The PPROFD_HEAP_HOOK section (sampler/heap.h): the interposers and the
 * thread-start trampoline, pprofd's own frames in the host's stacks. */
extern const char __start_pprofd_hooks[] __attribute__((visibility("hidden")));
extern const char __stop_pprofd_hooks[] __attribute__((visibility("hidden")));

static int own_frame(uintptr_t pc)
{
    return pc >= (uintptr_t)__start_pprofd_hooks && pc < (uintptr_t)__stop_pprofd_hooks;
}

/* Out of line, so that its copy of the stack costs the signal handler's
 * stack nothing unless one of pprofd's frames is there to drop. */
static pprofd__stack *intern(pprofd__stacktab *tab, const uintptr_t *pcs, int depth,
                             uint32_t labels);

static __attribute__((noinline)) pprofd__stack *
intern_without_own(pprofd__stacktab *tab, const uintptr_t *pcs, int depth, uint32_t labels)
{
    uintptr_t kept[PPROFD_MAX_DEPTH];
    int n = 0;
    for (int i = 0; i < depth && n < PPROFD_MAX_DEPTH; i++)
        if (!own_frame(pcs[i]))
            kept[n++] = pcs[i];
    /* Nothing but pprofd's frames (a stack cut short): keep those, then. */
    return n ? intern(tab, kept, n, labels) : intern(tab, pcs, depth, labels);
}

pprofd__stack *pprofd__stacktab_intern_labelled(pprofd__stacktab *tab, const uintptr_t *pcs,
                                                int depth, uint32_t labels)
{
    /* pprofd's own frames (an interposer the signal landed in, the thread
     * trampoline under every thread's start routine) are never shown. */
    for (int i = 0; i < depth; i++)
        if (own_frame(pcs[i]))
            return intern_without_own(tab, pcs, depth, labels);
    return intern(tab, pcs, depth, labels);
}

static pprofd__stack *intern(pprofd__stacktab *tab, const uintptr_t *pcs, int depth,
                             uint32_t labels)
{
    if (!tab->slots)
        return NULL;
    uint64_t hash = pprofd__stack_hash(pcs, depth);
    size_t mask = tab->nslots - 1;
    /* One stack under many label sets: spread its entries over the table. */
    size_t i = (size_t)(hash ^ ((uint64_t)labels * 0x9e3779b97f4a7c15ull)) & mask;
    pprofd__stack *fresh = NULL;

    for (size_t probes = 0; probes < tab->nslots; probes++, i = (i + 1) & mask) {
        pprofd__stack *s = atomic_load_explicit(&tab->slots[i], memory_order_acquire);
        if (s) {
            if (same_stack(s, hash, pcs, depth, labels))
                return s;
            continue;
        }
        /* Empty slot: the stack is new. Keep the table at most 3/4 full so
         * probes stay short. */
        if (!fresh) {
            if (atomic_load_explicit(&tab->count, memory_order_relaxed) >= tab->nslots / 4 * 3)
                break;
            fresh = arena_alloc(tab, depth);
            if (!fresh)
                break;
            fresh->hash = hash;
            fresh->depth = (uint32_t)depth;
            fresh->labels = labels;
            for (int c = 0; c < PPROFD_STACK_COUNTERS; c++)
                atomic_init(&fresh->counters[c], 0);
            memcpy(fresh->pcs, pcs, (size_t)depth * sizeof pcs[0]);
        }
        pprofd__stack *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&tab->slots[i], &expected, fresh,
                                                    memory_order_release,
                                                    memory_order_acquire)) {
            atomic_fetch_add_explicit(&tab->count, 1, memory_order_relaxed);
            return fresh;
        }
        /* Lost the race for this slot: maybe to the same stack. */
        if (same_stack(expected, hash, pcs, depth, labels))
            return expected;
    }
    atomic_fetch_add_explicit(&tab->dropped, 1, memory_order_relaxed);
    return NULL;
}

void pprofd__stacktab_foreach(pprofd__stacktab *tab,
                              void (*fn)(pprofd__stack *stack, void *arg), void *arg)
{
    for (size_t i = 0; i < tab->nslots; i++) {
        pprofd__stack *s = atomic_load_explicit(&tab->slots[i], memory_order_acquire);
        if (s)
            fn(s, arg);
    }
}

size_t pprofd__stacktab_memory(const pprofd__stacktab *tab)
{
    return atomic_load_explicit(&tab->arena_used, memory_order_relaxed) +
           tab->nslots * sizeof tab->slots[0];
}

/* ---- snapshots ---- */

pprofd__stack_record *pprofd__stack_snapshot_push(pprofd__stack_snapshot *s)
{
    if (s->failed)
        return NULL;
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        pprofd__stack_record *r = realloc(s->recs, cap * sizeof *r);
        if (!r) {
            s->failed = 1;
            return NULL;
        }
        s->recs = r;
        s->cap = cap;
    }
    pprofd__stack_record *r = &s->recs[s->len++];
    memset(r, 0, sizeof *r);
    s->sorted = 0;
    return r;
}

static int compare_keys(const pprofd__stack_record *x, const pprofd__stack_record *y)
{
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    if (x->name != y->name) {
        if (!x->name || !y->name)
            return x->name ? 1 : -1;
        int c = strcmp(x->name, y->name);
        if (c)
            return c;
    }
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    for (uint32_t i = 0; i < x->depth; i++)
        if (x->pcs[i] != y->pcs[i])
            return x->pcs[i] < y->pcs[i] ? -1 : 1;
    return 0;
}

static int compare_records(const void *a, const void *b)
{
    return compare_keys(a, b);
}

void pprofd__stack_snapshot_sort(pprofd__stack_snapshot *s)
{
    if (s->len > 1)
        qsort(s->recs, s->len, sizeof s->recs[0], compare_records);
    size_t out = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (out > 0 && compare_keys(&s->recs[out - 1], &s->recs[i]) == 0) {
            for (int k = 0; k < PPROFD_STACK_COUNTERS; k++)
                s->recs[out - 1].c[k] += s->recs[i].c[k];
        } else {
            s->recs[out++] = s->recs[i];
        }
    }
    s->len = out;
    s->sorted = 1;
}

static void snapshot_entry(pprofd__stack *st, void *arg)
{
    pprofd__stack_snapshot *s = arg;
    int64_t c[PPROFD_STACK_COUNTERS];
    int any = 0;
    for (int k = 0; k < PPROFD_STACK_COUNTERS; k++)
        any |= (c[k] = atomic_load_explicit(&st->counters[k], memory_order_relaxed)) != 0;
    if (!any)
        return;
    pprofd__stack_record *r = pprofd__stack_snapshot_push(s);
    if (!r)
        return;
    r->hash = st->hash;
    r->tag = st->labels;
    r->pcs = st->pcs;
    r->depth = st->depth;
    r->stack = st;
    memcpy(r->c, c, sizeof c);
}

int pprofd__stacktab_snapshot(pprofd__stacktab *tab, pprofd__stack_snapshot *s)
{
    memset(s, 0, sizeof *s);
    if (tab && tab->slots)
        pprofd__stacktab_foreach(tab, snapshot_entry, s);
    if (s->failed) {
        pprofd__stack_snapshot_free(s);
        return -1;
    }
    /* Entries are unique keys already: the sort merges nothing. */
    pprofd__stack_snapshot_sort(s);
    return 0;
}

static int all_zero(const pprofd__stack_record *r)
{
    for (int k = 0; k < PPROFD_STACK_COUNTERS; k++)
        if (r->c[k])
            return 0;
    return 1;
}

int pprofd__stack_snapshot_subtract(pprofd__stack_snapshot *after,
                                    const pprofd__stack_snapshot *before)
{
    size_t room = after->len + before->len + 1;
    pprofd__stack_record *out = malloc(room * sizeof *out);
    if (!out)
        return -1;
    size_t n = 0, i = 0, j = 0;
    while (i < before->len || j < after->len) {
        int c = i == before->len  ? 1
                : j == after->len ? -1
                                  : compare_keys(&before->recs[i], &after->recs[j]);
        pprofd__stack_record r;
        if (c < 0) {
            r = before->recs[i++];
            for (int k = 0; k < PPROFD_STACK_COUNTERS; k++)
                r.c[k] = -r.c[k];
        } else if (c > 0) {
            r = after->recs[j++];
        } else {
            r = after->recs[j++];
            for (int k = 0; k < PPROFD_STACK_COUNTERS; k++)
                r.c[k] -= before->recs[i].c[k];
            i++;
        }
        if (!all_zero(&r))
            out[n++] = r;
    }
    free(after->recs);
    after->recs = out;
    after->len = n;
    after->cap = room;
    return 0;
}

void pprofd__stack_snapshot_free(pprofd__stack_snapshot *s)
{
    free(s->recs);
    memset(s, 0, sizeof *s);
}
