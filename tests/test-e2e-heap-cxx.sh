# C++ new and delete, through libstdc++'s operators into pprofd's malloc
# family (LD_PRELOAD, unmodified program): each form of new keeping 12 MiB
# shows inuse_space within 10% in go tool pprof; new/delete of 100 MiB shows
# ~0 in use and alloc_space within 10%.
source "$(dirname "$0")/lib.sh"

SITE=$((12 << 20))
start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=4096 \
    "$BUILD/tests/host-cxx_new"
for _ in $(seq 1 600); do
    grep -qx ready "$SERVER_LOG" && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "host exited early"
    sleep 0.1
done
grep -qx ready "$SERVER_LOG" || fail "host never ready"

fetch "$BASE/heap" "$WORK/heap.out"
top=$(pprof_top "$WORK/heap.out" -unit=B -nodefraction=0 -sample_index=inuse_space)
for site in new_array_site new_object_site aligned_new_site nothrow_new_site vector_site string_site; do
    got=$(cum_bytes "$top" $site)
    within "$got" $SITE 10 || fail "$site keeps $SITE bytes, inuse_space says $got"
done
# The profile's drop_frames takes libstdc++'s operator new off the stacks:
# the site that called new is the leaf, holding the bytes itself.
flat=$(awk '$6 == "new_object_site" { sub("B$", "", $1); print $1 }' <<<"$top")
within "${flat:-0}" $SITE 10 || fail "new_object_site is not the leaf: flat $flat"
grep -q 'operator new' <<<"$top" && fail "operator new still shows: $top"
pass "every form of new: 12 MiB within 10%, the caller of new as the leaf"

inuse=$(cum_bytes "$top" delete_site)
[ "$inuse" -lt $((SITE / 100)) ] || fail "delete_site deleted everything, in use $inuse"
top=$(pprof_top "$WORK/heap.out" -unit=B -nodefraction=0 -sample_index=alloc_space)
alloc=$(cum_bytes "$top" delete_site)
within "$alloc" $(((100 << 20) / 100 * 100)) 10 || fail "delete_site newed 100 MiB, alloc_space $alloc"
pass "new/delete: ~0 in use ($inuse), alloc_space $alloc within 10%"

stop_server || fail "C++ host did not exit cleanly"
