/* The symbolizer on this very process: static functions by name with
 * file:line, an always_inline helper as its own frame under its caller
 * (with the caller's line), C++ names demangled once a C++ runtime is
 * loaded (dlopen after start), per-object flags, the per-address cache and
 * its memory. Test programs are built RelWithDebInfo (-O2 -g). */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "server/symbolize/symbols.h"
#include "tests/check.h"

static int helper_line, caller_line;

/* The call site of its caller, as the unwinder stores it. */
__attribute__((noinline)) static uintptr_t call_site(void)
{
    uintptr_t pc = (uintptr_t)__builtin_return_address(0) - 1;
    __asm__ volatile("" ::: "memory");
    return pc;
}

static inline __attribute__((always_inline)) uintptr_t inlined_helper(void)
{
    helper_line = __LINE__; uintptr_t pc = call_site();
    return pc;
}

__attribute__((noinline)) static uintptr_t static_caller(void)
{
    caller_line = __LINE__; uintptr_t pc = inlined_helper();
    __asm__ volatile("" ::: "memory");
    return pc;
}

typedef struct result {
    int n;
    pprofd__frame frames[8];
    char names[8][128], systems[8][256], files[8][256];
} result;

static void copy_frames(uintptr_t pc, const pprofd__frame *frames, int n, void *arg)
{
    (void)pc;
    result *r = arg;
    r->n = n;
    for (int i = 0; i < n && i < 8; i++) {
        r->frames[i] = frames[i];
        snprintf(r->names[i], sizeof r->names[i], "%s", frames[i].name);
        snprintf(r->systems[i], sizeof r->systems[i], "%s", frames[i].system_name);
        snprintf(r->files[i], sizeof r->files[i], "%s", frames[i].file);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void check_inline_chain(void)
{
    uintptr_t pc = static_caller();
    result r = {0};
    pprofd__symbolize(pc, copy_frames, &r);
    CHECK_MSG(r.n == 2, "%d frames for the inlined call site", r.n);
    CHECK_MSG(strcmp(r.names[0], "inlined_helper") == 0, "innermost %s", r.names[0]);
    CHECK_MSG(strcmp(r.names[1], "static_caller") == 0, "outer %s", r.names[1]);
    CHECK_MSG(ends_with(r.files[0], "tests/test-symbols.c"), "file %s", r.files[0]);
    CHECK_MSG(ends_with(r.files[1], "tests/test-symbols.c"), "file %s", r.files[1]);
    CHECK_MSG(r.frames[0].line == helper_line, "helper line %lld, want %d",
              (long long)r.frames[0].line, helper_line);
    CHECK_MSG(r.frames[1].line == caller_line, "caller line %lld, want %d",
              (long long)r.frames[1].line, caller_line);
    CHECK(r.frames[1].start_line > 0 && r.frames[1].start_line < caller_line);

    /* A second lookup is served from the cache, identical. */
    pprofd__symbols_stats before, after;
    pprofd__symbols_get_stats(&before);
    result again = {0};
    pprofd__symbolize(pc, copy_frames, &again);
    pprofd__symbols_get_stats(&after);
    CHECK(after.lookups == before.lookups + 1 && after.misses == before.misses);
    CHECK(again.n == 2 && strcmp(again.names[1], "static_caller") == 0);
    CHECK(strcmp(again.files[0], r.files[0]) == 0 && again.frames[1].line == caller_line);
}

static void check_nothing_there(void)
{
    result r = {.n = -1};
    pprofd__symbolize(16, copy_frames, &r);
    CHECK_MSG(r.n == 0, "address 16 gave %d frames", r.n);
}

/* A C++ symbol from a library loaded now: the loader's counters make the
 * symbolizer re-read the mappings, and its __cxa_demangle becomes usable. */
static void check_dlopen_and_demangling(void)
{
    /* Sanitizer runtimes bring libstdc++ along: then it is not new. */
    void *already = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD);
    size_t before = pprofd__symbols_count();
    /* RTLD_LOCAL, as a plugin would: out of RTLD_DEFAULT's reach. */
    void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("test-symbols: no libstdc++.so.6, demangling unchecked\n");
        return;
    }
    /* std::logic_error::what() const */
    void *fn = dlsym(h, "_ZNKSt11logic_error4whatEv");
    CHECK(fn);
    result r = {0};
    pprofd__symbolize((uintptr_t)fn + 1, copy_frames, &r);
    CHECK_MSG(r.n >= 1, "nothing for a libstdc++ function");
    /* Identical code folding may give the address another C++ name: judge
     * the name against libstdc++'s own demangling of whatever it is. */
    const char *system = r.systems[r.n - 1];
    CHECK_MSG(strncmp(system, "_ZNK", 4) == 0, "system name %s", system);
    char *(*demangle)(const char *, char *, size_t *, int *) =
        (char *(*)(const char *, char *, size_t *, int *))dlsym(h, "__cxa_demangle");
    CHECK(demangle);
    int status;
    char *want = demangle(system, NULL, NULL, &status);
    CHECK(want && status == 0 && strstr(want, "::what() const"));
    CHECK_MSG(strcmp(r.names[r.n - 1], want) == 0, "name %s, want %s", r.names[r.n - 1], want);
    free(want);
    if (!already) /* a library loaded after start: its symbols joined */
        CHECK(pprofd__symbols_count() > before);
}

/* A library loaded and unloaded again: named while loaded, and its
 * addresses forgotten once gone (no stale answer from the cache). */
