/*
 * hide_mhd — preloaded ahead of libpprofd.so by test-e2e-preload.sh, it
 * makes dlopen of libmicrohttpd look for a library that does not exist, as
 * on a machine without it: pprofd_start must say so in one line and the
 * host must carry on.
 */
#include <dlfcn.h>
#include <string.h>

/* Exported in spite of the build's hidden default. */
__attribute__((visibility("default"))) void *dlopen(const char *file, int flags)
{
    void *(*real)(const char *, int) = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
    if (file && strstr(file, "libmicrohttpd"))
        file = "libmicrohttpd-hidden-by-test.so.12";
    return real(file, flags);
}
