# End to end through the demo: curl fetches /allocs and /heap over real
# HTTP, go tool pprof reads them, and the allocating functions are named.
source "$(dirname "$0")/lib.sh"

# A fine sampling rate, so that the quantities below are tight: 16 MiB of
# 4 KiB objects gives ~2600 samples (sd ~1.2%) instead of ~32 at the default.
start_server env PPROFD_MEM_RATE=4096 "$BUILD/pprofd-demo" --addr 127.0.0.1:0

fetch_until "$BASE/allocs" "$WORK/allocs.out" churn_small_objects churn_buffers \
    retain_cache_entries retain_big_table
raw=$(pprof_raw "$WORK/allocs.out")
grep -q '^alloc_objects/count alloc_space/bytes\[dflt\] inuse_objects/count inuse_space/bytes$' <<<"$raw" ||
    fail "allocs: wrong sample types or default: $(grep -m1 count <<<"$raw")"
grep -q '^PeriodType: space bytes$' <<<"$raw" || fail "allocs: period type"
grep -q '^Period: 4096$' <<<"$raw" || fail "allocs: period is not PPROFD_MEM_RATE"
top=$(pprof_top "$WORK/allocs.out")
for fn in churn_small_objects churn_buffers retain_cache_entries retain_big_table; do
    grep -qw "$fn" <<<"$top" || fail "allocs: $fn not named: $top"
done
pass "allocs names the demo's allocating functions"

fetch "$BASE/heap" "$WORK/heap.out"
raw=$(pprof_raw "$WORK/heap.out")
grep -q '^alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes\[dflt\]$' <<<"$raw" ||
    fail "heap: wrong sample types or default"
top=$(pprof_top "$WORK/heap.out" -unit=MB)
big=$(flat_of "$top" retain_big_table)
[ "$big" = 32MB ] || fail "heap: retain_big_table holds 32MB live, profile says '$big'"
cache=$(pprof_top "$WORK/heap.out" -unit=MB | awk '$6 == "retain_cache_entries" { sub("MB","",$1); print $1 }')
awk -v v="$cache" 'BEGIN { exit !(v >= 16 * 1.048576 * 0.9 && v <= 16 * 1.048576 * 1.1) }' ||
    fail "heap: retain_cache_entries holds 16 MiB, profile says ${cache}MB"
pass "heap shows the retained memory"

# Go's headers.
headers=$(curl -s -D - -o /dev/null "$BASE/heap")
grep -qi '^Content-Type: application/octet-stream' <<<"$headers" || fail "heap Content-Type"
grep -qi '^Content-Disposition: attachment; filename="heap"' <<<"$headers" || fail "heap Content-Disposition"
grep -qi '^X-Content-Type-Options: nosniff' <<<"$headers" || fail "heap nosniff"
pass "headers as Go sends them"

# The index lists every profile with a link.
fetch "$BASE/" "$WORK/index.html"
for name in allocs block cmdline goroutine heap mutex profile symbol threadcreate threads; do
    grep -q "href='$name" "$WORK/index.html" || fail "index lacks $name"
done
pass "index lists the profiles"

# cmdline: argv joined by NUL.
fetch "$BASE/cmdline" "$WORK/cmdline"
[ "$(tr '\0' ' ' <"$WORK/cmdline")" = "$BUILD/pprofd-demo --addr 127.0.0.1:0" ] ||
    fail "cmdline: $(tr '\0' ' ' <"$WORK/cmdline")"
pass "cmdline"

# Errors.
[ "$(status "$BASE/nosuch")" = 404 ] || fail "unknown profile is not 404"
[ "$(status "http://127.0.0.1:$PORT/")" = 404 ] || fail "/ is not 404"
[ "$(status "$BASE/heap" -X POST)" = 405 ] || fail "POST heap is not 405"
[ "$(status "$BASE/heap" -X DELETE)" = 405 ] || fail "DELETE heap is not 405"
[ "$(status "$BASE/heap" -I)" = 200 ] || fail "HEAD heap is not 200"
pass "errors"

stop_server || fail "demo did not exit cleanly on SIGTERM"
pass "demo stops cleanly"
