# pprofd's descriptors never leak into the host's children: after a cold
# heap profile (symbolization opens libc, libpprofd, libmicrohttpd and
# debug files through libdwfl) the host runs a child, which must hold no
# descriptor of a shared object or debug file, nor pprofd's socket.
source "$(dirname "$0")/lib.sh"

export FD_LIST=$WORK/fds
start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 "$BUILD/tests/host-exec_child"
wait_for_output '^ready$'
fetch "$BASE/heap" "$WORK/heap.out"
fetch "$BASE/symbol" "$WORK/sym.out"
kill -USR1 "$SERVER_PID"
wait_for_output '^listed$'
leaked=$(grep -E '\.so|\.debug|socket:|/usr/lib|/lib/' "$FD_LIST" || true)
[ -z "$leaked" ] || fail "the child inherited pprofd's descriptors: $leaked"
stop_server || true
pass "the child holds none of pprofd's descriptors ($(grep -c -- '->' "$FD_LIST") in all)"
