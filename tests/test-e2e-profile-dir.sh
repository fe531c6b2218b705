# PPROFD_PROFILE_DIR: a batch program that exits on its own (from main, or
# by exit() on another thread) leaves its CPU and heap profiles there, read
# by go tool pprof: the CPU profile splits 3:1 between its two burners as
# the program does (within 10 points) with main on the stacks, the heap
# profile holds its 32 MiB kept and 64 MiB churned within 10%. A directory
# it cannot write to costs one line on stderr, not the exit status.
source "$(dirname "$0")/lib.sh"

host=$BUILD/tests/host-batch
# cum_pct TOP NAME: the cum% pprof -top gives NAME, without the % sign.
cum_pct() {
    awk -v n="$2" '$6 == n { sub("%$", "", $5); print $5; found=1 } END { if (!found) print 0 }' <<<"$1"
}

for how in main exit-thread; do
    dir=$WORK/prof-$how
    mkdir -p "$dir"
    env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_PROFILE_DIR="$dir" PPROFD_MEM_RATE=4096 PPROFD_CPU_HZ=500 \
        "$host" $([ $how = main ] || echo exit-thread) >"$WORK/out" 2>&1 ||
        fail "$how: the program failed: $(cat "$WORK/out")"
    grep -q '^done' "$WORK/out" || fail "$how: the program did not run: $(cat "$WORK/out")"
    cpu=$(ls "$dir"/host-batch.*.cpu.pb.gz 2>/dev/null) || fail "$how: no CPU profile in $dir: $(ls "$dir")"
    heap=$(ls "$dir"/host-batch.*.heap.pb.gz 2>/dev/null) || fail "$how: no heap profile in $dir: $(ls "$dir")"
    ls "$dir" | grep -q tmp && fail "$how: a temporary file was left: $(ls "$dir")"

    top=$(pprof_top "$cpu" -nodefraction=0)
    a=$(cum_pct "$top" burn) b=$(cum_pct "$top" burn_less) m=$(cum_pct "$top" main)
    awk -v a="$a" -v b="$b" 'BEGIN { s = a + b; exit !(s > 80 && a / s * 100 > 65 && a / s * 100 < 85) }' ||
        fail "$how: burn $a% and burn_less $b% of the CPU, the program ran them 3:1: $top"
    awk -v m="$m" 'BEGIN { exit !(m >= 90) }' || fail "$how: main on $m% of the CPU stacks: $top"

    top=$(pprof_top "$heap" -unit=B -nodefraction=0 -sample_index=inuse_space)
    got=$(cum_bytes "$top" keep)
    within "$got" $((32 << 20)) 10 || fail "$how: keep() kept 32 MiB, inuse_space says $got: $top"
    top=$(pprof_top "$heap" -unit=B -nodefraction=0 -sample_index=alloc_space)
    got=$(cum_bytes "$top" churn)
    within "$got" $((64 << 20)) 10 || fail "$how: churn() allocated 64 MiB, alloc_space says $got"
    pass "$how: CPU (burn $a%, burn_less $b%, main $m%) and heap profiles written at exit"
done

env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_PROFILE_DIR=/nonexistent/dir "$host" >"$WORK/out" 2>"$WORK/err" ||
    fail "an unwritable directory changed the exit status: $(cat "$WORK/err")"
[ "$(grep -c pprofd "$WORK/err")" -le 2 ] && grep -q '/nonexistent/dir' "$WORK/err" ||
    fail "an unwritable directory: expected a line per profile, got: $(cat "$WORK/err")"
pass "an unwritable directory: exit 0, and $(wc -l <"$WORK/err") lines saying why"

# Linked (libpprofd.a) instead of preloaded: a program that starts its own
# server writes the same pair when it exits.
mkdir -p "$WORK/linked"
start_server env PPROFD_ADDR=127.0.0.1:0 PPROFD_PROFILE_DIR="$WORK/linked" "$BUILD/tests/host-heap_sites_linked"
wait_for_output '^ready$'
stop_server || fail "the linked host did not exit cleanly"
for kind in cpu heap; do
    f=$(ls "$WORK"/linked/host-heap_sites_linked.*.$kind.pb.gz 2>/dev/null) || fail "linked: no $kind profile"
    pprof_top "$f" >/dev/null
done
pass "linked: both profiles written at exit and read by go tool pprof"
