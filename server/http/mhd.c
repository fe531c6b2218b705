/*
 * mhd — libmicrohttpd, loaded with dlopen when the first server starts
 * (see mhd.h for why).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "server/http/mhd.h"

/* The soname libmicrohttpd has had since 0.9.x, which microhttpd.h is. */
#define MHD_LIBRARY "libmicrohttpd.so.12"

struct pprofd__mhd pprofd__mhd;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded = -1;
static char reason[256];

static void load(void)
{
    /* Never closed: the server may start again, and gnutls, which it
     * brings, does not expect to be unloaded. */
    void *lib = dlopen(MHD_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(reason, sizeof reason, "cannot load libmicrohttpd: %s", e ? e : MHD_LIBRARY);
        return;
    }
    void *f;
#define PPROFD__MHD_RESOLVE(name)                                                \
    if (!(f = dlsym(lib, "MHD_" #name))) {                                      \
        snprintf(reason, sizeof reason, "%s has no MHD_" #name, MHD_LIBRARY);   \
        return;                                                                 \
    }                                                                           \
    pprofd__mhd.name = (__typeof__(pprofd__mhd.name))f;
    PPROFD__MHD_FUNCTIONS(PPROFD__MHD_RESOLVE)
#undef PPROFD__MHD_RESOLVE
    loaded = 0;
}

int pprofd__mhd_load(char *why, size_t len)
{
    pthread_once(&once, load);
    if (loaded < 0 && why && len > 0)
        snprintf(why, len, "%s", reason);
    return loaded;
}
