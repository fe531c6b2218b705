/*
 * contention — /debug/pprof/mutex and /debug/pprof/block.
 *
 * pprofd does not record lock contention or blocking yet. Continuous
 * profilers (Grafana Alloy's pyroscope.scrape, Parca) request both
 * profiles by default and count anything but a 200 with a parseable
 * profile as a failed scrape, so both answer what Go answers when its
 * mutex and block profiling are switched off: a valid profile with Go's
 * sample types and no samples. The profile carries a comment, and the
 * index page a sentence, saying so; nothing pretends to measure.
 *
 * Server threads only; no state of its own.
 */
#include <string.h>

#include "server/endpoints/endpoints.h"

/* What an empty profile says about itself (go tool pprof shows comments). */
#define NOT_RECORDED "pprofd does not record lock contention yet: this profile has no samples"

typedef struct contention_kind {
    const char *filename;    /* Content-Disposition, as Go names it */
    const char *text_header; /* debug=1: Go's legacy text format */
} contention_kind;

static const contention_kind mutex_kind = {
    "mutex",
    /* Go writes the mutex sampling fraction; 0 is what it writes when
     * mutex profiling is off, which is the truth here. */
    "--- mutex:\ncycles/second=1000000000\nsampling period=0\n",
};

static const contention_kind block_kind = {
    "block",
    "--- contention:\ncycles/second=1000000000\n",
};

/* Go's block and mutex profiles: count and delay per stack, period type
 * contentions/count with period 1 (runtime/pprof printCountCycleProfile). */
static pprofd__profile *empty_contention_profile(long long duration_nanos)
{
    pprofd__profile *p = pprofd__profile_new();
    if (!p)
        return NULL;
    pprofd__profile_add_sample_type(p, "contentions", "count");
    pprofd__profile_add_sample_type(p, "delay", "nanoseconds");
    pprofd__profile_set_period(p, "contentions", "count", 1);
    pprofd__profile_set_time(p, pprofd__now_nanos() - duration_nanos, duration_nanos);
    pprofd__profile_add_comment(p, NOT_RECORDED);
    return p;
}

static enum MHD_Result serve_contention(pprofd__request *req, const contention_kind *kind)
{
    enum MHD_Result result;
    long debug = 0, seconds = 0;
    /* Any debug > 0 is the text form, as in Go; garbage is a 400. */
    if (pprofd__query_long(req, "debug", 0, 1000000, &debug, &result) < 0)
        return result;
    /* ?seconds=N asks Go for the delta over N seconds; the delta of
     * nothing is nothing, but the client asked to wait, and a scraper
     * set up for deltas times its next request by this one. */
    int has_seconds = pprofd__query_seconds(req, &seconds, &result);
    if (has_seconds < 0)
        return result;
    /* A delta has no text form; Go refuses the pair the same way. */
    if (has_seconds > 0 && debug > 0)
        return pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST,
                                     "seconds and debug params are incompatible");
    if (has_seconds > 0 && pprofd__wait(req, seconds * 1000))
        return pprofd__respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
                                     "interrupted: the server is stopping or the client left");

    /* The legacy text form has no place for a remark that google/pprof's
     * parser would still accept: headers only, as Go writes them when
     * nothing was recorded. */
    if (debug > 0)
        return pprofd__respond_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8",
                                    kind->text_header, strlen(kind->text_header));
    pprofd__profile *p = empty_contention_profile(seconds * 1000000000ll);
    if (!p)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return pprofd__respond_profile(req, kind->filename, p);
}

enum MHD_Result pprofd__handle_mutex(pprofd__request *req)
{
    return serve_contention(req, &mutex_kind);
}

enum MHD_Result pprofd__handle_block(pprofd__request *req)
{
    return serve_contention(req, &block_kind);
}

long pprofd__count_contention(void)
{
    return 0;
}
