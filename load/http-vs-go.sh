#!/usr/bin/env bash
# pprofd's HTTP side against Go's own net/http/pprof, under hey.
#
#   load/http-vs-go.sh [build-dir]
#
# Starts build/pprofd-demo and load/go-peer (same workload shape), both on
# loopback, then for each path runs `hey` against one, then the other,
# ROUNDS times, alternating so that machine noise hits both alike. Prints
# the median requests/s of each and their ratio (pprofd / Go), and the
# count of non-200 answers (must be 0).
#
# Env: ROUNDS (3), DURATION (5s), CONCURRENCY (50), PATHS ("/ cmdline heap allocs"),
# CLIENT (hey, or wrk: a C client that takes less of the 2 cores from the
# servers, so it shows their capacity more than hey's own cost).
set -euo pipefail

BUILD=${1:-build}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONCURRENCY=${CONCURRENCY:-50}
PATHS=${PATHS:-"/ cmdline heap allocs"}
CLIENT=${CLIENT:-hey}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$HERE/go-peer" && go build -o "$WORK/go-peer" .)

# start VAR LOG CMD...: run CMD in the background (in this shell, so the
# cleanup trap knows its pid) and set VAR to the host:port it prints.
start() {
    local var=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 200); do
        if grep -qoE '127\.0\.0\.1:[0-9]+' "$log"; then
            printf -v "$var" '%s' "$(grep -oE '127\.0\.0\.1:[0-9]+' "$log" | head -1)"
            return
        fi
        sleep 0.05
    done
    echo "server did not start: $(cat "$log")" >&2
    exit 1
}

start ours "$WORK/pprofd.log" "$BUILD/pprofd-demo" --addr 127.0.0.1:0
start theirs "$WORK/go.log" "$WORK/go-peer" -addr 127.0.0.1:0
sleep 1

run() { # run HOSTPORT PATH -> "rps non200"
    local out rps non200 url="http://$1/debug/pprof/${2#/}"
    if [ "$CLIENT" = wrk ]; then
        out=$(wrk -t1 -c"$CONCURRENCY" -d"$DURATION" "$url")
        rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
        non200=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
        echo "$rps ${non200:-0}"
        return
    fi
    out=$(hey -z "$DURATION" -c "$CONCURRENCY" "$url")
    rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
    non200=$(awk '/^  \[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); if ($1 != 200) n += $2 } END { print n + 0 }' <<<"$out")
    echo "$rps $non200"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

printf '%-10s %12s %12s %8s %s\n' path pprofd_rps go_rps ratio "non-200 (pprofd/go)"
for path in $PATHS; do
    : >"$WORK/a"
    : >"$WORK/b"
    errs_a=0
    errs_b=0
    for _ in $(seq 1 "$ROUNDS"); do
        read -r r e < <(run "$ours" "$path")
        echo "$r" >>"$WORK/a"
        errs_a=$((errs_a + e))
        read -r r e < <(run "$theirs" "$path")
        echo "$r" >>"$WORK/b"
        errs_b=$((errs_b + e))
    done
    a=$(median <"$WORK/a")
    b=$(median <"$WORK/b")
    printf '%-10s %12.0f %12.0f %8.2f %s/%s   (runs: %s | %s)\n' "$path" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')" "$errs_a" "$errs_b" \
        "$(tr '\n' ' ' <"$WORK/a")" "$(tr '\n' ' ' <"$WORK/b")"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
