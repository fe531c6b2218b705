/*
 * pool — the fixed set of worker threads long requests run on (pool.c).
 * Server threads only.
 */
#ifndef PPROFD_POOL_H
#define PPROFD_POOL_H

#include "server/http/http.h"

#define PPROFD_POOL_MAX_THREADS 16

struct pprofd__endpoint;

/* Start `threads` workers for s, with at most queue_cap requests waiting
 * for one. The calling thread's signal mask is the workers'. NULL if no
 * thread could be created. */
pprofd__pool *pprofd__pool_start(pprofd_server *s, int threads, int queue_cap);
/* Refuse new jobs, answer the queued ones 503, wait for the running ones
 * (they see s->stopping) and for every worker to exit; then free pool.
 * After it no connection of s is left suspended by a worker. */
void pprofd__pool_stop(pprofd__pool *pool);

/* Requests that wait (a profile window, a delta) or stop threads. */
int pprofd__may_take_long(pprofd__request *req);
/* Suspend req's connection and queue ep's handler for a worker; 503 with
 * Retry-After when the queue is full or the server is stopping. */
enum MHD_Result pprofd__run_on_worker(pprofd__request *req, const struct pprofd__endpoint *ep);
/* Called again after a worker resumed the connection: queue its answer. */
enum MHD_Result pprofd__finish_deferred(pprofd__request *req);

#endif
