# Programs run by a preloaded server inherit LD_PRELOAD and PPROFD_ADDR:
# they stay quiet (each printed "cannot listen ... Address already in
# use") and do not serve, while the parent keeps the port. With port 0
# every process has a port of its own, so children serve as before.
source "$(dirname "$0")/lib.sh"

port=$((20000 + $$ % 20000))
env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR="127.0.0.1:$port" \
    sh -c 'for i in $(seq 1 200); do /bin/true; sh -c true; done; echo done' >"$WORK/out" 2>&1
grep -qx done "$WORK/out" || fail "the shell did not finish: $(head "$WORK/out")"
lines=$(grep -vcx done "$WORK/out" || true)
[ "$lines" = 0 ] || fail "400 children printed $lines lines: $(head -3 "$WORK/out")"

# The parent still serves while its children run.
env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR="127.0.0.1:$port" \
    sh -c 'sleep 0.5; for i in $(seq 1 20); do /bin/true; done; sleep 30' >"$WORK/serve.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    [ "$(status "http://127.0.0.1:$port/debug/pprof/cmdline")" = 200 ] && break
    sleep 0.1
done
body=$(curl -s "http://127.0.0.1:$port/debug/pprof/cmdline" | tr '\0' ' ')
case "$body" in sh*) ;; *) fail "the port is not served by the parent shell: '$body'" ;; esac
pass "400 children quiet; the parent serves its port"
