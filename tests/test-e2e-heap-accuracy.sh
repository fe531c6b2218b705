# Heap accuracy through every allocation entry point, judged by go tool
# pprof over real HTTP: at PPROFD_MEM_RATE=4096 each site of heap_sites
# holding 12 MiB shows inuse_space within 10% of it, both with pprofd
# preloaded into the unmodified program and linked into it; a site that
# allocated and freed 100 MiB shows ~0 in use and its alloc_space within
# 10%. Then a delta profile sees only what changed during its interval, and
# debug=1 is the legacy text form, whose estimates go tool pprof reads as
# they are.
source "$(dirname "$0")/lib.sh"

LIB=$BUILD/libpprofd.so
SITE=$((12 << 20))
SITES="malloc_site calloc_site realloc_site reallocarray_site memalign_site aligned_alloc_site
       posix_memalign_site valloc_site pvalloc_site strdup_site"

check_sites() {
    local how=$1
    wait_for_output '^ready$'
    fetch "$BASE/heap" "$WORK/heap-$how.out"
    local top
    top=$(pprof_top "$WORK/heap-$how.out" -unit=B -nodefraction=0 -sample_index=inuse_space)
    for site in $SITES; do
        local got
        got=$(cum_bytes "$top" "$site")
        within "$got" "$SITE" 10 || fail "$how: $site holds $SITE bytes, inuse_space says $got"
    done
    pass "$how: every entry point's 12 MiB within 10% in inuse_space"

    local churn_inuse churn_alloc
    churn_inuse=$(cum_bytes "$top" churn_site)
    [ "$churn_inuse" -lt $((SITE / 100)) ] || fail "$how: churn_site freed all, in use $churn_inuse"
    top=$(pprof_top "$WORK/heap-$how.out" -unit=B -nodefraction=0 -sample_index=alloc_space)
    churn_alloc=$(cum_bytes "$top" churn_site)
    within "$churn_alloc" $(((100 << 20) / 100 * 100)) 10 ||
        fail "$how: churn_site allocated 100 MiB, alloc_space says $churn_alloc"
    pass "$how: churn_site ~0 in use ($churn_inuse), alloc_space $churn_alloc within 10%"
}

start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=4096 \
    "$BUILD/tests/host-heap_sites"
check_sites preloaded

# Delta: a 3-second window during which the host allocates and keeps 12 MiB
# more in delta_site, and nothing else changes.
curl -s -o "$WORK/delta.out" -D "$WORK/delta.headers" "$BASE/heap?seconds=3" &
curl_pid=$!
sleep 1
kill -USR1 "$SERVER_PID"
wait "$curl_pid" || fail "delta request failed"
grep -qi '^Content-Disposition: attachment; filename="heap-delta"' "$WORK/delta.headers" ||
    fail "delta file name: $(cat "$WORK/delta.headers")"
wait_for_output '^delta done$'
top=$(pprof_top "$WORK/delta.out" -unit=B -nodefraction=0 -sample_index=inuse_space)
within "$(cum_bytes "$top" delta_site)" "$SITE" 10 || fail "delta: delta_site not ~12 MiB: $top"
[ "$(cum_bytes "$top" malloc_site)" = 0 ] || fail "delta: malloc_site did not change, yet: $top"
pass "heap?seconds=3 shows only what changed"

headers=$(curl -s -D - -o "$WORK/allocs-delta.out" "$BASE/allocs?seconds=1")
grep -qi '^Content-Disposition: attachment; filename="allocs-delta"' <<<"$headers" ||
    fail "allocs delta file name: $headers"
pprof_raw "$WORK/allocs-delta.out" | grep -q '^alloc_objects/count alloc_space/bytes\[dflt\]' ||
    fail "allocs delta: sample types"
pass "allocs?seconds=1 is an allocs-delta profile"

for q in "seconds=0" "seconds=-2" "seconds=abc" "seconds=1&debug=1" "seconds=100000"; do
    [ "$(status "$BASE/heap?$q")" = 400 ] || fail "heap?$q is not 400"
    [ "$(status "$BASE/allocs?$q")" = 400 ] || fail "allocs?$q is not 400"
done
[ "$(status "$BASE/heap?gc=1")" = 200 ] || fail "heap?gc=1 is not 200"
pass "bad seconds, seconds with debug: 400; gc accepted"

# debug=1: the legacy text, names by frame, and pprof's own reading of it.
fetch "$BASE/heap?debug=1" "$WORK/heap.txt"
head -1 "$WORK/heap.txt" | grep -qE '^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heapprofile$' ||
    fail "debug=1 header: $(head -1 "$WORK/heap.txt")"
grep -qE '^[0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @( 0x[0-9a-f]+)+$' "$WORK/heap.txt" || fail "debug=1 records"
grep -qP '^#\t0x[0-9a-f]+\tvalloc_site\t.*heap_sites\.c:[0-9]+$' "$WORK/heap.txt" ||
    fail "debug=1 does not name valloc_site with its line"
total=$(pprof_raw "$WORK/heap.txt" |
    awk '/^Samples:/ { s = 1; next } /^Locations/ { s = 0 } s && $4 ~ /^[0-9]+:$/ { sum += $4 } END { print sum + 0 }')
[ "$total" -gt $((SITE * 11 * 9 / 10)) ] || fail "pprof's reading of debug=1 gives $total bytes in use"
pass "debug=1 is the legacy text form and pprof reads it ($total bytes in use)"

stop_server || fail "host did not exit cleanly"

start_server env PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=4096 "$BUILD/tests/host-heap_sites_linked"
check_sites linked
stop_server || fail "linked host did not exit cleanly"
