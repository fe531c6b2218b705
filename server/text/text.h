/*
 * dump — the threads, goroutine and threadcreate endpoints
 * (handlers_threads.c) and their text forms (dump.c): debug=1, one block per
 * distinct stack with its count, as Go's count profiles print; debug=2, every
 * thread with its tid, name, state, CPU time and frames, as Go's goroutine
 * dump. Server threads only.
 */
#ifndef PPROFD_DUMP_H
#define PPROFD_DUMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampler/threaddump.h"
#include "server/http/http.h"

/* Synthetic leaf frame of a thread that gave no stack. */
#define PPROFD_NO_ANSWER_FRAME "[no answer]"

/* One sample of a count profile (threads, goroutine, threadcreate): a
 * stack, or a thread without one, and how many. */
typedef struct pprofd__count_entry {
    int64_t count;
    const uintptr_t *pcs; /* leaf first; not owned */
    int depth;
    const char *thread_name; /* label "thread", or NULL */
    int server;              /* label "pprofd" = "server" */
    /* Threads without an answer are never merged: they carry their tid
     * and why (labels "tid" and "reason"), under PPROFD_NO_ANSWER_FRAME. */
    pid_t no_answer_tid;
    const char *no_answer_reason;
} pprofd__count_entry;

/* debug=1: "<name> profile: total N", then one block per entry, biggest
 * count first, frames symbolized with function and file:line. */
enum MHD_Result pprofd__respond_count_text(pprofd__request *req, const char *name,
                                           pprofd__count_entry *entries, size_t n);

/* debug=2: every thread of the dump. */
enum MHD_Result pprofd__respond_thread_dump_text(pprofd__request *req,
                                                 const pprofd__thread_dump *dump);

/* Endpoints (handlers_threads.c), for the table in handlers.c. */
enum MHD_Result pprofd__handle_threads(pprofd__request *req);
enum MHD_Result pprofd__handle_goroutine(pprofd__request *req);
enum MHD_Result pprofd__handle_threadcreate(pprofd__request *req);
long pprofd__count_threadcreate(void);

#endif
