#!/usr/bin/env bash
# The cost pprofd adds to every program a preloaded process runs: N runs
# of /bin/true from a shell, without pprofd, preloaded with no server, and
# preloaded under a parent that serves PPROFD_ADDR (the children stay
# quiet). Prints milliseconds per exec, the median of ROUNDS, alternating.
#
#   load/bench-exec.sh [build-dir]      N (500), ROUNDS (5)
set -euo pipefail
BUILD=${1:-build}
N=${N:-500}
ROUNDS=${ROUNDS:-5}
LIB=$(realpath "$BUILD/libpprofd.so")
port=$((20000 + $$ % 20000))
loop="i=0; while [ \$i -lt $N ]; do /bin/true; i=\$((i + 1)); done"

ms_per_exec() { # env...: one round, ms per exec
    local t0 t1
    t0=$(date +%s%N)
    env "$@" sh -c "$loop"
    t1=$(date +%s%N)
    awk -v d=$((t1 - t0)) -v n="$N" 'BEGIN { printf "%.3f\n", d / n / 1e6 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: >/tmp/bench-exec.$$.a; : >/tmp/bench-exec.$$.b; : >/tmp/bench-exec.$$.c
for _ in $(seq 1 "$ROUNDS"); do
    ms_per_exec X=1 >>/tmp/bench-exec.$$.a
    ms_per_exec LD_PRELOAD="$LIB" >>/tmp/bench-exec.$$.b
    ms_per_exec LD_PRELOAD="$LIB" PPROFD_ADDR="127.0.0.1:$port" >>/tmp/bench-exec.$$.c 2>/dev/null
done
a=$(median </tmp/bench-exec.$$.a) b=$(median </tmp/bench-exec.$$.b) c=$(median </tmp/bench-exec.$$.c)
rm -f /tmp/bench-exec.$$.*
echo "ms per exec (median of $ROUNDS x $N): without pprofd $a; preloaded $b; preloaded under a serving parent $c"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
