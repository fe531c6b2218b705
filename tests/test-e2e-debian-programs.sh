# Programs nobody here wrote, as Debian ships them (stripped, -O2, no frame
# pointers), run with pprofd preloaded: an interpreter (python3), a
# database CLI (sqlite3) and a server linked with jemalloc (redis-server).
# Each is judged against its own output: the bytes it says it holds
# against the heap profile, and its CPU samples must reach a thread root
# (_start, start_thread, clone3), not stop part way up the stack.
# Prints, per program, the share of samples that reach a root and the heap
# estimate against the program's own figure.
source "$(dirname "$0")/lib.sh"

PRELOAD=$BUILD/libpprofd.so
ran=0

# root_share CPUPROFILE: the percentage of CPU time (sample values) whose
# stack ends at a thread root.
root_share() {
    # A stack reaches the root when it names the C library's start of the
    # program or of a thread: a stripped program's own _start, beyond it,
    # has no name.
    go tool pprof -symbolize=none -traces "$1" 2>"$WORK/pprof.err" |
        awk '
            function frame(name) {
                if (name ~ /^(_start|__libc_start_main|__libc_start_main_impl|__libc_start_call_main|start_thread|clone|__clone|clone3|__clone3)$/)
                    rooted_here = 1
            }
            function close_block() {
                total += value
                if (rooted_here)
                    rooted += value
                value = 0; rooted_here = 0
            }
            /^-----------\+/ { close_block(); next }
            /^ *[0-9.]+(ns|us|ms|s) / && value == 0 {
                v = $1; unit = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", unit)
                m = (unit == "s") ? 1e9 : (unit == "ms") ? 1e6 : (unit == "us") ? 1e3 : 1
                value = v * m; frame($2); next
            }
            NF && value > 0 { frame($1) }
            END { close_block(); if (total == 0) print 0; else printf "%.1f\n", 100 * rooted / total }'
}

# inuse_total HEAPPROFILE: the heap's live bytes outside pprofd's own
# (its symbolizer allocates on the host's heap, labelled pprofd=server).
inuse_total() {
    go tool pprof -symbolize=none -raw -sample_index=inuse_space -tagignore pprofd=server "$1" \
        2>"$WORK/pprof.err" |
        awk '/^Samples:/ { s = 1; next } /^Locations/ { s = 0 } s && /^ *[0-9]/ {
                 split($0, f, ":"); n = split(f[1], v, " "); t += v[n] } END { printf "%d\n", t }'
}

report() { echo "result: $1: CPU samples reaching a root ${2}%, heap ${3} B against the program's ${4} B"; }

# --- python3: 50 MB of bytearrays held, then a pure-Python busy loop.
PY=/usr/bin/python3
if [ -x $PY ]; then
    ran=$((ran + 1))
    cat >"$WORK/work.py" <<'EOF'
import time
def burn(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s
keep = [bytearray(100000) for _ in range(500)]
print("held", sum(len(b) for b in keep), flush=True)
t = time.time()
while time.time() - t < 6:
    burn(100000)
print("done", flush=True)
EOF
    start_server env LD_PRELOAD="$PRELOAD" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=4096 $PY "$WORK/work.py"
    wait_for_output '^held '
    held=$(awk '/^held / { print $2 }' "$SERVER_LOG")
    fetch "$BASE/heap" "$WORK/py.heap"
    fetch "$BASE/profile?seconds=2" "$WORK/py.cpu"
    top=$(pprof_top "$WORK/py.heap" -unit=B -nodefraction=0 -sample_index=inuse_space)
    got=$(cum_bytes "$top" PyByteArray_Resize)
    share=$(root_share "$WORK/py.cpu")
    report python3 "$share" "$got" "$held"
    within "$got" "$held" 10 || fail "python3 holds $held B of bytearrays, the heap profile says $got: $top"
    awk -v s="$share" 'BEGIN { exit !(s >= 90) }' || fail "python3: only $share% of CPU samples reach a root"
    stop_server || true
fi

# --- sqlite3: an in-memory table of 300k rows, then a CPU-bound join.
if command -v sqlite3 >/dev/null; then
    ran=$((ran + 1))
    {
        cat <<'EOF'
.stats on
CREATE TABLE t(a INTEGER, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
  INSERT INTO t SELECT x, printf('%080d', x) FROM c;
.stats off
.print ready
EOF
        # Until the test has both profiles: a join nobody indexed, repeated.
        for _ in $(seq 1 400); do
            echo "SELECT count(*) FROM t a, t b WHERE a.a < 300 AND b.a % 97 = a.a % 97;"
        done
    } >"$WORK/work.sql"
    # sqlite3 itself is the server (a shell in between would be it instead).
    start_server env LD_PRELOAD="$PRELOAD" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=4096 \
        sqlite3 :memory: ".read $WORK/work.sql"
    wait_for_output '^ready$'
    # sqlite3_memory_used() after the insert, as the CLI's .stats prints it.
    own=$(awk '/^Memory Used:/ { v = $3 } END { print v }' "$SERVER_LOG")
    fetch "$BASE/heap" "$WORK/sq.heap"
    fetch "$BASE/profile?seconds=2" "$WORK/sq.cpu"
    got=$(inuse_total "$WORK/sq.heap")
    share=$(root_share "$WORK/sq.cpu")
    report sqlite3 "$share" "$got" "$own"
    within "$got" "$own" 10 || fail "sqlite3 says $own B in use, the heap profile $got"
    awk -v s="$share" 'BEGIN { exit !(s >= 90) }' || fail "sqlite3: only $share% of CPU samples reach a root"
    stop_server || true
fi

# --- redis-server (Debian links it with jemalloc): 300k keys, then load.
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    ran=$((ran + 1))
    sock=$WORK/redis.sock
    start_server env LD_PRELOAD="$PRELOAD" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=4096 \
        redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no \
        --enable-debug-command yes --dir "$WORK"
    for _ in $(seq 1 200); do [ -S "$sock" ] && break; sleep 0.05; done
    [ "$(redis-cli -s "$sock" DEBUG POPULATE 300000 key 100)" = OK ] || fail "redis: DEBUG POPULATE"
    if command -v redis-benchmark >/dev/null; then
        redis-benchmark -s "$sock" -n 2000000 -q -t get -r 300000 >/dev/null 2>&1 &
        bench=$!
    fi
    fetch "$BASE/profile?seconds=2" "$WORK/rd.cpu"
    [ -n "${bench:-}" ] && { kill $bench 2>/dev/null || true; wait $bench 2>/dev/null || true; }
    own=$(redis-cli -s "$sock" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }')
    fetch "$BASE/heap" "$WORK/rd.heap"
    got=$(inuse_total "$WORK/rd.heap")
    share=$(root_share "$WORK/rd.cpu")
    report redis-server "$share" "$got" "$own"
    # used_memory counts jemalloc's size classes (a 24-byte dictEntry takes
    # 32), the profile the bytes asked for: 15% covers the rounding.
    within "$got" "$own" 15 || fail "redis says used_memory $own B, the heap profile $got"
    awk -v s="$share" 'BEGIN { exit !(s >= 90) }' || fail "redis: only $share% of CPU samples reach a root"
    redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
fi

[ $ran -gt 0 ] || { echo "none of python3, sqlite3, redis-server installed"; exit 77; }
pass "$ran Debian programs profiled, judged by their own figures"
