/*
 * handlers_threads — /debug/pprof/threads, /goroutine and /threadcreate.
 *
 * threads (and goroutine, the same data under Go's name): one capture of
 * every thread (sampler/threaddump.h), aggregated by (thread name, stack):
 * threads with the same name in the same place are one sample with their
 * count, as Go aggregates goroutines by stack and labels. A thread that gave
 * no stack is a sample of its own on the frame "[no answer]", labelled with
 * its tid and the reason, and listed in the profile's comments.
 *
 * threadcreate: the creating stacks recorded by the pthread_create
 * interposer (sampler/threads.h), cumulative since load.
 *
 * ?seconds=N answers the difference between a profile taken now and one
 * taken N seconds later, as Go's serveDeltaProfile does (negative counts
 * included; zero counts dropped; attachment "<name>-delta"). With debug it
 * is a 400, as in Go.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/threaddump.h"
#include "sampler/threads.h"
#include "server/text/text.h"

/* ---- entries: grouping and differences ---- */

typedef struct entry_list {
    pprofd__count_entry *items;
    size_t n;
} entry_list;

static int compare_entry_keys(const void *a, const void *b)
{
    const pprofd__count_entry *x = a, *y = b;
    if (x->no_answer_tid != y->no_answer_tid)
        return x->no_answer_tid < y->no_answer_tid ? -1 : 1;
    int c = strcmp(x->thread_name ? x->thread_name : "", y->thread_name ? y->thread_name : "");
    if (c)
        return c;
    if (x->server != y->server)
        return x->server - y->server;
    if (x->depth != y->depth)
        return x->depth - y->depth;
    for (int i = 0; i < x->depth; i++)
        if (x->pcs[i] != y->pcs[i])
            return x->pcs[i] < y->pcs[i] ? -1 : 1;
    return 0;
}

static int answered(const pprofd__thread_snapshot *t)
{
    return t->outcome == PPROFD_DUMP_ANSWERED || t->outcome == PPROFD_DUMP_SELF;
}

/* One entry per distinct key, sorted by key. O(N log N). */
static int group_threads(const pprofd__thread_dump *d, entry_list *out)
{
    out->n = 0;
    out->items = calloc((size_t)(d->count ? d->count : 1), sizeof *out->items);
    if (!out->items)
        return -1;
    for (int i = 0; i < d->count; i++) {
        const pprofd__thread_snapshot *t = &d->threads[i];
        if (t->outcome == PPROFD_DUMP_GONE)
            continue; /* exited before we asked: not a thread of this moment */
        pprofd__count_entry *e = &out->items[out->n++];
        e->count = 1;
        e->pcs = t->pcs;
        e->depth = t->depth;
        e->thread_name = t->name;
        e->server = t->server;
        if (!answered(t)) {
            e->no_answer_tid = t->tid;
            e->no_answer_reason = pprofd__dump_outcome_text(t->outcome);
        }
    }
    qsort(out->items, out->n, sizeof *out->items, compare_entry_keys);
    size_t w = 0;
    for (size_t r = 0; r < out->n; r++) {
        if (w > 0 && compare_entry_keys(&out->items[w - 1], &out->items[r]) == 0)
            out->items[w - 1].count += out->items[r].count;
        else
            out->items[w++] = out->items[r];
    }
    out->n = w;
    return 0;
}

/* after - before, over lists sorted by key; zero counts dropped. */
static int subtract_entries(const entry_list *before, const entry_list *after, entry_list *out)
{
    out->n = 0;
    out->items = calloc(before->n + after->n + 1, sizeof *out->items);
    if (!out->items)
        return -1;
    size_t i = 0, j = 0;
    while (i < before->n || j < after->n) {
        int c = i == before->n  ? 1
                : j == after->n ? -1
                                : compare_entry_keys(&before->items[i], &after->items[j]);
        pprofd__count_entry e;
        if (c < 0) {
            e = before->items[i++];
            e.count = -e.count;
        } else if (c > 0) {
            e = after->items[j++];
        } else {
            e = after->items[j++];
            e.count -= before->items[i++].count;
        }
        if (e.count != 0)
            out->items[out->n++] = e;
    }
    return 0;
}

