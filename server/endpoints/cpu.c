/*
 * cpu — /debug/pprof/profile: open a reader on the CPU sampler,
 * wait out the window (polling for threads that appear outside
 * pthread_create, and for the client hanging up), then turn the window's
 * counts into Go's CPU profile.
 */
#include <errno.h>
#include <stdio.h>

#include "sampler/cpu.h"
#include "server/endpoints/endpoints.h"

#define DEFAULT_SECONDS 30
#define POLL_MS 1000

typedef struct cpu_walk {
    pprofd__profile *p;
    int failed;
} cpu_walk;

static void add_cpu_sample(const uintptr_t *pcs, int depth, uint32_t labels, int64_t samples,
                           int64_t nanos, void *arg)
{
    cpu_walk *w = arg;
    int64_t v[2] = {samples, nanos};
    pprofd__label l[PPROFD_LABEL_PAIRS];
    int nl = pprofd__sample_labels(labels, l);
    if (pprofd__profile_add_sample(w->p, NULL, pcs, depth, v, l, nl) < 0)
        w->failed = 1;
}

static void describe_window(pprofd__profile *p, const pprofd__cpu_window *win)
{
    char line[256];
    if (win->mechanism[0] == 't')
        snprintf(line, sizeof line,
                 "pprofd: CPU timer: timer_create per thread, on each thread's CPU clock "
                 "(%d threads at the end)",
                 win->threads_timed);
    else
        snprintf(line, sizeof line,
                 "pprofd: CPU timer: setitimer(ITIMER_PROF), process-wide; busy threads may be "
                 "under-counted");
    pprofd__profile_add_comment(p, line);
    snprintf(line, sizeof line,
             "pprofd: stacks: %lld by learnt frame rules, %lld by libunwind "
             "alone, %lld leaf only",
             (long long)win->frame_pointer_stacks, (long long)win->dwarf_stacks,
             (long long)win->leaf_only_stacks);
    pprofd__profile_add_comment(p, line);
    if (win->lost_samples > 0) {
        snprintf(line, sizeof line, "pprofd: %lld samples lost: the sample table was full",
                 (long long)win->lost_samples);
        pprofd__profile_add_comment(p, line);
    }
    if (!pprofd__cpu_handler_intact()) {
        snprintf(line, sizeof line,
                 "pprofd: the program replaced pprofd's SIGPROF handler during this profile: "
                 "samples after that were not taken, the profile is short");
        pprofd__profile_add_comment(p, line);
    }
    if (win->timer_failures > 0) {
        snprintf(line, sizeof line, "pprofd: %d threads could not get a CPU timer",
                 win->timer_failures);
        pprofd__profile_add_comment(p, line);
    }
}

pprofd__profile *pprofd__cpu_profile_build(pprofd__cpu_reader *r, long long start_nanos)
{
    pprofd__profile *p = pprofd__profile_new();
    if (!p) {
        pprofd__cpu_close(r);
        return NULL;
    }
    /* Sample types first: the builder sizes each sample's values by them. */
    pprofd__profile_add_sample_type(p, "samples", "count");
    pprofd__profile_add_sample_type(p, "cpu", "nanoseconds");
    pprofd__cpu_window win;
    cpu_walk w = {.p = p};
    pprofd__cpu_collect(r, add_cpu_sample, &w, &win);
    long long end_nanos = pprofd__now_nanos();
    /* The window ends here: the profile holds copies of the stacks, and
     * symbolizing and compressing them must not be sampled, nor keep the
     * timers running. */
    pprofd__cpu_close(r);

    pprofd__profile_set_period(p, "cpu", "nanoseconds", win.period_nanos);
    pprofd__profile_set_time(p, start_nanos, end_nanos - start_nanos);
    if (win.lost_samples > 0) {
        int64_t v[2] = {win.lost_samples, win.lost_samples * win.period_nanos};
        if (pprofd__profile_add_sample(p, "[lost]", NULL, 0, v, NULL, 0) < 0)
            w.failed = 1;
    }
    describe_window(p, &win);
    if (w.failed) {
        pprofd__profile_free(p);
        return NULL;
    }
    return p;
}

/* Consumes r. */
static enum MHD_Result build_and_send(pprofd__request *req, pprofd__cpu_reader *r,
                                      long long start_nanos)
{
    pprofd__profile *p = pprofd__cpu_profile_build(r, start_nanos);
    if (!p)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return pprofd__respond_profile(req, "profile", p);
}

enum MHD_Result pprofd__handle_cpu_profile(pprofd__request *req)
{
    enum MHD_Result result;
    /* Go's default, unless the server allows less. */
    long seconds = DEFAULT_SECONDS < req->server->max_seconds ? DEFAULT_SECONDS
                                                               : req->server->max_seconds;
    if (pprofd__query_seconds(req, &seconds, &result) < 0)
        return result;
    long hz = req->server->cpu_hz;
    if (pprofd__query_long(req, "hz", 1, 1000, &hz, &result) < 0)
        return result;

    char why[256] = "";
    pprofd__cpu_reader *r;
    long long start_nanos = pprofd__now_nanos();
    int rc = pprofd__cpu_open((int)hz, &r, why, sizeof why);
    if (rc == -EBUSY)
        return pprofd__respond_error(req, MHD_HTTP_CONFLICT, "cannot profile CPU: %s", why);
    if (rc < 0)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                     "cannot profile CPU: %s", why);

    for (long left = seconds * 1000; left > 0; left -= POLL_MS) {
        if (pprofd__wait(req, left < POLL_MS ? left : POLL_MS)) {
            /* Hung up, or the server stops: nobody wants this window. */
            pprofd__cpu_close(r);
            return MHD_NO;
        }
        pprofd__cpu_poll(r);
    }
    return build_and_send(req, r, start_nanos);
}
