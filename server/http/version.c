/*
 * version — which pprofd is loaded, for programs that want to compare it
 * with the header they were built against.
 */
#include "pprofd.h"

PPROFD_API const char *pprofd_version(void)
{
    return PPROFD_VERSION;
}
