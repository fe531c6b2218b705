#!/bin/bash
# Instructions per malloc and per free that pprofd adds, counted by
# valgrind --tool=callgrind on bench-malloc's workload (exact and
# repeatable, unlike CPU time on a shared machine).
#
#   load/callgrind-malloc.sh [BUILD]     # BUILD defaults to ./build
#
# Rows: glibc alone; pprofd with sampling off (PPROFD_MEM_RATE=0: only the
# fast paths run); the default rate (fast paths plus an occasional sample,
# amortized); rate 1 (every malloc sampled, every free a tracked one). For
# our malloc and free, "self" is the wrapper's own instructions per call and
# "incl" everything under it less glibc's own malloc/free.
set -euo pipefail
BUILD=${1:-build}
BENCH=$BUILD/load/bench-malloc
LIB=$BUILD/libpprofd.so
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# ir FILE FUNCTION [--inclusive=yes]: the Ir callgrind_annotate gives it.
ir() {
    callgrind_annotate "$3" "$1" 2>/dev/null |
        awk -v f="$2" '!done && index($0, f) { gsub(",", "", $1); print $1; done = 1 }'
}

run() { # NAME PAIRS PRELOAD RATE
    local file=$OUT/$1
    LD_PRELOAD=$3 PPROFD_MEM_RATE=$4 valgrind --tool=callgrind --callgrind-out-file="$file" \
        "$BENCH" --worker "$2" >/dev/null 2>&1
    local total pairs=$2
    total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    if [ -z "$3" ]; then
        printf '%-28s %12s Ir total, %7.1f Ir per malloc/free pair\n' "$1" "$total" \
            "$(echo "$total / $pairs" | bc -l)"
        return
    fi
    local ms mi gm fs fi gf
    ms=$(ir "$file" '???:malloc [' --inclusive=no)
    fs=$(ir "$file" '???:free [' --inclusive=no)
    mi=$(ir "$file" '???:malloc [' --inclusive=yes)
    fi=$(ir "$file" '???:free [' --inclusive=yes)
    gm=$(ir "$file" 'malloc/malloc.c:malloc [' --inclusive=yes)
    gf=$(ir "$file" 'malloc/malloc.c:free [' --inclusive=yes)
    printf '%-28s %12s Ir total, %7.1f per pair; malloc: self %.1f, incl %.1f; free: self %.1f, incl %.1f (Ir per call, glibc excluded)\n' \
        "$1" "$total" "$(echo "$total / $pairs" | bc -l)" \
        "$(echo "$ms / $pairs" | bc -l)" "$(echo "($mi - $gm) / $pairs" | bc -l)" \
        "$(echo "$fs / $pairs" | bc -l)" "$(echo "($fi - $gf) / $pairs" | bc -l)"
}

run "glibc" 2000000 "" 0
run "pprofd, sampling off" 2000000 "$LIB" 0
run "pprofd, default rate" 2000000 "$LIB" 524288
run "pprofd, rate 1 (all sampled)" 200000 "$LIB" 1
