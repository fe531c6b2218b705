/* A library host-sym dlopens after pprofd has started (and after a first
 * profile has been served): its functions must still be named. */
#include <stdlib.h>
#include <string.h>

static void *volatile plugin_keep[32];

__attribute__((noinline)) static void plugin_static_alloc(void)
{
    for (int i = 0; i < 32; i++) {
        plugin_keep[i] = malloc(100000); /* MARK: plugin-malloc */
        memset(plugin_keep[i], 3, 100000);
    }
}

__attribute__((visibility("default"), noinline)) void plugin_entry(void)
{
    plugin_static_alloc();
    __asm__ volatile("" ::: "memory"); /* keep the call a call, not a jump */
}
