# A program linked with another allocator (jemalloc, tcmalloc), run with
# pprofd preloaded: it runs (its own malloc_usable_size is handed only its
# own allocator's blocks), exits 0, and its heap profile shows each site's
# live bytes within 10%, as with glibc's malloc.
source "$(dirname "$0")/lib.sh"

ran=0
for alloc in jemalloc tcmalloc; do
    host=$BUILD/tests/host-other_allocator-$alloc
    [ -x "$host" ] || { echo "no $alloc host (lib$alloc not installed)"; continue; }
    ran=$((ran + 1))

    # Without a server too: the crash this guards against came at the
    # program's first allocation, before any server.
    env LD_PRELOAD="$BUILD/libpprofd.so" "$host" >"$WORK/bare.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        grep -qx ready "$WORK/bare.log" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM $pid 2>/dev/null || true
    rc=0
    wait $pid || rc=$?
    out="$(cat "$WORK/bare.log") rc=$rc"
    [ $rc = 0 ] && grep -q '^usable ' "$WORK/bare.log" || fail "$alloc host without a server: $out"

    start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=4096 "$host"
    wait_for_output '^ready$'
    fetch "$BASE/heap" "$WORK/heap-$alloc.out"
    top=$(pprof_top "$WORK/heap-$alloc.out" -unit=B -nodefraction=0 -sample_index=inuse_space)
    for site in c_site:16 aligned_site:8 realloc_site:8; do
        name=${site%:*} want=$(( ${site#*:} << 20 ))
        got=$(cum_bytes "$top" "$name")
        within "$got" $want 10 || fail "$alloc: $name keeps $want bytes, inuse_space says $got: $top"
    done
    top=$(pprof_top "$WORK/heap-$alloc.out" -unit=B -nodefraction=0 -sample_index=alloc_space)
    got=$(cum_bytes "$top" churn_site)
    within "$got" $((64 << 20)) 10 || fail "$alloc: churn_site allocated 64 MiB, alloc_space says $got"
    stop_server || fail "$alloc host did not exit cleanly: $(cat "$SERVER_LOG")"
    grep -q '^usable ' "$SERVER_LOG" || fail "$alloc host did not finish"
    pass "$alloc: the program runs and exits 0, its sites within 10% in the heap profile"
done
[ "$ran" -gt 0 ] || { echo "skip: neither jemalloc nor tcmalloc is installed"; exit 77; }
