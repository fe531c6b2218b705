/*
 * mhd — libmicrohttpd, loaded when the first server starts.
 *
 * libpprofd.so has no DT_NEEDED on libmicrohttpd: that library brings
 * gnutls and a dozen more, and mapping and relocating them at start-up
 * costs every process that preloads pprofd several milliseconds, though
 * most of them never serve. pprofd__mhd_load() dlopens it (RTLD_LOCAL: its
 * symbols stay out of the host's namespace) and fills pprofd__mhd with the
 * functions the server calls.
 *
 * Include it after <microhttpd.h> (server/http/http.h does both), which still gives
 * the types and constants: the MHD_foo names of the functions in the
 * table become calls through it, so call sites read as libmicrohttpd's
 * documentation does. A function called but left out of the table would
 * be an undefined symbol of libpprofd.so: test-e2e-preload checks that
 * there is none.
 */
#ifndef PPROFD_MHD_H
#define PPROFD_MHD_H

#include <microhttpd.h>
#include <stddef.h>

/* Every libmicrohttpd function pprofd calls, without the MHD_ prefix. */
#define PPROFD__MHD_FUNCTIONS(X)      \
    X(start_daemon)                   \
    X(stop_daemon)                    \
    X(quiesce_daemon)                 \
    X(queue_response)                 \
    X(create_response_from_buffer)    \
    X(create_response_from_callback)  \
    X(destroy_response)               \
    X(add_response_header)            \
    X(suspend_connection)             \
    X(resume_connection)              \
    X(lookup_connection_value)        \
    X(get_connection_values)          \
    X(get_connection_info)            \
    X(get_daemon_info)                \
    X(get_timeout)                    \
    X(run)

/* One pointer per function, typed from microhttpd.h's own prototype. */
struct pprofd__mhd {
#define PPROFD__MHD_POINTER(name) __typeof__(MHD_##name) *name;
    PPROFD__MHD_FUNCTIONS(PPROFD__MHD_POINTER)
#undef PPROFD__MHD_POINTER
};
extern struct pprofd__mhd pprofd__mhd;

/* Load libmicrohttpd.so.12 and resolve the table, once per process (any
 * thread; later calls return the first one's answer). 0 on success; -1 if
 * the library or one of its functions is missing, with a one-line reason
 * in why. */
int pprofd__mhd_load(char *why, size_t len);

#define MHD_start_daemon pprofd__mhd.start_daemon
#define MHD_stop_daemon pprofd__mhd.stop_daemon
#define MHD_quiesce_daemon pprofd__mhd.quiesce_daemon
#define MHD_queue_response pprofd__mhd.queue_response
#define MHD_create_response_from_buffer pprofd__mhd.create_response_from_buffer
#define MHD_create_response_from_callback pprofd__mhd.create_response_from_callback
#define MHD_destroy_response pprofd__mhd.destroy_response
#define MHD_add_response_header pprofd__mhd.add_response_header
#define MHD_suspend_connection pprofd__mhd.suspend_connection
#define MHD_resume_connection pprofd__mhd.resume_connection
#define MHD_lookup_connection_value pprofd__mhd.lookup_connection_value
#define MHD_get_connection_values pprofd__mhd.get_connection_values
#define MHD_get_connection_info pprofd__mhd.get_connection_info
#define MHD_get_daemon_info pprofd__mhd.get_daemon_info
#define MHD_get_timeout pprofd__mhd.get_timeout
#define MHD_run pprofd__mhd.run

#endif
