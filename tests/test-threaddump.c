/* Thread dumps in-process: every thread of /proc answers with a stack
 * through its own function; a thread that blocks the signal is reported,
 * not waited for; one signalled anyway times out within the bound; its late
 * answer (an old generation) is dropped and does not corrupt the next
 * capture. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sampler/threaddump.h"
#include "sampler/threads.h"
#include "server/symbolize/symbols.h"
#include "tests/check.h"

#define NOINLINE __attribute__((noinline))

/* ThreadSanitizer defers asynchronous signals until the thread leaves the
 * intercepted call it is in: a thread blocked for good in read never takes
 * ours, and signals pending while blocked arrive when TSan pleases. Under
 * TSan the reader and the unblocked blocker may therefore time out; the
 * rest (the protocol, the races TSan looks for) is checked the same. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#else
#define UNDER_TSAN 0
#endif

static int pipe_fds[2];
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static atomic_int started, stop, unblock;
static volatile unsigned long sink;

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

NOINLINE static void blocked_in_read(void)
{
    char c;
    atomic_fetch_add(&started, 1);
    while (read(pipe_fds[0], &c, 1) < 0 && errno == EINTR)
        ;
}

NOINLINE static void blocked_in_cond_wait(void)
{
    pthread_mutex_lock(&mutex);
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop))
        pthread_cond_wait(&cond, &mutex);
    pthread_mutex_unlock(&mutex);
}

NOINLINE static void blocked_in_nanosleep(void)
{
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop))
        nap_ms(20);
}

NOINLINE static void busy_spinning(void)
{
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop))
        for (int i = 0; i < 100000; i++)
            sink += (unsigned long)i;
}

/* Blocks every signal until told to unblock, then sleeps like the rest. */
NOINLINE static void blocking_signals(void)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&unblock))
        nap_ms(5);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    while (!atomic_load(&stop))
        nap_ms(20);
}

static void *run(void *fn)
{
    ((void (*)(void))fn)();
    return NULL;
}

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

typedef struct name_search {
    const char *want;
    int found;
} name_search;

static void match_name(uintptr_t pc, const pprofd__frame *frames, int n, void *arg)
{
    (void)pc;
    name_search *s = arg;
    for (int i = 0; i < n; i++)
        s->found |= strcmp(frames[i].name, s->want) == 0;
}

static int stack_has(const pprofd__thread_snapshot *t, const char *function)
{
    name_search s = {function, 0};
    for (int i = 0; i < t->depth && !s.found; i++)
        pprofd__symbolize(t->pcs[i], match_name, &s);
    return s.found;
}

static const pprofd__thread_snapshot *find_tid(const pprofd__thread_dump *d, pid_t tid)
{
    for (int i = 0; i < d->count; i++)
        if (d->threads[i].tid == tid)
            return &d->threads[i];
    return NULL;
}

static int in_any_thread(const pprofd__thread_dump *d, const char *function)
{
    for (int i = 0; i < d->count; i++)
        if (stack_has(&d->threads[i], function))
            return 1;
    return 0;
}

static pid_t blocker_tid(const pprofd__thread_dump *d)
{
    for (int i = 0; i < d->count; i++)
        if (strcmp(d->threads[i].name, "blocker") == 0)
            return d->threads[i].tid;
    return 0;
}

/* threadcreate: the creations whose leaf (the call site) is in `function`. */
typedef struct creations {
    const char *function;
    int64_t counts[8];
    int n;
} creations;

static void count_creations(pprofd__stack *st, void *arg)
{
    creations *c = arg;
    name_search s = {c->function, 0};
    if (st->depth > 0)
        pprofd__symbolize(st->pcs[0], match_name, &s);
    if (s.found && c->n < 8)
        c->counts[c->n++] = atomic_load(&st->counters[PPROFD_THREADCREATE_COUNT]);
}

/* This test's own threads (the ones it named, besides the blocker) have
 * answered. Sanitizer runtimes add threads of their own that may block
 * every signal; those may say anything. */
static void check_ours_answered(const pprofd__thread_dump *d)
{
    const char *ours[] = {"reader", "waiter", "sleeper", "spinner"};
    int found = 0;
    for (int i = 0; i < d->count; i++)
        for (int j = 0; j < 4; j++)
            if (strcmp(d->threads[i].name, ours[j]) == 0) {
                found++;
                if (UNDER_TSAN && j == 0)
                    continue;
                CHECK_MSG(d->threads[i].outcome == PPROFD_DUMP_ANSWERED, "%s: %s",
                          ours[j], pprofd__dump_outcome_text(d->threads[i].outcome));
                CHECK(d->threads[i].depth > 0);
            }
    CHECK(found == 4);
}

typedef struct capture_job {
    pprofd__dump_options opts;
    pprofd__thread_dump dump;
    int rc;
} capture_job;

static void *capture_in_thread(void *arg)
{
    capture_job *job = arg;
    job->rc = pprofd__thread_dump_capture(&job->dump, &job->opts);
    return NULL;
}

