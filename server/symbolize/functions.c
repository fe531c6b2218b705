/*
 * functions — what the symbolizer knows of one address: the function
 * symbol around it (per module, our own sorted table of function symbols,
 * binary-searched where libdwfl's dwfl_module_addrinfo scans the whole
 * table; built on the first address that falls in the module: O(N log N)
 * once), and from DWARF its file:line and the chain of inlined calls
 * (O(DIEs of its compile unit) per address, cached by symbols.c). Also the
 * per-object facts pprof reads from each mapping. Everything here runs
 * under the symbolizer's lock (symbolize/internal.h).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/symbolize/internal.h"

/* ---- per-module function table ---- */

typedef struct sym_entry {
    uintptr_t start, end;
    const char *name; /* into libelf's string table: lives as long as the module */
    int rank;         /* lower is preferred among aliases at one address */
} sym_entry;

struct pprofd__module_cache {
    sym_entry *syms;
    size_t nsyms;
    int info_done;
    pprofd__object_info info;
};
typedef pprofd__module_cache module_cache;

static size_t module_bytes; /* sum over live module caches; under the lock */

static int binding_rank(const GElf_Sym *sym, const char *name)
{
    /* Among aliases, prefer a global name to a weak one to a local one, and
     * fewer leading underscores (malloc over __libc_malloc). */
    int b = GELF_ST_BIND(sym->st_info);
    int rank = b == STB_GLOBAL ? 0 : b == STB_WEAK ? 8 : 16;
    while (*name == '_' && rank % 8 < 7) {
        name++;
        rank++;
    }
    return rank;
}

static int sym_compare(const void *a, const void *b)
{
    const sym_entry *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->rank - y->rank;
}

void pprofd__symbols_module_free(module_cache *c)
{
    if (!c)
        return;
    module_bytes -= sizeof *c + c->nsyms * sizeof *c->syms;
    free(c->syms);
    free(c);
}

/* Build the module's sorted function table: O(N log N) in its symbols. */
static module_cache *module_cache_load(Dwfl_Module *m)
{
    module_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    int n = dwfl_module_getsymtab(m);
    if (n > 0) {
        c->syms = malloc((size_t)n * sizeof *c->syms);
        if (!c->syms) {
            free(c);
            return NULL;
        }
    }
    for (int i = 1; i < n; i++) { /* entry 0 is the null symbol */
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(m, i, &sym, &addr, &shndx, NULL, NULL);
        int type = name ? GELF_ST_TYPE(sym.st_info) : STT_NOTYPE;
        if (!name || !*name || (type != STT_FUNC && type != STT_GNU_IFUNC) ||
            shndx == SHN_UNDEF || addr == 0)
            continue;
        c->syms[c->nsyms++] = (sym_entry){
            .start = addr, .end = addr + sym.st_size, .name = name, .rank = binding_rank(&sym, name)};
    }
    qsort(c->syms, c->nsyms, sizeof *c->syms, sym_compare);
    /* Keep one entry per address (the best-ranked, first after sorting);
     * a size-0 symbol extends to the next one. */
    size_t out = 0;
    for (size_t i = 0; i < c->nsyms; i++) {
        if (out && c->syms[out - 1].start == c->syms[i].start) {
            if (c->syms[out - 1].end < c->syms[i].end)
                c->syms[out - 1].end = c->syms[i].end;
            continue;
        }
        c->syms[out++] = c->syms[i];
    }
    c->nsyms = out;
    for (size_t i = 0; i + 1 < c->nsyms; i++)
        if (c->syms[i].end == c->syms[i].start)
            c->syms[i].end = c->syms[i + 1].start;
    if (c->nsyms) {
        sym_entry *shrunk = realloc(c->syms, c->nsyms * sizeof *c->syms);
        if (shrunk)
            c->syms = shrunk;
    }
    module_bytes += sizeof *c + c->nsyms * sizeof *c->syms;
    return c;
}

module_cache *pprofd__symbols_module(Dwfl_Module *m)
{
    void **userdata;
    dwfl_module_info(m, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
    if (!*userdata) {
        pprofd__measure s = pprofd__symbols_measure_begin();
        *userdata = module_cache_load(m);
        pprofd__symbols_measure_end(s);
    }
    return *userdata;
}

static const sym_entry *symbol_at(const module_cache *c, uintptr_t pc)
{
    size_t lo = 0, hi = c->nsyms; /* first entry with start > pc */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->syms[mid].start <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || pc >= c->syms[lo - 1].end)
        return NULL;
    return &c->syms[lo - 1];
}

/* ---- names ---- */

/* The name to show for a symbol: demangled when it is a mangled C++ name
 * and a demangler is at hand, else the symbol itself. Interned. */
