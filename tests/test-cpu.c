/* The CPU sampler without HTTP: attribution, totals against the kernel's
 * accounting, concurrent readers, threads coming and going, the setitimer
 * fallback and a host that owns SIGPROF. Workloads run for a fixed amount
 * of CPU time, not wall time, so a loaded machine slows the test but does
 * not thin the samples. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sampler/config.h"
#include "sampler/cpu.h"
#include "sampler/threads.h"
#include "tests/check.h"

/* Atomic: several workers store their results here (TSan builds). */
static _Atomic uint64_t sink;

#define SPIN(x, n)                                                                    \
    for (int i_ = 0; i_ < (n); i_++)                                                  \
        x = x * 6364136223846793005ull + 1442695040888963407ull;

/* Each in a section of its own: a leaf pc is attributed by address range
 * (__start_/__stop_ symbols), with no symbolizer involved. */
__attribute__((noipa, section("pprofd_test_three"))) uint64_t three_quarters(uint64_t x)
{
    SPIN(x, 60000)
    return x;
}

__attribute__((noipa, section("pprofd_test_one"))) uint64_t one_quarter(uint64_t x)
{
    SPIN(x, 20000)
    return x ^ 1;
}

extern const char __start_pprofd_test_three[], __stop_pprofd_test_three[];
extern const char __start_pprofd_test_one[], __stop_pprofd_test_one[];

/* Profile CPU against getrusage: within 10%, as the issue asks. Sanitizer
 * builds run threads of their own (TSan's background thread) and TSan
 * defers signals to its own safe points, which blurs both sides a little. */
#ifdef PPROFD_NO_INTERPOSE
#define TOTALS_TOLERANCE 0.2
#define ATTRIBUTION_POINTS 7
#else
#define TOTALS_TOLERANCE 0.1
#define ATTRIBUTION_POINTS 4
#endif

