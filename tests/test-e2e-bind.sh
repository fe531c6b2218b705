# Where pprofd listens: every interface only when named, and then it says
# so on stderr, once; IPv6 loopback "[::1]:PORT" works (where the machine
# has it), and the address printed is the bracketed form curl takes.
source "$(dirname "$0")/lib.sh"

# serve ADDR LOG: start the alloc host on ADDR, wait for its "listening"
# line, and print the address it names.
serve() {
    env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR="$1" "$BUILD/tests/host-alloc_host" >"$2" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        grep -q 'listening on' "$2" && break
        kill -0 $SERVER_PID 2>/dev/null || fail "host exited: $(cat "$2")"
        sleep 0.05
    done
    sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$2" | head -1
}

addr=$(serve 0.0.0.0:0 "$WORK/any.log")
[ "$(grep -c 'every interface' "$WORK/any.log")" = 1 ] ||
    fail "bound every interface without saying so once: $(cat "$WORK/any.log")"
port=${addr##*:}
[ "$(status "http://127.0.0.1:$port/debug/pprof/cmdline")" = 200 ] || fail "0.0.0.0: not served"
stop_server || true

addr=$(serve 127.0.0.1:0 "$WORK/lo.log")
! grep -q 'every interface' "$WORK/lo.log" || fail "loopback said every interface"
stop_server || true

if ip -6 addr show dev lo 2>/dev/null | grep -q '::1'; then
    addr=$(serve '[::1]:0' "$WORK/v6.log")
    case "$addr" in "[::1]:"*) ;; *) fail "IPv6 loopback printed as '$addr'" ;; esac
    [ "$(status "http://$addr/debug/pprof/cmdline" -g)" = 200 ] || fail "[::1]: not served"
    stop_server || true
    pass "every interface said once; loopback quiet; [::1] served as $addr"
else
    pass "every interface said once; loopback quiet (no IPv6 loopback here)"
fi