static const char *display_name(const char *system_name)
{
    if (system_name[0] == '_' && system_name[1] == 'Z') {
        char *d = pprofd__symbols_demangle(system_name);
        if (d) {
            const char *s = pprofd__symbols_intern(d);
            free(d);
            if (s)
                return s;
        }
    }
    return pprofd__symbols_intern(system_name);
}

static const char *die_string(Dwarf_Die *die, int name)
{
    Dwarf_Attribute attr;
    return dwarf_formstring(dwarf_attr_integrate(die, name, &attr));
}

static int die_udata(Dwarf_Die *die, int name, Dwarf_Word *out)
{
    Dwarf_Attribute attr;
    return dwarf_formudata(dwarf_attr(die, name, &attr), out);
}

/* One frame from a subprogram or inlined_subroutine DIE. Strings are not
 * yet interned (they point into libdw's data). */
static bool frame_from_die(Dwarf_Die *die, pprofd__frame *f)
{
    const char *linkage = die_string(die, DW_AT_linkage_name);
    if (!linkage)
        linkage = die_string(die, DW_AT_MIPS_linkage_name);
    const char *plain = dwarf_diename(die);
    if (!linkage && !plain)
        return false;
    f->system_name = linkage ? linkage : plain;
    f->name = plain; /* replaced by the demangled linkage name when interning */
    int decl_line = 0;
    f->start_line = dwarf_decl_line(die, &decl_line) == 0 ? decl_line : 0;
    return true;
}

/*
 * The chain of function DIEs whose ranges contain pc, outermost first: the
 * physical subprogram, then each inlined_subroutine inside it. Our own walk
 * rather than dwarf_getscopes, which at an inlined instance continues with
 * the scopes of the inline's abstract origin and so loses the caller.
 * Namespaces are searched (GCC nests C++ function definitions in them);
 * classes are not, as compilers put the concrete instance of a member
 * function at namespace or CU level, and a class holds only declarations.
 * Subtrees whose range misses pc are skipped whole (DW_AT_sibling), so the
 * cost is O(DIEs at the levels on the way down), at most O(DIEs in the CU).
 */
static int function_chain(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int depth,
                          int max, int nesting)
{
    Dwarf_Die child;
    if (nesting > 64 || dwarf_child(parent, &child) != 0)
        return depth;
    do {
        int tag = dwarf_tag(&child);
        switch (tag) {
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
        case DW_TAG_lexical_block:
        case DW_TAG_try_block:
        case DW_TAG_catch_block:
            if (dwarf_haspc(&child, pc) != 1)
                break;
            if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
                if (depth == max)
                    return depth;
                chain[depth++] = child;
            }
            return function_chain(&child, pc, chain, depth, max, nesting + 1);
        case DW_TAG_namespace:
        case DW_TAG_module: {
            int d = function_chain(&child, pc, chain, depth, max, nesting + 1);
            if (d > depth)
                return d;
            break;
        }
        default:
            break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return depth;
}

/*
 * Frames for pc from DWARF, innermost first: each inlined_subroutine a
 * frame of its own, then the subprogram that holds them. The innermost
 * frame's line comes from the line table; each outer frame's line is the
 * call site recorded on the inlined_subroutine just inside it
 * (DW_AT_call_file/DW_AT_call_line).
 */
static int dwarf_frames(Dwfl_Module *m, uintptr_t pc, pprofd__frame *out, int max)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(m, pc, &bias);
    if (!cu)
        return 0;
    Dwarf_Die chain[MAX_FRAMES];
    int depth = function_chain(cu, pc - bias, chain, 0, max < MAX_FRAMES ? max : MAX_FRAMES, 0);
    if (depth == 0)
        return 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
        files = NULL;

    const char *file = NULL;
    int line = 0;
    Dwarf_Line *l = dwarf_getsrc_die(cu, pc - bias);
    if (l) {
        file = dwarf_linesrc(l, NULL, NULL);
        dwarf_lineno(l, &line);
    }
    int n = 0;
    for (int i = depth - 1; i >= 0; i--) {
        pprofd__frame f = {0};
        frame_from_die(&chain[i], &f); /* no name: the caller fills one in */
        /* The file the code at this line is in: for pprof, file:line must
         * point at the code, even when the declaration sits in a header. */
        f.file = file ? file : "";
        f.line = line;
        out[n++] = f;
        Dwarf_Word w;
        line = die_udata(&chain[i], DW_AT_call_line, &w) == 0 ? (int)w : 0;
        file = files && die_udata(&chain[i], DW_AT_call_file, &w) == 0 && w < nfiles
                   ? dwarf_filesrc(files, w, NULL, NULL)
                   : NULL;
    }
    return n;
}

/* Intern frame strings in place; false when out of memory. A mangled C++
 * system name is shown demangled (DWARF's bare name lacks the class and
 * namespace); with no demangler in the process the name stays the mangled
 * one, and pprof, seeing name == system_name, demangles it itself.
 * Otherwise the DWARF name, else the symbol. */
