# pprofd never stalls the host's malloc: in a host whose main arena holds a
# million free chunks (where glibc's mallinfo2 takes ~0.5 s under the
# arena's lock), a cold /heap profile (symbolization loads every object's
# symbols), heap?debug=1 and a /symbol POST are served while the host's
# main thread times its own malloc of a size past the tcache. The worst
# call must stay under 50 ms: a bound on a stall, far above any single
# malloc on a loaded machine, not a timing of pprofd's work.
source "$(dirname "$0")/lib.sh"

start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 \
    "$BUILD/tests/host-free_chunks"
wait_for_output '^ready$'
kill -USR1 "$SERVER_PID" # start the measured stretch here
sleep 0.2
fetch "$BASE/heap" "$WORK/heap.out"
fetch "$BASE/heap?debug=1" "$WORK/heap.txt"
addrs=$(go tool pprof -symbolize=none -raw "$WORK/heap.out" 2>/dev/null |
    awk '/^ +[0-9]+: 0x/ { print $2 }' | head -20 | tr '\n' '+')
code=$(curl -s -o "$WORK/symbol.out" -w '%{http_code}' --data "${addrs%+}" "$BASE/symbol")
[ "$code" = 200 ] || fail "POST /symbol answered $code"
n=$(grep -c '^worst ' "$SERVER_LOG" || true)
kill -USR1 "$SERVER_PID"
for _ in $(seq 1 100); do
    [ "$(grep -c '^worst ' "$SERVER_LOG")" -gt "$n" ] && break
    sleep 0.1
done
worst=$(grep '^worst ' "$SERVER_LOG" | tail -1 | cut -d' ' -f2)
[ -n "$worst" ] || fail "the host never reported its worst malloc"
echo "worst malloc while served: $worst us"
[ "$worst" -lt 50000 ] || fail "the host's malloc stalled $worst us while pprofd served a cold profile"
stop_server || true
pass "worst host malloc $worst us while a cold profile, its text form and /symbol were served"
