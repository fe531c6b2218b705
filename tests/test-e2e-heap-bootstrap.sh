# The malloc interposer from a process's very first allocation: programs
# run under LD_PRELOAD at PPROFD_MEM_RATE=1 (every allocation sampled, the
# loader's and libc's start-up ones included, before any constructor of
# ours) behave exactly as without it. Then dlopen/dlclose while 4 threads
# allocate, at rate 1: the host finishes, the profiles (with stacks into a
# library since unloaded) are served, and go tool pprof reads them.
source "$(dirname "$0")/lib.sh"

LIB=$BUILD/libpprofd.so

# PPROFD_UNWIND_CHECK=1: each sampled stack is also walked by libunwind,
# and a difference from the sampler's own walk by frame rules is printed.
# These are Debian's binaries, built without frame pointers.
want=$(sh -c 'ls -la / | sort | wc -l')
got=$(LD_PRELOAD=$LIB PPROFD_MEM_RATE=1 PPROFD_UNWIND_CHECK=1 sh -c 'ls -la / | sort | wc -l' \
    2>"$WORK/check.err") || fail "sh/ls/sort under LD_PRELOAD at rate 1 failed"
[ "$got" = "$want" ] || fail "under LD_PRELOAD at rate 1: '$got', without: '$want'"
grep 'unwind check' "$WORK/check.err" && fail "sh/ls/sort: stacks by frame rules differ from libunwind's"
pass "sh, ls, sort, wc from their first allocation at rate 1, stacks as libunwind's"

if command -v python3 >/dev/null; then
    out=$(LD_PRELOAD=$LIB PPROFD_MEM_RATE=1 PPROFD_UNWIND_CHECK=1 python3 -c 'import json, hashlib, threading
t = [threading.Thread(target=lambda: [json.dumps(list(range(100))) for _ in range(200)]) for _ in range(4)]
[x.start() for x in t]; [x.join() for x in t]
print(hashlib.sha256(b"pprofd").hexdigest()[:8])' 2>"$WORK/check.err") ||
        fail "python3 under LD_PRELOAD at rate 1 failed"
    grep 'unwind check' "$WORK/check.err" && fail "python3: stacks by frame rules differ from libunwind's"
    [ "$out" = "$(python3 -c 'import hashlib; print(hashlib.sha256(b"pprofd").hexdigest()[:8])')" ] ||
        fail "python3 under LD_PRELOAD printed '$out'"
    pass "python3 with threads at rate 1, stacks as libunwind's"
fi

start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=1 \
    "$BUILD/tests/host-heap_dlopen"
for _ in $(seq 1 1200); do
    grep -qxE 'ready|skip|dlopen failed' "$SERVER_LOG" && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "dlopen host died"
    sleep 0.1
done
grep -qx skip "$SERVER_LOG" && { echo "skipped: no libexpat.so.1 to dlopen"; exit 77; }
grep -qx ready "$SERVER_LOG" || fail "dlopen host: $(tail -1 "$SERVER_LOG")"
fetch "$BASE/heap" "$WORK/heap.out"
fetch "$BASE/allocs" "$WORK/allocs.out"
top=$(pprof_top "$WORK/allocs.out" -nodefraction=0)
grep -qw dlopen_loop <<<"$top" || fail "allocs do not show dlopen_loop: $top"
grep -qw churn <<<"$top" || fail "allocs do not show the churn threads: $top"
pprof_top "$WORK/heap.out" >/dev/null
pass "dlopen/dlclose under sampling at rate 1; profiles read by go tool pprof"
stop_server || fail "dlopen host did not exit cleanly"
