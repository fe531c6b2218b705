/*
 * pool — the workers long requests run on (pool.c). Server threads only.
 */
#ifndef PPROFD_POOL_H
#define PPROFD_POOL_H

#include "server/http/http.h"

struct pprofd__endpoint;

/* Requests that wait (a profile window, a delta) or stop threads. */
int pprofd__may_take_long(pprofd__request *req);
/* Suspend req's connection and run ep's handler on a worker. */
enum MHD_Result pprofd__run_on_worker(pprofd__request *req, const struct pprofd__endpoint *ep);
/* Called again after a worker resumed the connection: queue its answer. */
enum MHD_Result pprofd__finish_deferred(pprofd__request *req);

#endif
