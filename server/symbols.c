/*
 * symbols — see symbols.h. Built on elfutils' libdwfl reporting this very
 * process (/proc/self/maps): it reads .symtab where a file has one (static
 * functions included), .dynsym otherwise, and DWARF line tables where
 * present, including separate debug files found by build ID or
 * .gnu_debuglink.
 *
 * The Dwfl session is created on first use and kept; an address outside
 * every reported module (a library dlopen'ed since) triggers one re-report.
 * All of it sits behind one mutex: libdwfl is not thread-safe.
 */
#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "server/symbols.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Dwfl *dwfl;
static char *debuginfo_path;

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

/* Called with lock held. */
static int report_modules(void)
{
    if (!dwfl) {
        dwfl = dwfl_begin(&callbacks);
        if (!dwfl)
            return -1;
    }
    dwfl_report_begin(dwfl);
    int rc = dwfl_linux_proc_report(dwfl, getpid());
    dwfl_report_end(dwfl, NULL, NULL);
    return rc == 0 ? 0 : -1;
}

static Dwfl_Module *module_for(uintptr_t pc)
{
    if (!dwfl && report_modules() < 0)
        return NULL;
    Dwfl_Module *m = dwfl_addrmodule(dwfl, pc);
    if (!m && report_modules() == 0)
        m = dwfl_addrmodule(dwfl, pc);
    return m;
}

void pprofd__symbolize(uintptr_t pc, pprofd__frames_fn fn, void *arg)
{
    pthread_mutex_lock(&lock);
    pprofd__frame frame = {.name = "", .system_name = "", .file = ""};
    int n = 0;
    Dwfl_Module *m = module_for(pc);
    if (m) {
        GElf_Off offset;
        GElf_Sym sym;
        const char *name = dwfl_module_addrinfo(m, pc, &offset, &sym, NULL, NULL, NULL);
        if (name) {
            frame.name = frame.system_name = name;
            n = 1;
            Dwfl_Line *line = dwfl_module_getsrc(m, pc);
            if (line) {
                int lineno = 0;
                const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
                if (file) {
                    frame.file = file;
                    frame.line = lineno;
                }
            }
        }
    }
    fn(pc, &frame, n, arg);
    pthread_mutex_unlock(&lock);
}

void pprofd__symbols_object_info(const char *path, pprofd__object_info *out)
{
    (void)path;
    memset(out, 0, sizeof *out);
    out->has_functions = 1;
}

size_t pprofd__symbols_memory(void)
{
    return 0;
}
