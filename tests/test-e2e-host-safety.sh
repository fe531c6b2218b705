#!/usr/bin/env bash
# Host safety of the server's lifecycle (issue 12, issue 16): stopping with
# long requests in flight, exit() from a signal handler with clients
# mid-request under LD_PRELOAD, pprofd's threads blocking the host's
# signals, a host that closes every descriptor, and 200 concurrent long
# requests served by a fixed pool of workers.
source "$(dirname "$0")/lib.sh" "$@"
HOST=$BUILD/tests/host-stop_host
[ -x "$HOST" ] || HOST=$(find "$BUILD" -name host-stop_host -type f | head -1)
EXIT_HOST=$(find "$BUILD" -name host-exit_host -type f | head -1)
LIB=$(find "$BUILD" -name 'libpprofd.so' | head -1)
TRIALS=${PPROFD_SAFETY_TRIALS:-10}

# 1. pprofd_stop() with 64 clients polling long requests: no abort, no hang,
# every answer a 200, a 503 with Retry-After or a closed connection.
for i in $(seq 1 "$TRIALS"); do
    rc=0
    out=$(timeout 60 "$HOST" stop 2>&1) || rc=$?
    [ "$rc" = 0 ] || fail "stop trial $i: exit $rc: $out"
done
pass "pprofd_stop with 64 clients mid-request: $TRIALS trials clean ($out)"

# 2. pprofd's threads block the host's signals.
out=$(timeout 60 "$HOST" sigmask 2>&1) || fail "sigmask: $out"
pass "$out"

# 3. A daemon that closes fds 3-1023 and reuses them: answered again, no
# abort at stop.
out=$(timeout 60 "$HOST" closefds 2>&1) || fail "closefds: $out"
pass "$out"

# 4. LD_PRELOAD: SIGTERM whose handler calls exit() while clients poll
# long requests; the destructor stops the server: exit 0 within the timeout.
for i in $(seq 1 "$TRIALS"); do
    start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 "$EXIT_HOST"
    pids=()
    for c in $(seq 1 16); do
        curl -s -o /dev/null --max-time 20 "$BASE/heap?seconds=1" &
        pids+=($!)
        curl -s -o /dev/null --max-time 20 "$BASE/threads" &
        pids+=($!)
    done
    sleep 0.3
    kill -TERM "$SERVER_PID"
    rc=0
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID"
        fail "exit trial $i: the host hung at exit"
    fi
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=
    wait "${pids[@]}" 2>/dev/null || true
    [ "$rc" = 0 ] || fail "exit trial $i: exit status $rc"
done
pass "exit() from a SIGTERM handler with clients mid-request: $TRIALS trials clean"

# 5. 200 concurrent long requests: the host's thread count grows by at most
# the pool (created once), and past its queue a 503 with Retry-After.
start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 "$EXIT_HOST"
fetch "$BASE/cmdline" "$WORK/cmdline"
before=$(awk '/^Threads:/ { print $2 }' /proc/"$SERVER_PID"/status)
for c in $(seq 1 200); do
    curl -s -o /dev/null -D "$WORK/h$c" -w '%{http_code}\n' --max-time 120 "$BASE/heap?seconds=1" >>"$WORK/codes" &
done
most=$before
for _ in $(seq 1 30); do
    n=$(awk '/^Threads:/ { print $2 }' /proc/"$SERVER_PID"/status)
    [ "$n" -gt "$most" ] && most=$n
    sleep 0.1
done
wait $(jobs -p | grep -v "^$SERVER_PID$") 2>/dev/null || true
[ "$most" -le "$before" ] || fail "200 long requests grew the host from $before to $most threads"
other=$(grep -cvE '^(200|503)$' "$WORK/codes" || true)
[ "$other" = 0 ] || fail "200 long requests: answers other than 200/503: $(sort "$WORK/codes" | uniq -c)"
n503=$(grep -c '^503$' "$WORK/codes" || true)
if [ "$n503" -gt 0 ]; then
    grep -l '^HTTP/1.1 503' "$WORK"/h* | xargs grep -Li '^Retry-After:' | grep -q . &&
        fail "a 503 without Retry-After"
fi
pass "200 concurrent long requests: threads $before -> at most $most; $(sort "$WORK/codes" | uniq -c | tr '\n' ' ')"
stop_server || true
