/*
 * pool — where long requests run: a fixed set of worker threads, created
 * once when the server starts, and a bounded queue in front of them. The
 * connection of a long request is suspended, a worker runs the handler,
 * and the response is queued when the worker resumes the connection (the
 * pattern libmicrohttpd documents for suspend/resume). Past the queue's cap
 * a request is answered 503 with Retry-After at once, so a burst of
 * clients costs the host neither threads nor memory beyond the cap.
 *
 * Threads: pprofd__run_on_worker runs on the polling thread (inside
 * libmicrohttpd's callbacks); workers run handlers; pprofd__pool_stop runs
 * on the thread calling pprofd_stop.
 *
 * Shared state, who writes it (all under pool.lock):
 *   head/tail/queued   the polling thread appends, workers take.
 *   closed             set once by pprofd__pool_stop; after it nothing is
 *                      queued and workers answer what is left with 503.
 * Lock order: pool.lock, then nothing (MHD is called outside it). Workers
 * take the server's daemon_lock around MHD_resume_connection only.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/endpoints/endpoints.h"
#include "server/http/http.h"
#include "server/http/pool.h"

/* Seconds a client told "busy" or "stopping" is asked to wait. */
#define RETRY_AFTER "1"

typedef struct worker_job {
    pprofd__request *req;
    const pprofd__endpoint *ep;
    unsigned generation; /* the server's daemon when the job was queued */
    struct worker_job *next;
} worker_job;

struct pprofd__pool {
    pprofd_server *server;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    worker_job *head, *tail;
    int queued;
    int queue_cap;
    int closed;
    int nthreads;
    pthread_t threads[PPROFD_POOL_MAX_THREADS];
};

/* Requests that wait (a profile window, a delta) or stop threads. */
int pprofd__may_take_long(pprofd__request *req)
{
    static const char *const slow[] = {"profile", "threads", "goroutine", NULL};
    for (int i = 0; slow[i]; i++)
        if (strcmp(req->name, slow[i]) == 0)
            return 1;
    return pprofd__query(req, "seconds") != NULL;
}

/* A 503 that says when to come back, as Go's error bodies look. */
static struct MHD_Response *unavailable(const char *why)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "%s\n", why);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, msg, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return NULL;
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(r, "X-Go-Pprof", "1");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Retry-After", RETRY_AFTER);
    return r;
}

static enum MHD_Result respond_unavailable(pprofd__request *req, const char *why)
{
    struct MHD_Response *r = unavailable(why);
    if (!r)
        return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    return ok;
}

/* Hand the connection back to libmicrohttpd, unless the daemon it belongs
 * to was abandoned (its descriptors were closed under it, server.c): that
 * daemon is never called again, and the request is left to it. */
static void resume(pprofd_server *s, pprofd__request *req, unsigned generation)
{
    pthread_mutex_lock(&s->daemon_lock);
    if (generation == s->generation) {
        req->answered = 1;
        MHD_resume_connection(req->conn);
    } else if (req->deferred_response) {
        MHD_destroy_response(req->deferred_response);
        req->deferred_response = NULL;
    }
    pthread_mutex_unlock(&s->daemon_lock);
}

static void run_job(pprofd__pool *pool, worker_job *job, int closed)
{
    pprofd__request *req = job->req;
    if (closed) {
        /* Queued before the server began to stop, never started. */
        req->deferred_status = MHD_HTTP_SERVICE_UNAVAILABLE;
        req->deferred_response = unavailable("pprofd is stopping");
    } else if (job->ep->handle(req) == MHD_NO && req->deferred_response) {
        MHD_destroy_response(req->deferred_response);
        req->deferred_response = NULL;
    }
    resume(pool->server, req, job->generation);
    free(job);
}

static void *worker_main(void *arg)
{
    pprofd__pool *pool = arg;
    /* Thread dumps show this name. */
    pthread_setname_np(pthread_self(), "pprofd-worker");
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->head && !pool->closed)
            pthread_cond_wait(&pool->wake, &pool->lock);
        worker_job *job = pool->head;
        if (!job)
            break; /* closed and drained */
        pool->head = job->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->queued--;
        int closed = pool->closed;
        pthread_mutex_unlock(&pool->lock);
        run_job(pool, job, closed);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

pprofd__pool *pprofd__pool_start(pprofd_server *s, int threads, int queue_cap)
{
    if (threads < 1)
        threads = 1;
    if (threads > PPROFD_POOL_MAX_THREADS)
        threads = PPROFD_POOL_MAX_THREADS;
    pprofd__pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->server = s;
    pool->queue_cap = queue_cap;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0)
            break;
        pool->nthreads++;
    }
    if (pool->nthreads == 0) {
        pthread_cond_destroy(&pool->wake);
        pthread_mutex_destroy(&pool->lock);
        free(pool);
        return NULL;
    }
    return pool;
}

void pprofd__pool_stop(pprofd__pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->closed = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    /* Running handlers see the server's `stopping` (pprofd__wait polls it
     * every 100 ms; a thread capture has its own 1 s deadline); queued
     * jobs are answered 503. Then every suspended connection is resumed. */
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

enum MHD_Result pprofd__run_on_worker(pprofd__request *req, const pprofd__endpoint *ep)
{
    pprofd_server *s = req->server;
    pprofd__pool *pool = s->pool;
    worker_job *job = malloc(sizeof *job);
    if (!job)
        return respond_unavailable(req, "out of memory");
    job->req = req;
    job->ep = ep;
    job->generation = s->generation; /* the polling thread's own: stable here */
    job->next = NULL;

    pthread_mutex_lock(&pool->lock);
    const char *refused = pool->closed                     ? "pprofd is stopping"
                          : pool->queued >= pool->queue_cap ? "too many long requests at once"
                                                            : NULL;
    if (!refused) {
        /* Suspended before any worker can see the job: a worker resumes
         * only connections that are suspended. */
        req->deferred = 1;
        MHD_suspend_connection(req->conn);
        if (pool->tail)
            pool->tail->next = job;
        else
            pool->head = job;
        pool->tail = job;
        pool->queued++;
        pthread_cond_signal(&pool->wake);
    }
    pthread_mutex_unlock(&pool->lock);
    if (refused) {
        free(job);
        return respond_unavailable(req, refused);
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
