# libpprofd loaded with dlopen cannot be the program's malloc: the index
# page and every heap profile say so (a comment pprof shows), instead of
# heap profiles that are silently empty. Preloaded, neither says it.
source "$(dirname "$0")/lib.sh"

start_server "$BUILD/tests/host-dlopen_pprofd" "$BUILD/libpprofd.so"
wait_for_output '^ready$'
curl -s -o "$WORK/index.html" "$BASE/"
grep -q "malloc is not pprofd's" "$WORK/index.html" || fail "the index does not say so: $(cat "$WORK/index.html")"
fetch "$BASE/heap" "$WORK/heap.out"
go tool pprof -comments "$WORK/heap.out" 2>&1 | grep -q "malloc is not pprofd's" ||
    fail "the heap profile does not say so: $(go tool pprof -comments "$WORK/heap.out" 2>&1)"
stop_server || true

start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 "$BUILD/tests/host-alloc_host"
curl -s -o "$WORK/index2.html" "$BASE/"
! grep -q "malloc is not pprofd's" "$WORK/index2.html" || fail "preloaded, the index says malloc is not ours"
pass "loaded with dlopen: index and heap profile say the heap is not sampled"
