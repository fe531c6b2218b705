/* The heap sampler's stack walk by learnt frame rules against libunwind's
 * own walk, through frames built without frame pointers (tests/unwind/):
 * one that leaves the frame pointer alone, one that uses it as a general
 * register, one sized at run time, one that realigns the stack. Wherever
 * the rules answer, they must give exactly libunwind's stack; they must
 * answer for every frame shape but the realigned one; and the realigned
 * one must never give a wrong stack, whatever the alignment it meets. */
#include <alloca.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sampler/unwind.h"
#include "tests/check.h"
#include "tests/unwind/frames.h"

#define MAX 80

static int by_rules, fallbacks;
static uintptr_t last_return; /* a return address with a learnt rule */
static int kinds_seen[6];

__attribute__((noinline)) static uint64_t probe(uint64_t x)
{
    uintptr_t lib[MAX];
    int n1 = pprofd__unwind_here(lib, MAX, 0); /* lib[0]: the call site in probe */
    uintptr_t hi = pprofd__unwind_learn();
    const uintptr_t *f = __builtin_frame_address(0);
    uintptr_t rules[MAX];
    int unknown = 0;
    int n2 = pprofd__unwind_by_rules(f[1], (uintptr_t)(f + 2), f[0], hi, rules, MAX, &unknown);
    CHECK_MSG(n1 > 4, "libunwind found %d frames", n1);
    for (int i = 1; i < n1; i++)
        kinds_seen[pprofd__unwind_rule_kind(lib[i] + 1)]++;
    last_return = lib[2] + 1;
    if (n2 == 0) {
        CHECK_MSG(!unknown, "a frame has no rule right after learning");
        fallbacks++;
        return x;
    }
    by_rules++;
    CHECK_MSG(n2 == n1 - 1, "rules: %d frames, libunwind: %d", n2, n1 - 1);
    for (int i = 0; i < n2; i++)
        CHECK_MSG(rules[i] == lib[i + 1], "frame %d: rules %#lx, libunwind %#lx", i,
                  (unsigned long)rules[i], (unsigned long)lib[i + 1]);
    return x + 1;
}

static uint64_t to_probe(uint64_t x) { return probe(x) + 1; }
static uint64_t to_plain(uint64_t x) { return frame_plain(to_probe, x) + 1; }
static uint64_t to_pressure(uint64_t x) { return frame_pressure(to_plain, x) + 1; }
static uint64_t to_vla(uint64_t x) { return frame_vla(to_pressure, x) + 1; }
static uint64_t to_realigned(uint64_t x) { return frame_realigned(to_pressure, x) + 1; }

/* Calls f with the stack moved down by `shift` bytes, so frames above
 * meet every alignment. */
__attribute__((noinline)) static uint64_t shifted(uint64_t (*f)(uint64_t), uint64_t x,
                                                  size_t shift)
{
    volatile char *pad = alloca(shift + 1);
    pad[0] = 0;
    return f(x) + (uint64_t)pad[0];
}

int main(void)
{
    pprofd__unwind_warm_up();
    for (uint64_t i = 0; i < 200; i++)
        shifted(to_vla, i, (size_t)(i % 8) * 8);
    CHECK_MSG(fallbacks == 0, "%d of 200 walks without a realigned frame fell back", fallbacks);
    int plain = by_rules;
    for (uint64_t i = 0; i < 200; i++)
        shifted(to_realigned, i, (size_t)(i % 8) * 8);
    printf("test-unwind: %d walks by rules, %d fell back; rules seen: fp %d, untouched %d, "
           "saved %d, end %d, unruly %d\n",
           by_rules, fallbacks, kinds_seen[1], kinds_seen[2], kinds_seen[3], kinds_seen[4],
           kinds_seen[5]);
    CHECK_MSG(plain == 200, "only %d of 200 plain walks by rules", plain);
    CHECK_MSG(kinds_seen[2] > 0 && kinds_seen[3] > 0,
              "the frames did not exercise the untouched and saved rules");

    /* dlclose: other code may come to live at the closed object's
     * addresses, so every rule is forgotten. */
    CHECK(pprofd__unwind_rule_kind(last_return) != 0);
    void *lib = dlopen("libm.so.6", RTLD_NOW);
    CHECK(lib && dlclose(lib) == 0);
#ifndef PPROFD_NO_INTERPOSE /* the sanitizers interpose dlclose themselves */
    CHECK_MSG(pprofd__unwind_rule_kind(last_return) == 0, "a rule survived dlclose");
#endif
    printf("test-unwind: ok\n");
    return 0;
}
