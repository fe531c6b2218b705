/*
 * cmdline — /debug/pprof/cmdline: the program's arguments, joined by NUL
 * as Go's net/http/pprof joins os.Args. Server threads only.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/endpoints/endpoints.h"

enum MHD_Result pprofd__handle_cmdline(pprofd__request *req)
{
    /* /proc/self/cmdline is argv with a NUL after each; Go joins with NUL
     * between, so drop the last one. */
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                     "cannot read /proc/self/cmdline");
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf && (n = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    close(fd);
    if (!buf)
        return pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    if (len > 0 && buf[len - 1] == 0)
        len--;
    enum MHD_Result r = pprofd__respond_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8", buf, len);
    free(buf);
    return r;
}
