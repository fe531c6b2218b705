/* loader — see loader.h. */
#include <link.h>
#include <stddef.h>

#include "sampler/loader.h"

static int first_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *counters = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        counters[0] = info->dlpi_adds;
        counters[1] = info->dlpi_subs;
    }
    return 1; /* every entry carries the same counters: stop at the first */
}

void pprofd__loader_counters(unsigned long long *adds, unsigned long long *subs)
{
    unsigned long long counters[2] = {0, 0};
    dl_iterate_phdr(first_object, counters);
    *adds = counters[0];
    *subs = counters[1];
}