static bool intern_frame(pprofd__frame *f)
{
    const char *system = pprofd__symbols_intern(f->system_name);
    const char *name;
    if (f->system_name[0] == '_' && f->system_name[1] == 'Z')
        name = display_name(f->system_name);
    else
        name = f->name ? pprofd__symbols_intern(f->name) : system;
    const char *file = pprofd__symbols_intern(f->file);
    if (!system || !name || !file)
        return false;
    f->system_name = system;
    f->name = name;
    f->file = file;
    return true;
}

/* Cold path: everything known about pc. Returns the frame count. */
int pprofd__symbols_resolve(Dwfl *dwfl, uintptr_t pc, pprofd__frame *out)
{
    Dwfl_Module *m = dwfl_addrmodule(dwfl, pc);
    if (!m)
        return 0;
    module_cache *c = pprofd__symbols_module(m);
    const sym_entry *sym = c ? symbol_at(c, pc) : NULL;
    int n = dwarf_frames(m, pc, out, MAX_FRAMES);
    if (n > 0 && !out[n - 1].system_name && sym) /* DWARF without a name */
        out[n - 1].system_name = sym->name;
    for (int i = 0; i < n; i++)
        if (!out[i].system_name)
            out[i].system_name = "??";
    if (n == 0 && sym) {
        /* No DWARF function here (hand-written assembly, or no DWARF at
         * all): the symbol, with the line table's file:line if it has one. */
        out[0] = (pprofd__frame){.name = NULL, .system_name = sym->name, .file = ""};
        Dwfl_Line *line = dwfl_module_getsrc(m, pc);
        int lineno = 0;
        const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
        if (file) {
            out[0].file = file;
            out[0].line = lineno;
        }
        n = 1;
    }
    for (int i = 0; i < n; i++)
        if (!intern_frame(&out[i]))
            return -1;
    return n;
}

/* ---- per-object facts ---- */

/* Does elf have a full symbol table (.symtab), or MiniDebugInfo
 * (.gnu_debugdata, an LZMA'd .symtab)? .dynsym alone names only exported
 * functions. O(sections). */
static bool elf_has_full_symtab(Elf *elf)
{
    size_t shstrndx;
    if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return false;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr))
            continue;
        if (shdr.sh_type == SHT_SYMTAB)
            return true;
        const char *name = elf_strptr(elf, shstrndx, shdr.sh_name);
        if (name && strcmp(name, ".gnu_debugdata") == 0)
            return true;
    }
    return false;
}

/*
 * The mapping flags pprof reads. has_functions: every function has a name
 * (a .symtab in the file, its debug file or MiniDebugInfo); with .dynsym
 * alone static functions stay unnamed, so it is 0 and pprof knows it may
 * do better with the binary. has_filenames/has_line_numbers: DWARF line
 * tables. has_inline_frames: DWARF scopes, which come with them.
 */
static void compute_info(Dwfl_Module *m, module_cache *c)
{
    memset(&c->info, 0, sizeof c->info);
    Dwarf_Addr bias;
    pprofd__measure s = pprofd__symbols_measure_begin();
    Dwarf *dw = dwfl_module_getdwarf(m, &bias);
    GElf_Addr elf_bias;
    c->info.has_functions =
        c->nsyms > 0 && (elf_has_full_symtab(dwfl_module_getelf(m, &elf_bias)) ||
                         (dw && elf_has_full_symtab(dwarf_getelf(dw))));
    if (dw) {
        /* Line numbers: look at the first compile units that have a line
         * table (usually the first one); a file with DWARF but no line
         * tables (-g1 without lines, or types only) says no. */
        Dwarf_Die *cu = NULL;
        for (int i = 0; i < 16 && (cu = dwfl_module_nextcu(m, cu, &bias)); i++) {
            Dwarf_Lines *lines;
            size_t nlines;
            if (dwarf_getsrclines(cu, &lines, &nlines) == 0 && nlines > 0) {
                /* Where DWARF has lines it has the scopes we read inline
                 * chains from. */
                c->info.has_filenames = c->info.has_line_numbers = 1;
                c->info.has_inline_frames = 1;
                break;
            }
        }
    }
    pprofd__symbols_measure_end(s);
    c->info_done = 1;
}

void pprofd__symbols_module_info(Dwfl_Module *m, module_cache *c, pprofd__object_info *out)
{
    if (!c->info_done)
        compute_info(m, c);
    *out = c->info;
}

size_t pprofd__symbols_module_symbols(const module_cache *c)
{
    return c->nsyms;
}

size_t pprofd__symbols_modules_bytes(void)
{
    return module_bytes;
}

void pprofd__symbols_modules_forget(void)
{
    module_bytes = 0;
}