static void check_dlclose(void)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
    CHECK(n > 0);
    path[n] = 0;
    strcpy(strrchr(path, '/') + 1, "libsymplugin.so"); /* built beside this test */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK_MSG(h, "%s", dlerror());
    uintptr_t entry = (uintptr_t)dlsym(h, "plugin_entry");
    CHECK(entry);
    result r = {0};
    pprofd__symbolize(entry + 1, copy_frames, &r);
    CHECK_MSG(r.n >= 1 && strcmp(r.names[r.n - 1], "plugin_entry") == 0, "n %d", r.n);
    CHECK_MSG(strstr(r.files[r.n - 1], "sym_plugin.c"), "file %s", r.files[r.n - 1]);
    CHECK(dlclose(h) == 0);
    if (dlopen(path, RTLD_NOW | RTLD_NOLOAD)) {
        printf("test-symbols: libsymplugin.so stayed loaded, dlclose unchecked\n");
        return;
    }
    /* Unloads are noticed at the next cache miss (the loader is asked only
     * then; see symbols.c), which also forgets the library's addresses. */
    result miss;
    pprofd__symbolize(24, copy_frames, &miss);
    result gone = {.n = -1};
    pprofd__symbolize(entry + 1, copy_frames, &gone);
    CHECK_MSG(gone.n == 0 || strcmp(gone.names[gone.n - 1], "plugin_entry") != 0,
              "unloaded library still named: %d frames, %s", gone.n,
              gone.n > 0 ? gone.names[gone.n - 1] : "");
}

/* fork() while another thread is inside the symbolizer: the child must be
 * able to symbolize (no lock inherited held, no torn state followed). */
static atomic_int keep_busy;

static char exe_path[4096];

/* Cached addresses only: a miss may take the loader's lock, which glibc
 * does not reset in a fork child (see refresh_session in symbols.c); that
 * hazard is glibc's, and not what this checks. */
static void *busy_symbolizing(void *arg)
{
    (void)arg;
    uintptr_t base = (uintptr_t)busy_symbolizing;
    for (uintptr_t i = 0; atomic_load(&keep_busy); i++) {
        result r;
        pprofd__symbolize(base + (i % 64), copy_frames, &r);
        if (i % 64 == 63)
            pprofd__symbols_object_info(exe_path, &(pprofd__object_info){0});
    }
    return NULL;
}

static void check_fork(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    CHECK(n > 0);
    exe_path[n] = 0;
    for (uintptr_t i = 0; i < 64; i++) { /* warm the addresses the thread will use */
        result r;
        pprofd__symbolize((uintptr_t)busy_symbolizing + i, copy_frames, &r);
    }
    atomic_store(&keep_busy, 1);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, busy_symbolizing, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        usleep(2000);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            alarm(20); /* a lock inherited held would hang here: fail, not hang */
            result r = {0};
            pprofd__symbolize(static_caller(), copy_frames, &r);
            _exit(r.n == 2 && strcmp(r.names[1], "static_caller") == 0 ? 0 : 3);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %#x", i,
                  status);
    }
    atomic_store(&keep_busy, 0);
    pthread_join(t, NULL);
}

static void check_object_info(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = 0;
    pprofd__object_info info;
    pprofd__symbols_object_info(exe, &info);
    CHECK_MSG(info.has_functions && info.has_filenames && info.has_line_numbers &&
                  info.has_inline_frames,
              "flags of %s: %d %d %d %d", exe, info.has_functions, info.has_filenames,
              info.has_line_numbers, info.has_inline_frames);
    pprofd__symbols_object_info("/no/such/object.so", &info);
    CHECK(!info.has_functions && !info.has_filenames && !info.has_line_numbers &&
          !info.has_inline_frames);
}

/* Several server threads at once (run under TSan by test-sanitize): every
 * answer stays right while others fill the cache and read flags. */
static void *symbolize_a_lot(void *arg)
{
    uintptr_t pc = (uintptr_t)arg;
    for (int i = 0; i < 2000; i++) {
        result r = {0};
        uintptr_t addr = (i % 2) ? pc : (uintptr_t)symbolize_a_lot + (uintptr_t)(i % 64);
        pprofd__symbolize(addr, copy_frames, &r);
        CHECK(r.n >= 1);
        if (addr == pc)
            CHECK(r.n == 2 && strcmp(r.names[1], "static_caller") == 0);
        else
            CHECK_MSG(strcmp(r.names[r.n - 1], "symbolize_a_lot") == 0, "%s", r.names[r.n - 1]);
        if (i % 500 == 0) {
            pprofd__object_info info;
            pprofd__symbols_object_info("/proc/self/exe", &info);
            CHECK(pprofd__symbols_memory() > 0);
        }
    }
    return NULL;
}

static void check_threads(void)
{
    pthread_t t[4];
    uintptr_t pc = static_caller();
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, symbolize_a_lot, (void *)pc) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

int main(void)
{
    check_inline_chain();
    check_nothing_there();
    check_object_info();
    CHECK(pprofd__symbols_count() > 100);
    check_dlopen_and_demangling();
    check_dlclose();
    check_threads();
    check_fork();
    pprofd__symbols_stats st;
    pprofd__symbols_get_stats(&st);
    CHECK(st.own_bytes > 0 && pprofd__symbols_memory() >= st.own_bytes);
    printf("test-symbols: ok (%llu lookups, %llu misses, %zu bytes own, ~%zu bytes libdw)\n",
           (unsigned long long)st.lookups, (unsigned long long)st.misses, st.own_bytes,
           st.libdw_bytes);
    return 0;
}
