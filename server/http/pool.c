/*
 * pool — where long requests run. Long requests leave libmicrohttpd's
 * pool: the connection is suspended, a detached worker thread runs the
 * handler, and the response is queued when the worker resumes the
 * connection (the pattern libmicrohttpd documents for suspend/resume).
 * Server threads only.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/endpoints/endpoints.h"
#include "server/http/http.h"
#include "server/http/pool.h"

/* Requests that wait (a profile window, a delta) or stop threads. */
int pprofd__may_take_long(pprofd__request *req)
{
    static const char *const slow[] = {"profile", "threads", "goroutine", NULL};
    for (int i = 0; slow[i]; i++)
        if (strcmp(req->name, slow[i]) == 0)
            return 1;
    return pprofd__query(req, "seconds") != NULL;
}

typedef struct worker_job {
    pprofd__request *req;
    const pprofd__endpoint *ep;
} worker_job;

static void *worker_main(void *arg)
{
    worker_job job = *(worker_job *)arg;
    free(arg);
    /* Thread dumps show this name (libmicrohttpd's would be inherited). */
    pthread_setname_np(pthread_self(), "pprofd-worker");
    pprofd__request *req = job.req;
    pprofd_server *s = req->server;
    if (job.ep->handle(req) == MHD_NO && req->deferred_response) {
        MHD_destroy_response(req->deferred_response);
        req->deferred_response = NULL;
    }
    req->answered = 1;
    MHD_resume_connection(req->conn);
    atomic_fetch_sub(&s->workers, 1);
    return NULL;
}

enum MHD_Result pprofd__run_on_worker(pprofd__request *req, const pprofd__endpoint *ep)
{
    worker_job *job = malloc(sizeof *job);
    if (!job)
        return pprofd__respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    job->req = req;
    job->ep = ep;
    req->deferred = 1;
    atomic_fetch_add(&req->server->workers, 1);
    MHD_suspend_connection(req->conn);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, worker_main, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(job);
        MHD_resume_connection(req->conn);
        atomic_fetch_sub(&req->server->workers, 1);
        req->deferred = 0;
        return pprofd__respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
                                     "cannot start a worker thread: %s", strerror(rc));
    }
    return MHD_YES;
}

/* Called again after a worker resumed the connection. */
enum MHD_Result pprofd__finish_deferred(pprofd__request *req)
{
    struct MHD_Response *r = req->deferred_response;
    req->deferred_response = NULL;
    if (!r)
        return MHD_NO; /* the handler failed hard: close the connection */
    enum MHD_Result ok = MHD_queue_response(req->conn, req->deferred_status, r);
    MHD_destroy_response(r);
    return ok;
}

