# Labels through the whole way (a host with pprofd linked in, real HTTP,
# go tool pprof): the host runs the same function under job=a and job=b
# and keeps 8 MiB under one, 24 MiB under the other. `go tool pprof -tags`
# lists both sets on the CPU profile (b the larger: test-labels checks the
# split itself), the heap profile splits 25/75 within 10%, and pprofd's
# own allocations are labelled pprofd=server, apart from the host's.
source "$(dirname "$0")/lib.sh"

# tag_pct TAGS KEY VALUE: the share -tags gives KEY=VALUE, without the %.
tag_pct() {
    awk -v k="$2:" -v v="$3" '$1 == k { inkey = 1; next } /^ *[a-zA-Z_]+: Total/ { inkey = 0 }
        inkey && $NF == v && match($0, /[0-9.]+%/) { print substr($0, RSTART, RLENGTH - 1); found = 1 }
        END { if (!found) print 0 }' <<<"$1"
}

start_server env PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=4096 "$BUILD/tests/host-labels_linked"
wait_for_output '^ready$'

fetch "$BASE/profile?seconds=3&hz=250" "$WORK/cpu.out"
tags=$(go tool pprof -symbolize=none -tags "$WORK/cpu.out" 2>&1) || fail "go tool pprof -tags: $tags"
a=$(tag_pct "$tags" job a) b=$(tag_pct "$tags" job b)
awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > 0 && b >= a) }' || fail "CPU labels: job=a $a%, job=b $b%: $tags"
pass "CPU profile: job=a $a%, job=b $b% of the labelled samples"

fetch "$BASE/heap" "$WORK/heap.out"
tags=$(go tool pprof -symbolize=none -tags -sample_index=inuse_space "$WORK/heap.out" 2>&1) ||
    fail "go tool pprof -tags: $tags"
b=$(tag_pct "$tags" job b)
awk -v b="$b" 'BEGIN { exit !(b >= 65 && b <= 85) }' || fail "heap: job=b holds $b% of job's bytes, want 75: $tags"
pass "heap profile: job=b holds $b% of the labelled bytes (24 of 32 MiB)"

fetch "$BASE/allocs" "$WORK/allocs.out"
tags=$(go tool pprof -symbolize=none -tags -sample_index=alloc_space "$WORK/allocs.out" 2>&1)
grep -qE '^ pprofd:' <<<"$tags" && grep -qE '\): server$' <<<"$tags" ||
    fail "pprofd's own allocations carry no pprofd=server label: $tags"
# -tagignore drops them, and what is left is the host's.
top=$(pprof_top "$WORK/allocs.out" -sample_index=alloc_space -tagignore pprofd=server)
grep -qw keep <<<"$top" || fail "-tagignore pprofd=server dropped the host's own keep(): $top"
pass "pprofd's own allocations labelled pprofd=server; -tagignore keeps the host's"
stop_server || fail "the host did not exit cleanly"
