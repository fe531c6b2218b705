/*
 * http — the server's transport: its state (server.c starts and stops it),
 * one request's state and the calls every endpoint answers with
 * (request.c). Server threads only.
 *
 * Threading: one polling thread of ours drives libmicrohttpd (server.c)
 * and answers quick requests inline. A request that may take long (a CPU
 * profile, any `seconds=` delta, a thread capture) is suspended and its
 * handler runs on one of a fixed pool of worker threads (pool.c), so it may
 * block (pprofd__wait) without holding up other clients. Every one of
 * these threads blocks every signal but pprofd's own. Handlers are written the same either way:
 * pprofd__respond_* either queues the response or, on a worker, keeps it
 * until the connection is resumed.
 *
 * The whole picture (contexts, lock order, fork): docs/design.md.
 */
#ifndef PPROFD_HTTP_H
#define PPROFD_HTTP_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pprofd.h"
#include "server/http/mhd.h" /* MHD_foo() calls go through the table it loads */
#include "server/encode/profile.h"

typedef struct pprofd__pool pprofd__pool;

struct pprofd_server {
    /* Written by the polling thread only once it runs (it replaces them
     * when the host closed the descriptors under it), read by pprofd_stop
     * after joining it. */
    struct MHD_Daemon *daemon;
    int listen_fd;
    dev_t listen_dev;      /* the listening socket's identity: the canary */
    ino_t listen_ino;      /* that tells the host closed our descriptors */
    int epoll_fd;          /* libmicrohttpd's */
    int wake_fd;           /* eventfd: pprofd_stop wakes the polling thread */
    unsigned generation;   /* daemons started so far; daemon_lock to write */
    pthread_mutex_t daemon_lock; /* generation vs. MHD_resume_connection */
    pthread_t poller;
    pprofd__pool *pool;    /* the workers long requests run on (pool.c) */
    int port;
    pid_t pid;             /* the process that started it (fork check) */
    char addr[128];        /* as bound, for messages and to bind again */
    long mem_rate;         /* resolved settings */
    int cpu_hz;
    int max_seconds;
    _Atomic int stopping;  /* set by pprofd_stop; long handlers poll it */
    _Atomic int poller_exit; /* set by pprofd_stop once the pool is drained */
    char token[256];       /* PPROFD_TOKEN: required as a bearer token; "" none */
};

/* One request, from the first callback to completion. */
typedef struct pprofd__request {
    struct MHD_Connection *conn;
    pprofd_server *server;
    const char *method;
    char *raw_uri;        /* as the client sent it, undecoded (guard.c) */
    int wants_body;       /* a POST to /debug/pprof/symbol: the one body read */
    const char *name;     /* the part after /debug/pprof/ ("" for the index) */
    char *body;           /* POST body (symbol) */
    size_t body_len;
    int body_too_large;
    /* Set while the handler runs on a worker: responses are kept here and
     * queued when the connection is resumed. */
    int deferred;
    int answered;                   /* the worker has finished */
    unsigned deferred_status;
    struct MHD_Response *deferred_response; /* NULL + answered: close */
} pprofd__request;

/* Responses. Each queues a response and returns MHD's result. */
enum MHD_Result pprofd__respond_error(pprofd__request *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum MHD_Result pprofd__respond_text(pprofd__request *req, unsigned status,
                                     const char *content_type, const char *body, size_t len);
/* Answer the text built in b (200 with content_type, or 500 if building it
 * ran out of memory) and free b's data. */
struct pprofd__strbuf;
enum MHD_Result pprofd__respond_strbuf(pprofd__request *req, const char *content_type,
                                       struct pprofd__strbuf *b);
/* Encode p (consumed) and answer it gzip'd as an attachment `filename`;
 * a 500 if encoding fails. */
enum MHD_Result pprofd__respond_profile(pprofd__request *req, const char *filename,
                                        pprofd__profile *p);

/* Query parameters, parsed strictly. */
const char *pprofd__query(pprofd__request *req, const char *key);
/* An integer in [min, max]: 1 if present and valid (*out set), 0 if absent,
 * -1 if invalid (the 400 is already queued; return *result). */
int pprofd__query_long(pprofd__request *req, const char *key, long min, long max, long *out,
                       enum MHD_Result *result);
/* `seconds` for delta and CPU profiles: as above, max = server's max_seconds. */
int pprofd__query_seconds(pprofd__request *req, long *out, enum MHD_Result *result);

/* Sleep up to `ms` milliseconds; returns early (nonzero) if the server is
 * stopping or the client hung up. */
int pprofd__wait(pprofd__request *req, long ms);

/* Time now in nanoseconds since the epoch. */
long long pprofd__now_nanos(void);

/* libmicrohttpd's request and completion callbacks (request.c), for the
 * daemon server.c starts; cls is the pprofd_server. */
enum MHD_Result pprofd__on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls);
void pprofd__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe);

#endif
