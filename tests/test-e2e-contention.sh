# /mutex and /block: until pprofd records contention they must still answer
# what continuous profilers accept (200, a profile google/pprof parses, Go's
# sample types), say that they are empty, and the index page must not
# pretend otherwise.
source "$(dirname "$0")/lib.sh"

start_server "$BUILD/pprofd-demo" --addr 127.0.0.1:0

for name in mutex block; do
    fetch "$BASE/$name" "$WORK/$name.out"
    raw=$(pprof_raw "$WORK/$name.out")
    grep -q '^contentions/count delay/nanoseconds$' <<<"$raw" ||
        fail "$name: sample types are not Go's contentions/count delay/nanoseconds: $raw"
    grep -q '^PeriodType: contentions count$' <<<"$raw" || fail "$name: period type"
    grep -q '^Period: 1$' <<<"$raw" || fail "$name: period"
    # No sample lines between "Samples:" and "Locations".
    samples=$(awk '/^Samples:/ { s = 1; next } /^Locations/ { s = 0 } s' <<<"$raw" | sed 1d)
    [ -z "$samples" ] || fail "$name: has samples though nothing records contention: $samples"
    grep -q 'does not record lock contention yet' <<<"$raw" ||
        fail "$name: the profile does not say it is empty on purpose"

    headers=$(curl -s -D - -o /dev/null "$BASE/$name")
    grep -qi "^Content-Disposition: attachment; filename=\"$name\"" <<<"$headers" ||
        fail "$name: Content-Disposition"
    grep -qi '^Content-Type: application/octet-stream' <<<"$headers" || fail "$name: Content-Type"

    # debug=1: Go's legacy text, which google/pprof still parses.
    fetch "$BASE/$name?debug=1" "$WORK/$name.txt"
    pprof_raw "$WORK/$name.txt" | grep -q '^PeriodType: contentions count$' ||
        fail "$name?debug=1 is not Go's text form: $(cat "$WORK/$name.txt")"

    # seconds=N: a delta over N seconds, as Go's, carries its duration.
    fetch "$BASE/$name?seconds=1" "$WORK/$name-delta.out"
    pprof_top "$WORK/$name-delta.out" | grep -q '^Duration: 1s' ||
        fail "$name?seconds=1 has no 1 s duration: $(pprof_top "$WORK/$name-delta.out")"
    [ "$(status "$BASE/$name?seconds=0")" = 400 ] || fail "$name?seconds=0 is not 400"
    [ "$(status "$BASE/$name?seconds=x")" = 400 ] || fail "$name?seconds=x is not 400"
    [ "$(status "$BASE/$name?debug=-1")" = 400 ] || fail "$name?debug=-1 is not 400"
    [ "$(status "$BASE/$name?seconds=1&debug=1")" = 400 ] || fail "$name?seconds=1&debug=1 is not 400, as Go's"
    [ "$(status "$BASE/$name" -X POST)" = 405 ] || fail "POST $name is not 405"
    pass "$name: empty, valid, Go's types, says so"
done

fetch "$BASE/" "$WORK/index.html"
grep -q 'Contention profiling does not exist in pprofd yet' "$WORK/index.html" ||
    fail "index does not say contention profiling is missing"
grep -q "<td>0</td><td><a href='mutex?debug=1'>mutex</a>" "$WORK/index.html" ||
    fail "index: mutex count is not 0"
version=$(sed -n 's/^#define PPROFD_VERSION "\(.*\)"$/\1/p' "$SRC/include/pprofd.h")
[ -n "$version" ] || fail "no PPROFD_VERSION in include/pprofd.h"
grep -q "pprofd $version" "$WORK/index.html" || fail "index does not show version $version"
pass "index: says contention is missing, shows version $version"

stop_server || fail "demo did not exit cleanly"
