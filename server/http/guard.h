/*
 * guard — the checks every request passes before routing reaches an
 * endpoint (see guard.c). Server threads only.
 */
#ifndef PPROFD_SERVER_GUARD_H
#define PPROFD_SERVER_GUARD_H

#include <stddef.h>

#include "server/http/http.h"

/* MHD_OPTION_URI_LOG_CALLBACK: allocates the request, keeping its raw URI. */
void *pprofd__on_uri(void *cls, const char *uri, struct MHD_Connection *conn);

/* 1 when the decoded path url is exactly what the client sent, with no
 * "//" or "/." in it. */
int pprofd__raw_path_ok(const pprofd__request *req, const char *url);

/* 0, or -1 with a one-line reason: a parameter pprofd reads is repeated,
 * has no "=value", or a value that is not decimal digits. */
int pprofd__check_query(const pprofd__request *req, char *why, size_t why_size);

/* 1 when no token is set or the request carries "Authorization: Bearer
 * <token>" (compared in constant time). */
int pprofd__authorized(const pprofd__request *req);

/* The token, from the value itself or else the first line of a file, into
 * out ("" when neither is set). -1 with a reason when the file cannot be
 * read or the token does not fit. */
int pprofd__read_token(const char *token, const char *file, char *out, size_t out_size,
                       char *err, size_t err_size);

#endif