static int64_t thread_cpu_nanos(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t process_cpu_nanos(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* ---- workers ---- */

typedef struct work {
    int64_t cpu_nanos; /* how much CPU this thread burns */
    int ratio;         /* 1: three_quarters/one_quarter; 0: plain spin */
    /* With ratio: the CPU time each function really took, every thread's.
     * By iterations it is 3:1, but how long an iteration takes depends on
     * code generation (an unoptimized sanitizer build is near 70:30 or
     * 80:20 as the code's alignment falls), so the test measures it. */
    _Atomic int64_t three_nanos, one_nanos;
} work;

static void *burn(void *arg)
{
    work *w = arg;
    int64_t t0 = thread_cpu_nanos();
    uint64_t x = 1;
    while (thread_cpu_nanos() - t0 < w->cpu_nanos) {
        if (w->ratio) {
            int64_t a = thread_cpu_nanos();
            x = three_quarters(x);
            int64_t b = thread_cpu_nanos();
            x = one_quarter(x);
            int64_t c = thread_cpu_nanos();
            atomic_fetch_add(&w->three_nanos, b - a);
            atomic_fetch_add(&w->one_nanos, c - b);
        } else {
            SPIN(x, 20000)
        }
    }
    sink = x;
    return NULL;
}

static void *do_nothing(void *arg)
{
    return arg;
}

static void run_threads(int n, work *w)
{
    pthread_t t[16];
    for (int i = 0; i < n; i++)
        CHECK(pthread_create(&t[i], NULL, burn, w) == 0);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* ---- collecting ---- */

typedef struct tally {
    int64_t samples, nanos, three, one;
} tally;

static void count(const uintptr_t *pcs, int depth, uint32_t labels, int64_t samples,
                  int64_t nanos, void *arg)
{
    (void)labels;
    tally *t = arg;
    t->samples += samples;
    t->nanos += nanos;
    if (depth > 0 && pcs[0] >= (uintptr_t)__start_pprofd_test_three &&
        pcs[0] < (uintptr_t)__stop_pprofd_test_three)
        t->three += samples;
    if (depth > 0 && pcs[0] >= (uintptr_t)__start_pprofd_test_one &&
        pcs[0] < (uintptr_t)__stop_pprofd_test_one)
        t->one += samples;
}

static tally collect(pprofd__cpu_reader *r, pprofd__cpu_window *w)
{
    tally t = {0};
    pprofd__cpu_collect(r, count, &t, w);
    return t;
}

static pprofd__cpu_reader *open_reader(int hz)
{
    char why[256] = "";
    pprofd__cpu_reader *r = NULL;
    int rc = pprofd__cpu_open(hz, &r, why, sizeof why);
    CHECK_MSG(rc == 0, "open: %d %s", rc, why);
    return r;
}

static int proc_timers(void)
{
    FILE *f = fopen("/proc/self/timers", "r");
    if (!f)
        return -1;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strncmp(line, "ID:", 3) == 0;
    fclose(f);
    return n;
}

static void check_no_timers(const char *when)
{
    CHECK_MSG(pprofd__cpu_timers_live() == 0, "%s: %d timers held", when,
              pprofd__cpu_timers_live());
    int n = proc_timers();
    CHECK_MSG(n <= 0, "%s: /proc/self/timers lists %d", when, n);
}

/* ---- tests ---- */

/* About 3/4 of the work in one function, 1/4 in another, on two threads:
 * 6 s of CPU at 250 Hz (the kernel checks CPU timers at its 4 ms tick, so at
 * most 250 observations per CPU-second), ~1500 samples: a binomial standard
 * deviation of 1.1 points, so the +-4 bound around the measured split is
 * 3.6 of them (+-7 in sanitizer builds: TSan delivers a signal at its own
 * next safe point, not where it struck). */
static void test_attribution(void)
{
    pprofd__cpu_reader *r = open_reader(250);
    work w = {.cpu_nanos = 3000000000, .ratio = 1};
    run_threads(2, &w);
    pprofd__cpu_window win;
    tally t = collect(r, &win);
    pprofd__cpu_close(r);
    double pct = 100.0 * (double)t.three / (double)(t.three + t.one);
    double want = 100.0 * (double)w.three_nanos / (double)(w.three_nanos + w.one_nanos);
    printf("attribution: three_quarters %.1f%% of %lld samples (%lld in neither), %.1f%% of the "
           "CPU time\n",
           pct, (long long)(t.three + t.one), (long long)(t.samples - t.three - t.one), want);
    CHECK_MSG(t.three + t.one > 1000, "only %lld samples", (long long)(t.three + t.one));
    CHECK_MSG(want > 60 && want < 90, "the workload's split is %.1f%%: not a test of attribution",
              want);
    CHECK_MSG(pct >= want - ATTRIBUTION_POINTS && pct <= want + ATTRIBUTION_POINTS,
              "three_quarters has %.1f%%, want %.1f +- %d", pct, want, ATTRIBUTION_POINTS);
    check_no_timers("after attribution");
}

/* Several busy threads: the profile's CPU matches getrusage over the
 * window. */
static void test_totals(void)
{
    int64_t before = process_cpu_nanos();
    pprofd__cpu_reader *r = open_reader(100);
    work w = {.cpu_nanos = 300000000, .ratio = 0};
    run_threads(4, &w);
    pprofd__cpu_window win;
    tally t = collect(r, &win);
    int64_t used = process_cpu_nanos() - before;
    pprofd__cpu_close(r);
    double ratio = (double)t.nanos / (double)used;
    printf("totals: profile %.3f s, getrusage %.3f s (%.1f%%), mechanism %s, %d failures\n",
           (double)t.nanos / 1e9, (double)used / 1e9, 100 * ratio, win.mechanism,
           win.timer_failures);
    CHECK(strcmp(win.mechanism, "timer_create") == 0);
    CHECK(win.lost_samples == 0);
    CHECK(t.nanos == t.samples * win.period_nanos);
    CHECK_MSG(ratio >= 1 - TOTALS_TOLERANCE && ratio <= 1 + TOTALS_TOLERANCE,
              "profile has %.1f%% of the CPU used", 100 * ratio);
    check_no_timers("after totals");
}

/* Threads that were running before the window opened (armed from the
 * reader's thread, not by the start hook) and never enter the kernel. */
static _Atomic int spinning;

static void *spin_until_told(void *arg)
{
    (void)arg;
    uint64_t x = 1;
    while (atomic_load_explicit(&spinning, memory_order_relaxed))
        SPIN(x, 1000)
    sink = x;
    return NULL;
}

static void test_threads_running_before(void)
{
    pthread_t t[3];
    atomic_store(&spinning, 1);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, spin_until_told, NULL) == 0);
    usleep(100000);
    int64_t before = process_cpu_nanos();
    pprofd__cpu_reader *r = open_reader(250);
    /* About 1 s of CPU, however loaded the machine. */
    while (process_cpu_nanos() - before < 1000000000) {
        usleep(50000);
        pprofd__cpu_poll(r); /* as the server does, once a second */
    }
    pprofd__cpu_window win;
    tally t_ = collect(r, &win);
    int64_t used = process_cpu_nanos() - before;
    pprofd__cpu_close(r);
    atomic_store(&spinning, 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    double ratio = (double)t_.nanos / (double)used;
    printf("running before: profile %.3f s, getrusage %.3f s (%.1f%%)\n", t_.nanos / 1e9,
           used / 1e9, 100 * ratio);
    CHECK_MSG(ratio >= 1 - TOTALS_TOLERANCE && ratio <= 1 + TOTALS_TOLERANCE,
              "profile has %.1f%% of the CPU used", 100 * ratio);
    check_no_timers("after threads running before");
}

/* Two readers with overlapping windows: each sees its own. */
static void test_concurrent_readers(void)
{
    int64_t t0 = process_cpu_nanos();
    pprofd__cpu_reader *a = open_reader(100);
    work w = {.cpu_nanos = 300000000, .ratio = 0};
    run_threads(2, &w);
    int64_t t1 = process_cpu_nanos();
    pprofd__cpu_reader *b = open_reader(100);
    char why[256] = "";
    pprofd__cpu_reader *c = NULL;
    CHECK(pprofd__cpu_open(250, &c, why, sizeof why) == -EBUSY && c == NULL);
    CHECK_MSG(strstr(why, "100 Hz"), "%s", why);
    run_threads(2, &w);
    pprofd__cpu_window win;
    tally tb = collect(b, &win);
    int64_t t2 = process_cpu_nanos();
    pprofd__cpu_close(b);
    CHECK(pprofd__cpu_timers_live() > 0); /* a still runs */
    run_threads(2, &w);
    tally ta = collect(a, &win);
    int64_t t3 = process_cpu_nanos();
    pprofd__cpu_close(a);
    double ra = (double)ta.nanos / (double)(t3 - t0), rb = (double)tb.nanos / (double)(t2 - t1);
    printf("concurrent: a %.3f s of %.3f, b %.3f s of %.3f\n", ta.nanos / 1e9, (t3 - t0) / 1e9,
           tb.nanos / 1e9, (t2 - t1) / 1e9);
    CHECK_MSG(ra >= 0.85 && ra <= 1.15, "reader a has %.1f%%", 100 * ra);
    CHECK_MSG(rb >= 0.85 && rb <= 1.15, "reader b has %.1f%%", 100 * rb);
    check_no_timers("after concurrent readers");
}

/* Threads created and exiting all through a window: their timers come and
 * go with them, none is left. A thread sweeps without pause all along (the
 * server's poll, once a second, made far more frequent), so that sweeps
 * meet threads at every point of their exit: a timer armed for a thread
 * past its exit hook (which deleted its timer) is still there when
 * pthread_join returns, as nothing in the thread deletes it any more. Like
 * many hosts' threads, these run a thread-key destructor after the exit
 * hooks, which lengthens that part of their exit. */
static pthread_key_t churn_key;
static _Atomic int sweeping;

typedef struct churn_arg {
    work *w;
    _Atomic pid_t tid;
} churn_arg;

static void churn_destructor(void *value)
{
    uint64_t x = (uintptr_t)value;
    SPIN(x, 5000)
    sink = x;
}

static void *churn(void *arg)
{
    churn_arg *a = arg;
    atomic_store(&a->tid, gettid());
    CHECK(pthread_setspecific(churn_key, (void *)1) == 0);
    return burn(a->w);
}

static void *sweep_all_along(void *arg)
{
    /* Yielding between sweeps lets the hooks waiting for the profiler's
     * lock have it now and then. */
    while (atomic_load(&sweeping)) {
        pprofd__cpu_poll(arg);
        sched_yield();
    }
    return NULL;
}

static void test_thread_churn(void)
{
    CHECK(pthread_key_create(&churn_key, churn_destructor) == 0);
    /* A runtime's threads started at the first pthread_create (TSan's
     * background thread) are to be counted at the start, not later. */
    pthread_t first;
    CHECK(pthread_create(&first, NULL, do_nothing, NULL) == 0);
    pthread_join(first, NULL);
    pprofd__cpu_reader *r = open_reader(250);
    int base = pprofd__cpu_timers_live();
    atomic_store(&sweeping, 1);
    pthread_t sweeper;
    CHECK(pthread_create(&sweeper, NULL, sweep_all_along, r) == 0);
    work w = {.cpu_nanos = 200000, .ratio = 0};
    for (int round = 0; round < 400; round++) {
        pthread_t t[4];
        churn_arg a[4];
        for (int i = 0; i < 4; i++) {
            a[i].w = &w;
            atomic_store(&a[i].tid, 0);
            CHECK(pthread_create(&t[i], NULL, churn, &a[i]) == 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            pid_t tid = atomic_load(&a[i].tid);
            CHECK_MSG(!pprofd__cpu_has_timer(tid), "round %d: thread %d, joined, holds a timer",
                      round, (int)tid);
        }
    }
    atomic_store(&sweeping, 0);
    pthread_join(sweeper, NULL);
    /* Every thread of the rounds has exited, and the sweeper: only the
     * threads there at the start hold timers. */
    pprofd__cpu_poll(r);
    CHECK_MSG(pprofd__cpu_timers_live() <= base, "%d timers, %d at the start",
              pprofd__cpu_timers_live(), base);
    pprofd__cpu_window win;
    tally t = collect(r, &win);
    pprofd__cpu_close(r);
    pthread_key_delete(churn_key);
    printf("churn: 1600 threads, %lld samples, %d timers at the start\n", (long long)t.samples,
           base);
    CHECK(t.samples > 0);
    check_no_timers("after thread churn");
}

/* ---- a thread held on its way out ---- */

/* Where a thread is held: in an exit hook of its own, after the CPU
 * profiler's (its timer deleted, still registered, marked exiting); or in a
 * thread-key destructor, which runs after every exit hook (unregistered).
 * Either way the kernel still lists it in /proc/self/task. */
typedef enum { HOLD_IN_EXIT_HOOK, HOLD_IN_KEY_DESTRUCTOR } hold_where;

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int hold_state; /* 0 running, 1 held, 2 let go; hold_lock */
static pid_t held_tid; /* hold_lock */
static _Atomic pid_t hold_in_hook; /* the thread the exit hook holds */
static pthread_key_t hold_key;

static void hold_here(void)
{
    pthread_mutex_lock(&hold_lock);
    hold_state = 1;
    pthread_cond_broadcast(&hold_cond);
    while (hold_state != 2)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
}

static void hold_exit_hook(pid_t tid)
{
    if (tid == atomic_load(&hold_in_hook))
        hold_here();
}

static void hold_key_destructor(void *value)
{
    (void)value;
    hold_here();
}

static void *held_thread(void *arg)
{
    hold_where where = (hold_where)(intptr_t)arg;
    pid_t tid = gettid();
    pthread_mutex_lock(&hold_lock);
    held_tid = tid;
    pthread_mutex_unlock(&hold_lock);
    if (where == HOLD_IN_EXIT_HOOK)
        atomic_store(&hold_in_hook, tid);
    else
        CHECK(pthread_setspecific(hold_key, (void *)1) == 0);
    return NULL;
}

/* Start a thread and wait until it is held on its way out; its tid. */
static pid_t hold_thread(hold_where where, pthread_t *t)
{
    pthread_mutex_lock(&hold_lock);
    hold_state = 0;
    pthread_mutex_unlock(&hold_lock);
    CHECK(pthread_create(t, NULL, held_thread, (void *)(intptr_t)where) == 0);
    pthread_mutex_lock(&hold_lock);
    while (hold_state != 1)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pid_t tid = held_tid;
    pthread_mutex_unlock(&hold_lock);
    return tid;
}

static void let_go(pthread_t t)
{
    pthread_mutex_lock(&hold_lock);
    hold_state = 2;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
    pthread_join(t, NULL);
    atomic_store(&hold_in_hook, 0);
}

/* A thread past the profiler's exit hook (which deleted its timer) but
 * still listed in /proc/self/task: a sweep, by poll or by the start of a
 * profile, must not arm a timer for it: nothing would delete that timer
 * until a later sweep. Deterministic: the thread is held there while the
 * sweep runs. */
static void test_exiting_thread_not_rearmed(hold_where where, int start_while_held)
{
    const char *name = where == HOLD_IN_EXIT_HOOK ? "in an exit hook" : "in a key destructor";
    pprofd__cpu_reader *r = start_while_held ? NULL : open_reader(250);
    pthread_t t;
    pid_t tid = hold_thread(where, &t);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)tid);
    CHECK_MSG(access(path, F_OK) == 0, "%s: thread %d is not listed", name, (int)tid);
    if (r) {
        CHECK_MSG(!pprofd__cpu_has_timer(tid), "%s: the exit hook left a timer", name);
        pprofd__cpu_poll(r);
    } else {
        r = open_reader(250);
    }
    CHECK_MSG(!pprofd__cpu_has_timer(tid), "%s, %s: a timer was armed for thread %d", name,
              start_while_held ? "profile started" : "poll", (int)tid);
    let_go(t);
    /* Joined, perhaps still listed: the same. */
    pprofd__cpu_poll(r);
    CHECK_MSG(!pprofd__cpu_has_timer(tid), "%s, joined: a timer was armed for thread %d", name,
              (int)tid);
    pprofd__cpu_close(r);
    check_no_timers("after a thread held on its way out");
}

/* A thread that did not come through our pthread_create (made by libc's
 * directly) still gets a timer from the sweep: leaving out the exiting
 * does not leave out threads we know only from /proc. */
typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static void *foreign_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&hold_lock);
    held_tid = gettid();
    hold_state = 1;
    pthread_cond_broadcast(&hold_cond);
    while (hold_state != 2)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
    return NULL;
}

