/*
 * handlers_cpu — the /debug/pprof/profile endpoint (server threads only).
 */
#ifndef PPROFD_HANDLERS_CPU_H
#define PPROFD_HANDLERS_CPU_H

#include "server/http/http.h"

/* ?seconds=N (default 30, 1..max_seconds) and ?hz=H (1..1000, default the
 * server's cpu_hz): samples every thread's CPU for the window and answers
 * Go's CPU profile. 409 when the host owns SIGPROF or a profile at another
 * rate runs; a client that hangs up ends its window at once. */
enum MHD_Result pprofd__handle_cpu_profile(pprofd__request *req);

#endif