int main(void)
{
    if (pprofd__thread_dump_signal() < 0)
        SKIP("no free real-time signal");
    CHECK(pipe(pipe_fds) == 0);
    void (*fns[])(void) = {blocked_in_read, blocked_in_cond_wait, blocked_in_nanosleep,
                           busy_spinning, blocking_signals};
    const char *names[] = {"reader", "waiter", "sleeper", "spinner", "blocker"};
    pthread_t threads[5];
    for (int i = 0; i < 5; i++) {
        CHECK(pthread_create(&threads[i], NULL, run, (void *)fns[i]) == 0);
        pthread_setname_np(threads[i], names[i]);
    }
    while (atomic_load(&started) < 5)
        nap_ms(1);
    nap_ms(100); /* let the blocked ones get into their system calls */

    /* 1. Everyone: the count of /proc, each in its function. */
    int tasks = count_tasks();
    pprofd__thread_dump d;
    CHECK(pprofd__thread_dump_capture(&d, NULL) == 0);
    CHECK(count_tasks() == tasks);
    CHECK_MSG(d.count == tasks, "dump %d threads, /proc %d", d.count, tasks);
    int self = 0;
    for (int i = 0; i < d.count; i++) {
        const pprofd__thread_snapshot *t = &d.threads[i];
        self += t->outcome == PPROFD_DUMP_SELF;
        if (t->outcome == PPROFD_DUMP_ANSWERED || t->outcome == PPROFD_DUMP_SELF)
            CHECK_MSG(t->depth > 0, "thread %d answered an empty stack", (int)t->tid);
    }
    CHECK(self == 1);
    check_ours_answered(&d);
    CHECK(UNDER_TSAN || in_any_thread(&d, "blocked_in_read"));
    CHECK(in_any_thread(&d, "blocked_in_cond_wait"));
    CHECK(in_any_thread(&d, "blocked_in_nanosleep"));
    CHECK(in_any_thread(&d, "busy_spinning"));
    CHECK(in_any_thread(&d, "main")); /* ourselves, unwound in place */
    pid_t blocker = blocker_tid(&d);
    CHECK(blocker > 0);
    CHECK(find_tid(&d, blocker)->outcome == PPROFD_DUMP_BLOCKED);
    CHECK(find_tid(&d, blocker)->depth == 0);
    pprofd__thread_dump_free(&d);

    /* 2. Signalled despite blocking, and waited for: no answer, and the
     * capture returns at its deadline (no time is asserted: it returns,
     * that is the point). */
    uint64_t stale_before = pprofd__thread_dump_stale_answers();
    pprofd__dump_options signal_anyway = {.timeout_ms = 200, .skip_blocked_check = 1};
    CHECK(pprofd__thread_dump_capture(&d, &signal_anyway) == 0);
    CHECK_MSG(find_tid(&d, blocker)->outcome == PPROFD_DUMP_TIMEOUT, "blocker: %s",
              pprofd__dump_outcome_text(find_tid(&d, blocker)->outcome));
    CHECK(find_tid(&d, blocker)->depth == 0);
    pprofd__thread_dump_free(&d);

    /* 3. Now two signals are pending at the blocker: the old one and one
     * of a capture in progress. Unblock it during that capture: the old
     * answer must be dropped as stale, the new one land in its own slot. */
    capture_job job = {.opts = {.timeout_ms = UNDER_TSAN ? 2000 : 30000,
                                .skip_blocked_check = 1}};
    pthread_t capturer;
    CHECK(pthread_create(&capturer, NULL, capture_in_thread, &job) == 0);
    nap_ms(200);
    atomic_store(&unblock, 1);
    CHECK(pthread_join(capturer, NULL) == 0);
    CHECK(job.rc == 0);
    const pprofd__thread_snapshot *b = find_tid(&job.dump, blocker);
    CHECK(b);
    if (!UNDER_TSAN) {
        CHECK_MSG(b->outcome == PPROFD_DUMP_ANSWERED, "blocker: %s",
                  pprofd__dump_outcome_text(b->outcome));
        CHECK(stack_has(b, "blocking_signals"));
        CHECK_MSG(pprofd__thread_dump_stale_answers() >= stale_before + 1,
                  "stale %llu -> %llu", (unsigned long long)stale_before,
                  (unsigned long long)pprofd__thread_dump_stale_answers());
    }
    pprofd__thread_dump_free(&job.dump);

    /* 4. And after all that, an ordinary capture: everyone answers. */
    CHECK(pprofd__thread_dump_capture(&d, NULL) == 0);
    check_ours_answered(&d);
    if (!UNDER_TSAN) {
        CHECK(find_tid(&d, blocker)->outcome == PPROFD_DUMP_ANSWERED);
        CHECK(stack_has(find_tid(&d, blocker), "blocking_signals"));
    }
    pprofd__thread_dump_free(&d);

    /* 5. A child of fork() has one thread, and dumps it. */
    if (!UNDER_TSAN) {
        pid_t child = fork();
        CHECK(child >= 0);
        if (child == 0) {
            pprofd__thread_dump cd;
            int ok = pprofd__thread_dump_capture(&cd, NULL) == 0 && cd.count == 1 &&
                     cd.threads[0].outcome == PPROFD_DUMP_SELF && cd.threads[0].depth > 0;
            _exit(ok ? 0 : 1);
        }
        int status;
        CHECK(waitpid(child, &status, 0) == child);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    }

    /* 6. threadcreate: main made 5 threads at one call site and 1 at
     * another. */
    creations made = {.function = "main"};
    pprofd__stacktab_foreach(pprofd__threadcreate_stacks(), count_creations, &made);
    CHECK_MSG(made.n == 2, "call sites in main: %d", made.n);
    CHECK((made.counts[0] == 5 && made.counts[1] == 1) ||
          (made.counts[0] == 1 && made.counts[1] == 5));
    atomic_store(&stop, 1);
    pthread_mutex_lock(&mutex);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mutex);
    CHECK(write(pipe_fds[1], "x", 1) == 1);
    for (int i = 0; i < 5; i++)
        CHECK(pthread_join(threads[i], NULL) == 0);
    CHECK(pprofd__threadcreate_total() >= 6);
    printf("ok\n");
    return 0;
}
