/*
 * debuginfo — where the symbolizer finds an object's ELF file and its
 * separate debug file: libdwfl's callbacks (symbolize/internal.h), called
 * under the symbolizer's lock. Never libdebuginfod: see find_debuginfo.
 */
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "server/symbolize/internal.h"

/* ---- the objects themselves ---- */

/*
 * dwfl_linux_proc_find_elf, plus objects whose file was deleted or replaced
 * since it was mapped (a deploy that swaps the binary under a running
 * service; /proc/self/maps then says "PATH (deleted)"). The kernel keeps the
 * mapped inode alive and /proc/self/map_files/START-END opens it: the
 * whole file, .symtab and DWARF included. O(mappings) to find the range,
 * once per such object.
 */
/* libdwfl opens files without O_CLOEXEC: mark each one it hands back, or
 * every child the host execs inherits them (one per loaded object). A
 * fork+exec in the instant between its open and this still inherits it. */
static int cloexec(int fd)
{
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                    char **file_name, Elf **elfp)
{
    int fd = cloexec(dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp));
    const char *deleted = strstr(modname, " (deleted)");
    if (fd >= 0 || *elfp || !deleted || deleted[strlen(" (deleted)")] != 0)
        return fd;
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps)
        return -1;
    char line[4096 + 256], path[4096];
    unsigned long start, end;
    while (fd < 0 && fgets(line, sizeof line, maps)) {
        path[0] = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095[^\n]", &start, &end, path) == 3 &&
            strcmp(path, modname) == 0) {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/map_files/%lx-%lx", start, end);
            fd = open(link, O_RDONLY | O_CLOEXEC);
        }
    }
    fclose(maps);
    if (fd >= 0) /* the old name: .gnu_debuglink is searched beside it */
        *file_name = strndup(modname, (size_t)(deleted - modname));
    return fd;
}

/* ---- separate debug files ---- */

/* CRC-32 of a whole file, as .gnu_debuglink records it. O(file size). */
static int file_crc32(int fd, uint32_t *out)
{
    unsigned char buf[16384];
    uLong crc = crc32(0, Z_NULL, 0);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        crc = crc32(crc, buf, (uInt)n);
    if (n < 0 || lseek(fd, 0, SEEK_SET) != 0)
        return -1;
    *out = (uint32_t)crc;
    return 0;
}

/*
 * Where a module's DWARF (or full .symtab) lives when the file itself has
 * none: by build ID (/usr/lib/debug/.build-id/xx/rest.debug, libdwfl's
 * dwfl_build_id_find_debuginfo), else by .gnu_debuglink next to the file,
 * in its .debug/ folder, or under /usr/lib/debug/<its folder>/, checked
 * against the link's CRC.
 *
 * Not dwfl_standard_find_debuginfo: on a miss it loads libdebuginfod (and
 * with it libcurl, gnutls, ...) into the host, and where DEBUGINFOD_URLS is
 * set (Debian's login shells set it) it would download debug files over
 * the network from inside a production process, holding our lock for as
 * long as that takes. A profiler must not do either.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    int fd = cloexec(dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                                  debuglink_file, debuglink_crc,
                                                  debuginfo_file_name));
    if (fd >= 0 || !file_name || !debuglink_file || !*debuglink_file ||
        strchr(debuglink_file, '/'))
        return fd;
    const char *slash = strrchr(file_name, '/');
    int dirlen = slash ? (int)(slash - file_name) : 0;
    static const char *const patterns[] = {"%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s"};
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        char path[4096];
        int n = snprintf(path, sizeof path, patterns[i], dirlen, file_name, debuglink_file);
        if (n < 0 || (size_t)n >= sizeof path || strcmp(path, file_name) == 0)
            continue;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        uint32_t crc;
        if (file_crc32(fd, &crc) == 0 && crc == debuglink_crc) {
            *debuginfo_file_name = strdup(path);
            return fd;
        }
        close(fd);
    }
    return -1;
}

static char *debuginfo_path; /* NULL: /usr/lib/debug */

const Dwfl_Callbacks pprofd__symbols_callbacks = {
    .find_elf = find_elf,
    .find_debuginfo = find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};
