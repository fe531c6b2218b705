# The sampler's memory cap: with PPROFD_MEM_CAP barely above its fixed
# tables and a fine rate, samples are dropped, and both the profile (a
# comment and a [lost] sample, read by go tool pprof) and the index page say
# so; the host runs on unharmed. Without the cap nothing is dropped.
source "$(dirname "$0")/lib.sh"

LIB=$BUILD/libpprofd.so
wait_ready() {
    for _ in $(seq 1 600); do
        grep -qx ready "$SERVER_LOG" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || fail "host exited early"
        sleep 0.1
    done
    fail "host never ready"
}

# The fixed tables are 1.5 MiB (sampler/heap_sample.c's FIXED_BYTES); 256 KiB more
# holds the first stacks and shard tables, not all of them.
CAP=$(((3 << 19) + (256 << 10)))
start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=1024 \
    PPROFD_MEM_CAP=$CAP "$BUILD/tests/host-heap_sites"
wait_ready
fetch "$BASE/heap" "$WORK/heap.out"
raw=$(pprof_raw "$WORK/heap.out")
grep -qE '^Comments:|samples \(.*\) dropped since the start' <<<"$raw" || fail "no comment about drops: $raw"
grep -q "dropped since the start: the sampler.s memory reached its cap of $CAP bytes (PPROFD_MEM_CAP)" <<<"$raw" ||
    fail "drop comment: $(grep -i dropped <<<"$raw")"
fetch "$BASE/allocs" "$WORK/allocs.out"
top=$(pprof_top "$WORK/allocs.out" -nodefraction=0)
grep -qF '[lost]' <<<"$top" || fail "allocs has no [lost] sample: $top"
pass "over the cap: a comment and a [lost] sample in the profile"

fetch "$BASE/" "$WORK/index.html"
grep -qE '[1-9][0-9]* samples dropped \(memory cap reached' "$WORK/index.html" ||
    fail "index does not report the drops: $(grep -o 'pprofd 0.*' "$WORK/index.html")"
grep -q "of a $CAP-byte cap" "$WORK/index.html" || fail "index does not show the cap"
pass "the index page reports the cap and the drops"
stop_server || fail "host over the cap did not exit cleanly"

start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=1024 \
    "$BUILD/tests/host-heap_sites"
wait_ready
fetch "$BASE/heap" "$WORK/heap2.out"
pprof_raw "$WORK/heap2.out" | grep -q dropped && fail "drops under the default cap"
fetch "$BASE/" "$WORK/index2.html"
grep -q ' 0 samples dropped;' "$WORK/index2.html" || fail "index: drops under the default cap"
pass "default cap: nothing dropped"
stop_server || fail "host did not exit cleanly"
