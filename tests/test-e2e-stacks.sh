# Whole stacks, as deep as gperftools': a -O2 -fomit-frame-pointer host
# whose hot path is in calloc/memalign/posix_memalign (which keep a frame
# pointer inside libpprofd while their caller has none) and that burns CPU
# at the bottom of a recursion 200 deep. At least 99% of the CPU samples
# must reach main (worker_main on the second thread), none may show
# pprofd's thread trampoline (dropped with the interposers' frames), and
# the deep ones must keep every one of the 200 frames. Samples of pprofd's own threads (labelled pprofd=server) start
# at start_thread and are left out.
source "$(dirname "$0")/lib.sh"

start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 \
    "$BUILD/tests/host-fomit_alloc"
wait_for_output '^ready$'
fetch "$BASE/profile?seconds=3" "$WORK/cpu.out"

# Per sample (pprof -traces block): its value, whether main is in it, and
# how many frames of deep() it holds.
go tool pprof -symbolize=none -traces -tagignore pprofd=server "$WORK/cpu.out" 2>"$WORK/pprof.err" |
    awk '
        function close_block() {
            if (value > 0) {
                total += value
                if (has_main) with_main += value
                if (bottom) { deep_total += value; if (deeps >= 200 && has_main) deep_whole += value }
            }
            value = 0; has_main = 0; deeps = 0; bottom = 0
        }
        function frame(name) {
            if (name == "main" || name == "worker_main") has_main = 1
            if (name == "pprofd__thread_start") own++
            if (name == "deep") deeps++
            if (name == "spin_at_bottom") bottom = 1
        }
        /^-----------\+/ { close_block(); next }
        /^ *[0-9.]+(ns|us|ms|s) / && value == 0 { value = $1 + 0; if (value == 0) value = 1; frame($2); next }
        NF && value > 0 { frame($1) }
        END { close_block(); printf "%d %d %d %d %d\n", total, with_main, deep_total, deep_whole, own + 0 }' \
    >"$WORK/counts" || fail "go tool pprof cannot read the profile: $(cat "$WORK/pprof.err")"
read -r total with_main deep_total deep_whole own <"$WORK/counts"
echo "samples: $total, reaching main: $with_main; at the recursion's bottom: $deep_total, all 200 frames and main: $deep_whole"
[ "$total" -gt 0 ] || fail "no CPU samples"
[ "$deep_total" -gt 0 ] || fail "no sample at the recursion's bottom: $(pprof_top "$WORK/cpu.out")"
awk -v a="$with_main" -v t="$total" 'BEGIN { exit !(a >= 0.99 * t) }' ||
    fail "only $with_main of $total sample values reach main: $(go tool pprof -symbolize=none -traces "$WORK/cpu.out" | head -60)"
[ "$deep_whole" = "$deep_total" ] ||
    fail "$((deep_total - deep_whole)) of $deep_total at the recursion's bottom lost frames (depth cap?)"
[ "$own" = 0 ] || fail "$own samples show pprofd's thread trampoline: $(
    go tool pprof -symbolize=none -traces -tagignore pprofd=server "$WORK/cpu.out" |
        awk '/^-----/ { if (b ~ /pprofd__thread_start/) print b; b = ""; next } { b = b "\n" $0 }')"
# The heap's stacks neither: the worker's allocations come from worker_main.
fetch "$BASE/heap" "$WORK/heap.out"
go tool pprof -symbolize=none -traces -tagignore pprofd=server -sample_index=alloc_space \
    "$WORK/heap.out" >"$WORK/heap.traces" 2>&1 || fail "go tool pprof: $(cat "$WORK/heap.traces")"
grep -q worker_main "$WORK/heap.traces" || fail "no heap sample from worker_main: $(head -40 "$WORK/heap.traces")"
if grep -qE '^ *([0-9.]+[kMG]?B +)?pprofd__thread_start$' "$WORK/heap.traces"; then
    fail "pprofd's thread trampoline in heap stacks: $(grep -E -B3 -A3 '^ *([0-9.]+[kMG]?B +)?pprofd__thread_start$' "$WORK/heap.traces")"
fi
stop_server || true
pass "every sample reaches main, the 200-deep recursion whole"