/* ---- profiles ---- */

static pprofd__profile *count_profile(const char *type, const entry_list *l, int64_t time_ns,
                                      int64_t duration_ns)
{
    pprofd__profile *p = pprofd__profile_new();
    if (!p)
        return NULL;
    pprofd__profile_add_sample_type(p, type, "count");
    pprofd__profile_set_period(p, type, "count", 1);
    pprofd__profile_set_time(p, time_ns, duration_ns);
    for (size_t i = 0; i < l->n; i++) {
        const pprofd__count_entry *e = &l->items[i];
        pprofd__label labels[4];
        int nlabels = 0;
        if (e->thread_name)
            labels[nlabels++] = (pprofd__label){.key = "thread", .str = e->thread_name};
        if (e->server)
            labels[nlabels++] = (pprofd__label){.key = "pprofd", .str = "server"};
        if (e->no_answer_reason) {
            labels[nlabels++] = (pprofd__label){.key = "tid", .num = e->no_answer_tid};
            labels[nlabels++] = (pprofd__label){.key = "reason", .str = e->no_answer_reason};
            char comment[160];
            snprintf(comment, sizeof comment, "thread %d \"%s\": %s: %s", (int)e->no_answer_tid,
                     e->thread_name ? e->thread_name : "", PPROFD_NO_ANSWER_FRAME,
                     e->no_answer_reason);
            pprofd__profile_add_comment(p, comment);
        }
        if (pprofd__profile_add_sample(p, e->no_answer_reason ? PPROFD_NO_ANSWER_FRAME : NULL,
                                       e->pcs, e->depth, &e->count, labels, nlabels) < 0) {
            pprofd__profile_free(p);
            return NULL;
        }
    }
    return p;
}

/* ---- parameters ---- */

typedef struct count_params {
    long debug;
    long seconds; /* 0: no delta */
} count_params;

/* 1 to go on; 0 when an error response is queued in *result. */
static int parse_count_params(pprofd__request *req, count_params *cp, enum MHD_Result *result)
{
    cp->debug = 0;
    cp->seconds = 0;
    if (pprofd__query_long(req, "debug", 0, INT_MAX, &cp->debug, result) < 0)
        return 0;
    if (pprofd__query_seconds(req, &cp->seconds, result) < 0)
        return 0;
    if (cp->seconds && cp->debug) {
        *result = pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST,
                                        "seconds and debug params are incompatible");
        return 0;
    }
    return 1;
}

static enum MHD_Result capture_failed(pprofd__request *req, int rc)
{
    if (rc == -EBUSY)
        return pprofd__respond_error(
            req, MHD_HTTP_SERVICE_UNAVAILABLE,
            "thread dumps unavailable: every real-time signal has a handler of the host's, "
            "or the host has since installed one on ours");
    if (rc == -ENOMEM)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                 "cannot list the threads: %s", strerror(-rc));
}

/* The answer both count profiles end with: Go's debug=1 text, or the
 * `NAME/count` profile, attached as NAME, or NAME-delta for a window. */
static enum MHD_Result respond_counts(pprofd__request *req, const char *name,
                                      const count_params *cp, const entry_list *shown,
                                      int64_t time_ns, int64_t duration_ns)
{
    if (cp->debug >= 1)
        return pprofd__respond_count_text(req, name, shown->items, shown->n);
    pprofd__profile *p = count_profile(name, shown, time_ns, duration_ns);
    if (!p)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    char filename[64];
    snprintf(filename, sizeof filename, "%s%s", name, cp->seconds ? "-delta" : "");
    return pprofd__respond_profile(req, filename, p);
}

/* ---- threads / goroutine ---- */

static enum MHD_Result serve_threads(pprofd__request *req, const char *name)
{
    enum MHD_Result result = MHD_NO;
    count_params cp;
    if (!parse_count_params(req, &cp, &result))
        return result;

    pprofd__thread_dump before = {0}, now = {0};
    entry_list grouped_before = {0}, grouped = {0}, delta = {0};
    const entry_list *shown = &grouped;
    int rc;