static void test_foreign_thread_timed(void)
{
    create_fn real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    CHECK(real != NULL);
    pprofd__cpu_reader *r = open_reader(250);
    long created = pprofd__threadcreate_total();
    pthread_mutex_lock(&hold_lock);
    hold_state = 0;
    pthread_mutex_unlock(&hold_lock);
    pthread_t t;
    CHECK(real(&t, NULL, foreign_thread, NULL) == 0);
    pthread_mutex_lock(&hold_lock);
    while (hold_state != 1)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pid_t tid = held_tid;
    pthread_mutex_unlock(&hold_lock);
    CHECK(pprofd__threadcreate_total() == created); /* not ours */
    pprofd__cpu_poll(r);
    CHECK_MSG(pprofd__cpu_has_timer(tid), "thread %d from libc's pthread_create has no timer",
              (int)tid);
    let_go(t);
    pprofd__cpu_close(r);
    check_no_timers("after a foreign thread");
    printf("foreign thread: timed by the sweep\n");
}

static void test_setitimer_fallback(void)
{
    pprofd__config_for_tests()->cpu_setitimer = 1;
    pprofd__cpu_reader *r = open_reader(100);
    work w = {.cpu_nanos = 300000000, .ratio = 0};
    run_threads(1, &w);
    pprofd__cpu_window win;
    tally t = collect(r, &win);
    pprofd__cpu_close(r);
    pprofd__config_for_tests()->cpu_setitimer = 0;
    printf("setitimer: %lld samples\n", (long long)t.samples);
    CHECK(strcmp(win.mechanism, "setitimer") == 0);
    CHECK(t.samples > 0);
    struct itimerval it;
    CHECK(getitimer(ITIMER_PROF, &it) == 0 && it.it_value.tv_sec == 0 &&
          it.it_value.tv_usec == 0);
}

