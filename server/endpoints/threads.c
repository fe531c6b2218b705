/*
 * threads — /debug/pprof/threads, /goroutine and /threadcreate.
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

#include "sampler/stacktab.h"
#include "sampler/threaddump.h"
#include "sampler/threads.h"
#include "server/endpoints/endpoints.h"
#include "server/text/text.h"

/* ---- grouping ---- */

static int answered(const pprofd__thread_snapshot *t)
{
    return t->outcome == PPROFD_DUMP_ANSWERED || t->outcome == PPROFD_DUMP_SELF;
}

/* One record per (thread name, pprofd's or not, stack), or per thread
 * without an answer, counting its threads (text.h: count profiles).
 * O(N log N). Records point into d, which must outlive them. */
static int group_threads(const pprofd__thread_dump *d, pprofd__stack_snapshot *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < d->count; i++) {
        const pprofd__thread_snapshot *t = &d->threads[i];
        if (t->outcome == PPROFD_DUMP_GONE)
            continue; /* exited before we asked: not a thread of this moment */
        pprofd__stack_record *r = pprofd__stack_snapshot_push(out);
        if (!r)
            break;
        r->c[0] = 1;
        r->pcs = t->pcs;
        r->depth = (uint32_t)t->depth;
        r->hash = pprofd__stack_hash(t->pcs, t->depth);
        r->name = t->name;
        r->tag = pprofd__count_tag(answered(t) ? 0 : t->tid, t->server);
        if (!answered(t))
            r->note = pprofd__dump_outcome_text(t->outcome);
    }
    if (out->failed) {
        pprofd__stack_snapshot_free(out);
        return -1;
    }
    pprofd__stack_snapshot_sort(out);
    return 0;
}

/* ---- profiles ---- */

static pprofd__profile *count_profile(const char *type, const pprofd__stack_snapshot *l,
                                      int64_t time_ns, int64_t duration_ns)
{
    pprofd__profile *p = pprofd__profile_new();
    if (!p)
        return NULL;
    pprofd__profile_add_sample_type(p, type, "count");
    pprofd__profile_set_period(p, type, "count", 1);
    pprofd__profile_set_time(p, time_ns, duration_ns);
    for (size_t i = 0; i < l->len; i++) {
        const pprofd__stack_record *e = &l->recs[i];
        pid_t no_answer_tid = pprofd__count_tag_tid(e->tag);
        pprofd__label labels[4];
        int nlabels = 0;
        if (e->name)
            labels[nlabels++] = (pprofd__label){.key = "thread", .str = e->name};
        if (pprofd__count_tag_server(e->tag))
            labels[nlabels++] = (pprofd__label){.key = "pprofd", .str = "server"};
        if (e->note) {
            labels[nlabels++] = (pprofd__label){.key = "tid", .num = no_answer_tid};
            labels[nlabels++] = (pprofd__label){.key = "reason", .str = e->note};
            char comment[160];
            snprintf(comment, sizeof comment, "thread %d \"%s\": %s: %s", (int)no_answer_tid,
                     e->name ? e->name : "", PPROFD_NO_ANSWER_FRAME, e->note);
            pprofd__profile_add_comment(p, comment);
        }
        if (pprofd__profile_add_sample(p, e->note ? PPROFD_NO_ANSWER_FRAME : NULL, e->pcs,
                                       (int)e->depth, &e->c[0], labels, nlabels) < 0) {
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
                                      const count_params *cp, pprofd__stack_snapshot *shown,
                                      int64_t time_ns, int64_t duration_ns)
{
    if (cp->debug >= 1) {
        pprofd__strbuf b = {0};
        pprofd__text_counts(&b, name, shown);
        return pprofd__respond_strbuf(req, "text/plain; charset=utf-8", &b);
    }
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
    pprofd__stack_snapshot grouped_before = {0}, grouped = {0};
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
        pprofd__strbuf b = {0};
        pprofd__text_thread_dump(&b, &now);
        result = pprofd__respond_strbuf(req, "text/plain; charset=utf-8", &b);
        goto done;
    }
    if (group_threads(&now, &grouped) < 0)
        goto out_of_memory;
    if (cp.seconds && (group_threads(&before, &grouped_before) < 0 ||
                       pprofd__stack_snapshot_subtract(&grouped, &grouped_before) < 0))
        goto out_of_memory;
    /* debug=2 answered above: debug here is 0 or 1. */
    result = respond_counts(req, name, &cp, &grouped, cp.seconds ? before.time_ns : now.time_ns,
                            cp.seconds ? now.time_ns - before.time_ns : 0);
    goto done;

out_of_memory:
    result = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
done:
    pprofd__stack_snapshot_free(&grouped);
    pprofd__stack_snapshot_free(&grouped_before);
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

enum MHD_Result pprofd__handle_threadcreate(pprofd__request *req)
{
    enum MHD_Result result = MHD_NO;
    count_params cp;
    if (!parse_count_params(req, &cp, &result))
        return result;

    pprofd__stack_snapshot before = {0}, now = {0};
    int64_t started = pprofd__now_nanos();

    if (cp.seconds) {
        if (pprofd__stacktab_snapshot(pprofd__threadcreate_stacks(), &before) < 0)
            goto out_of_memory;
        if (pprofd__wait(req, cp.seconds * 1000)) {
            result = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                           "profile canceled");
            goto done;
        }
    }
    if (pprofd__stacktab_snapshot(pprofd__threadcreate_stacks(), &now) < 0)
        goto out_of_memory;
    if (cp.seconds && pprofd__stack_snapshot_subtract(&now, &before) < 0)
        goto out_of_memory;
    result = respond_counts(req, "threadcreate", &cp, &now, started,
                            cp.seconds ? pprofd__now_nanos() - started : 0);
    goto done;

out_of_memory:
    result = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
done:
    pprofd__stack_snapshot_free(&now);
    pprofd__stack_snapshot_free(&before);
    return result;
}

long pprofd__count_threadcreate(void)
{
    return pprofd__threadcreate_total();
}

long pprofd__count_threads(void)
{
    long n = pprofd__threads_in_process();
    return n < 0 ? 0 : n;
}
