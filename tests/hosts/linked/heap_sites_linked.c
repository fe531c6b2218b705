/* heap_sites with pprofd linked in (libpprofd.a) instead of preloaded: its
 * malloc family is the program's own, and it starts the server itself. */
#define PPROFD_LINKED 1
#include "../heap_sites.c"