    if (cp.seconds) {
        if ((rc = pprofd__thread_dump_capture(&before, NULL)) < 0) {
            result = capture_failed(req, rc);
            goto done;
        }
        if (pprofd__wait(req, cp.seconds * 1000)) {
            result = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                           "profile canceled");
            goto done;
        }
    }
    if ((rc = pprofd__thread_dump_capture(&now, NULL)) < 0) {
        result = capture_failed(req, rc);
        goto done;
    }
    if (cp.debug >= 2) {
        result = pprofd__respond_thread_dump_text(req, &now);
        goto done;
    }
    if (group_threads(&now, &grouped) < 0)
        goto out_of_memory;
    if (cp.seconds) {
        if (group_threads(&before, &grouped_before) < 0 ||
            subtract_entries(&grouped_before, &grouped, &delta) < 0)
            goto out_of_memory;
        shown = &delta;
    }
    /* debug=2 answered above: debug here is 0 or 1. */
    result = respond_counts(req, name, &cp, shown, cp.seconds ? before.time_ns : now.time_ns,
                            cp.seconds ? now.time_ns - before.time_ns : 0);
    goto done;

out_of_memory:
    result = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
done:
    free(delta.items);
    free(grouped.items);
    free(grouped_before.items);
    pprofd__thread_dump_free(&now);
    pprofd__thread_dump_free(&before);
    return result;
}

enum MHD_Result pprofd__handle_threads(pprofd__request *req)
{
    return serve_threads(req, "threads");
}

enum MHD_Result pprofd__handle_goroutine(pprofd__request *req)
{
    return serve_threads(req, "goroutine");
}

/* ---- threadcreate ---- */

typedef struct create_snapshot {
    pprofd__count_entry *items;
    size_t n, cap;
    int failed;
} create_snapshot;

static void collect_create_stack(pprofd__stack *st, void *arg)
{
    create_snapshot *s = arg;
    int64_t count =
        atomic_load_explicit(&st->counters[PPROFD_THREADCREATE_COUNT], memory_order_relaxed);
    if (count == 0 || s->failed)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        pprofd__count_entry *bigger = realloc(s->items, cap * sizeof *bigger);
        if (!bigger) {
            s->failed = 1;
            return;
        }
        s->items = bigger;
        s->cap = cap;
    }
    /* Entries never move or go away (stacktab.h): their pcs may be kept. */
    s->items[s->n++] = (pprofd__count_entry){.count = count, .pcs = st->pcs,
                                             .depth = (int)st->depth};
}

static int snapshot_creations(create_snapshot *s)
{
    memset(s, 0, sizeof *s);
    pprofd__stacktab *tab = pprofd__threadcreate_stacks();
    if (tab)
        pprofd__stacktab_foreach(tab, collect_create_stack, s);
    if (s->failed)
        return -1;
    /* Sorted by stack, so that two snapshots can be subtracted. */
    qsort(s->items, s->n, sizeof *s->items, compare_entry_keys);
    return 0;
}

enum MHD_Result pprofd__handle_threadcreate(pprofd__request *req)
{
    enum MHD_Result result = MHD_NO;
    count_params cp;
    if (!parse_count_params(req, &cp, &result))
        return result;

    create_snapshot before = {0}, now = {0};
    entry_list delta = {0};
    entry_list shown;
    int64_t started = pprofd__now_nanos();

    if (cp.seconds) {
        if (snapshot_creations(&before) < 0)
            goto out_of_memory;
        if (pprofd__wait(req, cp.seconds * 1000)) {
            result = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                           "profile canceled");
            goto done;
        }
    }
    if (snapshot_creations(&now) < 0)
        goto out_of_memory;
    shown = (entry_list){now.items, now.n};
    if (cp.seconds) {
        if (subtract_entries(&(entry_list){before.items, before.n}, &shown, &delta) < 0)
            goto out_of_memory;
        shown = delta;
    }
    result = respond_counts(req, "threadcreate", &cp, &shown, started,
                            cp.seconds ? pprofd__now_nanos() - started : 0);
    goto done;

out_of_memory:
    result = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
done:
    free(delta.items);
    free(now.items);
    free(before.items);
    return result;
}

long pprofd__count_threadcreate(void)
{
    return pprofd__threadcreate_total();
}
