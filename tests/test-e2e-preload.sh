# Zero code: an unmodified program under LD_PRELOAD serves /allocs and
# /heap, and go tool pprof names its allocating functions (static ones,
# from .symtab, in a binary built without -rdynamic).
source "$(dirname "$0")/lib.sh"

HOST=$BUILD/tests/host-alloc_host
LIB=$BUILD/libpprofd.so

# Without PPROFD_ADDR: nothing visible, no port.
# run_briefly_preloaded ADDR: the host alone under LD_PRELOAD for half a
# second. The variables are set by this shell for the host only: a wrapper
# (env, timeout, sh -c) would load the library and race for the port too.
run_briefly_preloaded() {
    LD_PRELOAD=$LIB PPROFD_ADDR=${1:-} "$HOST" &
    local pid=$!
    sleep 0.5
    kill "$pid"
    wait "$pid"
}

LD_PRELOAD=$LIB "$HOST" >/dev/null 2>"$WORK/quiet.log" &
quiet=$!
sleep 0.5
kill $quiet
wait $quiet || fail "host under LD_PRELOAD without PPROFD_ADDR failed"
[ ! -s "$WORK/quiet.log" ] || fail "without PPROFD_ADDR the library said: $(cat "$WORK/quiet.log")"
pass "no PPROFD_ADDR, no server, no output"

# libmicrohttpd (and gnutls behind it) is loaded when a server starts, not
# with the library: a process that never serves does not pay for mapping
# it. cat prints its own maps, so each run below shows what the loader
# mapped by the time main() ran (the preload constructor has returned).
readelf -d "$LIB" | grep -q 'NEEDED.*libmicrohttpd' && fail "libpprofd.so has a DT_NEEDED on libmicrohttpd"
undefined=$(nm -D --undefined-only "$LIB" | awk '{ print $2 }' | grep '^MHD_' || true)
[ -z "$undefined" ] || fail "libpprofd.so calls libmicrohttpd outside server/http/mhd.h's table: $undefined"
LD_PRELOAD=$LIB cat /proc/self/maps >"$WORK/maps.quiet"
grep -q 'libpprofd' "$WORK/maps.quiet" || fail "libpprofd.so was not preloaded: $(cat "$WORK/maps.quiet")"
grep -qE 'libmicrohttpd|libgnutls' "$WORK/maps.quiet" &&
    fail "libmicrohttpd is mapped in a process that does not serve"
LD_PRELOAD=$LIB PPROFD_ADDR=127.0.0.1:0 cat /proc/self/maps >"$WORK/maps.serving" 2>"$WORK/serving.log"
grep -q '^pprofd: listening on 127\.0\.0\.1:' "$WORK/serving.log" || fail "no server: $(cat "$WORK/serving.log")"
grep -q 'libmicrohttpd' "$WORK/maps.serving" || fail "libmicrohttpd is not mapped once serving"
pass "libmicrohttpd is loaded when a server starts, not before"

# Without libmicrohttpd (hide-mhd makes its dlopen fail): one line on
# stderr, no server, and the host runs on.
LD_PRELOAD=$BUILD/tests/libhide-mhd.so:$LIB PPROFD_ADDR=127.0.0.1:0 cat /proc/self/maps \
    >"$WORK/maps.hidden" 2>"$WORK/hidden.log" || fail "host failed without libmicrohttpd"
grep -q '^pprofd: cannot load libmicrohttpd: libmicrohttpd-hidden-by-test\.so\.12: ' "$WORK/hidden.log" ||
    fail "missing libmicrohttpd message: $(cat "$WORK/hidden.log")"
[ "$(wc -l <"$WORK/hidden.log")" = 1 ] || fail "more than one line without libmicrohttpd: $(cat "$WORK/hidden.log")"
grep -q 'libpprofd' "$WORK/maps.hidden" || fail "host did not run on without libmicrohttpd"
pass "no libmicrohttpd: one line, host carries on"

start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 "$HOST"

fetch_until "$BASE/allocs" "$WORK/allocs.out" churn_strings hold_records
pprof_raw "$WORK/allocs.out" | grep -q '^alloc_objects/count alloc_space/bytes\[dflt\]' ||
    fail "allocs sample types"
pass "allocs names the host's functions"

raw=$(pprof_raw "$WORK/allocs.out")
grep -q '^Period: 524288$' <<<"$raw" || fail "allocs: period is not the default rate 524288"
pass "default sampling rate"

stop_server || fail "host did not exit cleanly at SIGTERM with pprofd loaded"
pass "clean exit with the server running"

# Quantities at a fine rate: 16 MiB held in 8 KiB objects sampled every
# 8 KiB on average gives ~1300 samples (sd ~2.8%).
start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=8192 "$HOST"
wait_for_output '^host: ready$'
fetch "$BASE/heap" "$WORK/heap.out"
top=$(pprof_top "$WORK/heap.out" -unit=MB)
held=$(awk '$6 == "hold_records" { sub("MB","",$1); print $1 }' <<<"$top")
awk -v v="${held:-0}" 'BEGIN { exit !(v >= 16.77 * 0.9 && v <= 16.77 * 1.1) }' ||
    fail "heap: hold_records holds 16 MiB, profile says ${held}MB"
pass "heap shows the host's retained memory"
stop_server || fail "host did not exit cleanly"

# A taken port: one line on stderr, the host runs on.
start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 "$HOST"
taken=$PORT
first_pid=$SERVER_PID
run_briefly_preloaded 127.0.0.1:$taken >/dev/null 2>"$WORK/taken.log" || fail "host died when the port was taken"
grep -q "^pprofd: cannot listen on 127.0.0.1:$taken: Address already in use$" "$WORK/taken.log" ||
    fail "taken port message: $(cat "$WORK/taken.log")"
[ "$(wc -l <"$WORK/taken.log")" = 1 ] || fail "more than one line for a taken port"
kill -0 "$first_pid" || fail "first host died"
pass "taken port: one line, host carries on"
