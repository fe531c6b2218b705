/*
 * symbolize/internal.h — what the symbolizer's three files share:
 *
 *   symbols.c    the API (symbols.h), its lock and fork step, the libdwfl
 *                session kept in step with the loader, the per-address
 *                cache and the string pool every name it hands out lives in;
 *   functions.c  one address resolved: the module's function table, DWARF
 *                frames with inlines; the per-object facts of a mapping;
 *   debuginfo.c  libdwfl's callbacks that find files and debug files.
 *
 * Everything here is called with the symbolizer's lock held (symbols.c),
 * on server threads only: it allocates, opens files, and through libdwfl
 * may take the loader's lock.
 */
#ifndef PPROFD_SYMBOLIZE_INTERNAL_H
#define PPROFD_SYMBOLIZE_INTERNAL_H

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/symbolize/symbols.h"

/* Deepest inline chain kept for one address (physical function included). */
#define MAX_FRAMES 32

/* debuginfo.c: find_elf and find_debuginfo for dwfl_begin. */
extern const Dwfl_Callbacks pprofd__symbols_callbacks;

/* symbols.c: a stable copy of s in the pool (NULL out of memory); C++
 * demangling through the process's own runtime, if it has one (malloc'd
 * result, or NULL); and the accounting of what libdw allocates over a
 * stretch of work (nested stretches count once). */
const char *pprofd__symbols_intern(const char *s);
char *pprofd__symbols_demangle(const char *mangled);
typedef struct pprofd__measure {
    long long heap, own;
    bool outer;
} pprofd__measure;
pprofd__measure pprofd__symbols_measure_begin(void);
void pprofd__symbols_measure_end(pprofd__measure s);

/* functions.c: the module's cache (kept as libdwfl's userdata of the
 * module; built on first use, NULL out of memory), freed when libdwfl
 * drops the module. */
typedef struct pprofd__module_cache pprofd__module_cache;
pprofd__module_cache *pprofd__symbols_module(Dwfl_Module *m);
void pprofd__symbols_module_free(pprofd__module_cache *c);
size_t pprofd__symbols_module_symbols(const pprofd__module_cache *c);
void pprofd__symbols_module_info(Dwfl_Module *m, pprofd__module_cache *c,
                                 pprofd__object_info *out);
/* Bytes all module caches hold; forgetting them without freeing (a fork
 * child that cannot trust them). */
size_t pprofd__symbols_modules_bytes(void);
void pprofd__symbols_modules_forget(void);

/* functions.c: every frame of pc, innermost first, interned; the count,
 * 0 when nothing names it, -1 out of memory. */
int pprofd__symbols_resolve(Dwfl *dwfl, uintptr_t pc, pprofd__frame *out);

#endif
