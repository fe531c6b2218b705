# A setuid program ignores PPROFD_* in its environment (secure_getenv's
# rule): otherwise any user who may run it could make it serve its heap on
# every interface. The same copy without the setuid bit, run the same way,
# takes the setting (the control). Needs root to make a setuid-root file.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
command -v setpriv >/dev/null || { echo "no setpriv"; exit 77; }
chmod 755 "$WORK"
cp "$BUILD/tests/host-labels_linked" "$WORK/host"
chmod 755 "$WORK/host"
port=$((20000 + $$ % 20000))

# run_as_nobody LOG: the host as an unprivileged user, asked to listen on
# every interface; once it is ready (its server started), LOG gets the
# listening sockets the host holds, and the host is stopped.
run_as_nobody() {
    env PPROFD_ADDR="0.0.0.0:$port" setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$WORK/host" >"$1" 2>&1 &
    local pid=$!
    for _ in $(seq 1 200); do
        grep -q '^ready$' "$1" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    ss -ltnp | grep "pid=$pid," >>"$1" || true
    kill -TERM $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
}

run_as_nobody "$WORK/plain.log"
grep -q "0.0.0.0:$port" "$WORK/plain.log" ||
    fail "control: without setuid the host did not take PPROFD_ADDR: $(cat "$WORK/plain.log")"

chown root:root "$WORK/host"
chmod 4755 "$WORK/host"
run_as_nobody "$WORK/suid.log"
if grep -q "0.0.0.0:$port" "$WORK/suid.log"; then
    fail "the setuid host took PPROFD_ADDR from its caller: $(cat "$WORK/suid.log")"
fi
pass "setuid: PPROFD_ADDR ignored; without setuid: taken"
