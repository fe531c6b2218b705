/*
 * files — CPU and heap profiles written to files when the program exits,
 * for programs that do not live long enough to be asked over HTTP (batch
 * jobs, tests, command-line tools): gperftools' CPUPROFILE and HEAPPROFILE,
 * in pprof's own format.
 *
 * With PPROFD_PROFILE_DIR set, a constructor opens a CPU profile window
 * when the library loads, and a destructor, when the program exits
 * (returning from main or calling exit), closes it and writes
 *
 *     DIR/PROGRAM.PID.cpu.pb.gz    the CPU profile of the whole run
 *     DIR/PROGRAM.PID.heap.pb.gz   the heap profile at exit (inuse_space by
 *                                  default; alloc_space holds every sampled
 *                                  allocation of the run)
 *
 * each written to a temporary name and renamed, so a reader never sees half
 * a file. A program killed by a signal, or leaving by _exit, writes
 * nothing. A child made by fork without exec writes nothing either (its
 * parent's window is not its own); a program it execs, inheriting the
 * variable, writes its own pair. Failures print one line on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sampler/config.h"
#include "sampler/cpu.h"
#include "server/endpoints/endpoints.h"

extern char *program_invocation_short_name;

const char pprofd__files_linked = 1;

static pprofd__cpu_reader *window;
static long long window_start;
static pid_t owner;

/* Encode p (consumed) and write it to DIR/PROGRAM.PID.KIND.pb.gz. */
static void write_profile(const char *dir, const char *kind, pprofd__profile *p)
{
    if (!p) {
        fprintf(stderr, "pprofd: cannot build the %s profile: out of memory\n", kind);
        return;
    }
    size_t len;
    unsigned char *data = pprofd__profile_encode_gzip(p, &len);
    if (!data) {
        fprintf(stderr, "pprofd: cannot encode the %s profile: out of memory\n", kind);
        return;
    }
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s.%d.%s.pb.gz", dir, program_invocation_short_name,
             (int)getpid(), kind);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = fd < 0 ? errno : 0;
    for (size_t done = 0; !err && done < len;) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno != EINTR)
            err = errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (fd >= 0 && close(fd) < 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) < 0)
        err = errno;
    if (err) {
        fprintf(stderr, "pprofd: cannot write %s: %s\n", path, strerror(err));
        unlink(tmp);
    }
    free(data);
}

/* After the CPU timers' own constructor (cpu_timer.c, linked before this
 * file: constructors of one priority run in link order). */
__attribute__((constructor)) static void files_at_load(void)
{
    const pprofd__settings *c = pprofd__config();
    if (!c->profile_dir[0])
        return;
    owner = getpid();
    char why[256] = "";
    window_start = pprofd__now_nanos();
    if (pprofd__cpu_open(c->cpu_hz, &window, why, sizeof why) < 0) {
        fprintf(stderr, "pprofd: PPROFD_PROFILE_DIR: no CPU profile: %s\n", why);
        window = NULL;
    }
}

__attribute__((destructor)) static void files_at_exit(void)
{
    const pprofd__settings *c = pprofd__config();
    if (!c->profile_dir[0] || getpid() != owner)
        return;
    /* Both taken before either is encoded: symbolizing one allocates and
     * burns CPU, which is pprofd's, not the program's. */
    pprofd__profile *cpu = NULL;
    if (window) {
        pprofd__cpu_reader *r = window;
        window = NULL;
        cpu = pprofd__cpu_profile_build(r, window_start);
        if (!cpu)
            fprintf(stderr, "pprofd: cannot build the cpu profile: out of memory\n");
    }
    pprofd__profile *heap = pprofd__heap_profile_now("inuse_space");
    if (cpu)
        write_profile(c->profile_dir, "cpu", cpu);
    write_profile(c->profile_dir, "heap", heap);
}