static void host_handler(int sig)
{
    (void)sig;
}

static void test_host_owns_sigprof(void)
{
    signal(SIGPROF, host_handler);
    char why[256] = "";
    pprofd__cpu_reader *r = NULL;
    CHECK(pprofd__cpu_open(100, &r, why, sizeof why) == -EBUSY && r == NULL);
    CHECK_MSG(strstr(why, "SIGPROF"), "%s", why);
    struct sigaction sa;
    sigaction(SIGPROF, NULL, &sa);
    CHECK(sa.sa_handler == host_handler); /* left alone */
    check_no_timers("after refusing");
}

/* With arguments, only the cases named (e.g. test-cpu churn held): for
 * running one many times. A name stands for the cases it begins ("held"
 * for every held-*), and a group for its cases. */
static int wanted(int argc, char **argv, const char *name)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++) {
        size_t a = strlen(argv[i]), b = strlen(name);
        if (strncmp(name, argv[i], a < b ? a : b) == 0)
            return 1;
    }
    return 0;
}

static void test_threads_held_on_exit(int argc, char **argv)
{
    CHECK(pthread_key_create(&hold_key, hold_key_destructor) == 0);
    CHECK(pprofd__threads_add_hooks(NULL, hold_exit_hook) == 0);
    /* Exit hooks run only in threads made by our pthread_create. */
    long created = pprofd__threadcreate_total();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, do_nothing, NULL) == 0);
    pthread_join(t, NULL);
    int hooks = pprofd__threadcreate_total() > created;
    int n = 0;
    if (wanted(argc, argv, "held-key-poll") && ++n)
        test_exiting_thread_not_rearmed(HOLD_IN_KEY_DESTRUCTOR, 0);
    if (hooks && wanted(argc, argv, "held-hook-poll") && ++n)
        test_exiting_thread_not_rearmed(HOLD_IN_EXIT_HOOK, 0);
    if (wanted(argc, argv, "held-key-start") && ++n)
        test_exiting_thread_not_rearmed(HOLD_IN_KEY_DESTRUCTOR, 1);
    if (hooks && wanted(argc, argv, "held-hook-start") && ++n)
        test_exiting_thread_not_rearmed(HOLD_IN_EXIT_HOOK, 1);
    printf("held on exit: no timer re-armed in %d cases%s\n", n,
           hooks ? "" : " (pthread_create not interposed: no exit hooks)");
}

int main(int argc, char **argv)
{
    char why[256];
    pprofd__cpu_reader *r = NULL;
    CHECK(pprofd__cpu_open(0, &r, why, sizeof why) == -EINVAL);
    CHECK(pprofd__cpu_open(1001, &r, why, sizeof why) == -EINVAL);
    if (wanted(argc, argv, "before"))
        test_threads_running_before();
    if (wanted(argc, argv, "totals"))
        test_totals();
    if (wanted(argc, argv, "attribution"))
        test_attribution();
    if (wanted(argc, argv, "concurrent"))
        test_concurrent_readers();
    if (wanted(argc, argv, "churn"))
        test_thread_churn();
    if (wanted(argc, argv, "held"))
        test_threads_held_on_exit(argc, argv);
    if (wanted(argc, argv, "foreign"))
        test_foreign_thread_timed();
    if (wanted(argc, argv, "setitimer"))
        test_setitimer_fallback();
    if (wanted(argc, argv, "host"))
        test_host_owns_sigprof();
    printf("test-cpu: ok\n");
    return 0;
}
