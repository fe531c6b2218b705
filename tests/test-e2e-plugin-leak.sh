# A host that loads and unloads a plugin all the time, served heap profiles
# between loads: its descriptors stay flat and its memory does not grow
# with the number of requests (each request used to keep another copy of
# libc's, libpprofd's and libmicrohttpd's modules: +15 MB, +7 fds).
source "$(dirname "$0")/lib.sh"

start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 "$BUILD/tests/host-plugin_churn"
wait_for_output '^(ready|skip)$'
grep -qx skip "$SERVER_LOG" && { echo "no libexpat"; exit 77; }
fds() { ls "/proc/$SERVER_PID/fd" | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
for _ in 1 2 3 4 5; do fetch "$BASE/heap" "$WORK/heap.out"; done
fds0=$(fds) rss0=$(rss)
for _ in $(seq 1 25); do fetch "$BASE/heap" "$WORK/heap.out"; done
fds1=$(fds) rss1=$(rss)
echo "after 5 requests: $fds0 fds, $rss0 kB; after 30: $fds1 fds, $rss1 kB"
# A few may be open at the moment of looking (the plugin's own module).
[ "$fds1" -le $((fds0 + 4)) ] || fail "descriptors grew from $fds0 to $fds1 over 25 requests"
[ $((rss1 - rss0)) -lt 8192 ] || fail "RSS grew $((rss1 - rss0)) kB over 25 requests"
pass "25 heap requests in a plugin-churning host: fds $fds0 -> $fds1, RSS +$((rss1 - rss0)) kB"
