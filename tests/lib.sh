# Shared helpers for the end-to-end test scripts. Source it after setting
# BUILD and SRC (the scripts get them as $1 and $2 from ctest).
set -euo pipefail

BUILD=${1:?build folder}
SRC=${2:?source folder}
WORK=$(mktemp -d)
export PPROF_TMPDIR=$WORK HOME=${HOME:-$WORK}
SERVER_PID=

cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -n "${SERVER_LOG:-}" ] && [ -f "$SERVER_LOG" ]; then
        echo "--- server output:" >&2
        tail -20 "$SERVER_LOG" >&2
    fi
    exit 1
}

pass() { echo "ok: $*"; }

# start_server CMD...: run CMD in the background with its output in
# $SERVER_LOG, and wait until it names the port it serves on (PORT).
start_server() {
    SERVER_LOG=$WORK/server.log
    "$@" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 200); do
        PORT=$(grep -oE '127\.0\.0\.1:[0-9]+' "$SERVER_LOG" | head -1 | cut -d: -f2 || true)
        [ -n "$PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited early"
        sleep 0.05
    done
    [ -n "$PORT" ] || fail "server never said which port it listens on"
    BASE=http://127.0.0.1:$PORT/debug/pprof
}

# wait_for_output PATTERN: until the server's output has a line matching
# PATTERN (grep -E), for at most 60 seconds.
wait_for_output() {
    for _ in $(seq 1 600); do
        grep -qE "$1" "$SERVER_LOG" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited while waiting for '$1'"
        sleep 0.1
    done
    fail "server never printed '$1'"
}

stop_server() {
    kill "$SERVER_PID"
    local rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=
    return $rc
}

# status URL [curl args...]: print the HTTP status code.
status() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' "$@" "$url"
}

# fetch URL FILE: download, failing the test on anything but 200.
fetch() {
    local code
    code=$(curl -s -o "$2" -w '%{http_code}' "$1")
    [ "$code" = 200 ] || fail "GET $1 answered $code: $(head -c 200 "$2")"
}

# pprof_raw FILE: go tool pprof's raw dump, with no symbolization of its
# own: every name in it is one pprofd put there.
pprof_raw() {
    go tool pprof -symbolize=none -raw "$1" 2>"$WORK/pprof.err" ||
        fail "go tool pprof cannot read $1: $(cat "$WORK/pprof.err")"
}

# pprof_top FILE [args]: go tool pprof -top, names from the profile only.
pprof_top() {
    local f=$1
    shift
    go tool pprof -symbolize=none -top "$@" "$f" 2>"$WORK/pprof.err" ||
        fail "go tool pprof cannot read $f: $(cat "$WORK/pprof.err")"
}

# cum_bytes TOPOUTPUT NAME: the cumulative bytes pprof -top -unit=B gives NAME
# (0 when it is not listed).
cum_bytes() {
    awk -v n="$2" '$6 == n { sub("B$", "", $4); print $4; found=1 } END { if (!found) print 0 }' <<<"$1"
}

# within VALUE TRUTH PERCENT: VALUE is within PERCENT% of TRUTH.
within() {
    awk -v v="$1" -v t="$2" -v pct="$3" 'BEGIN { d = v - t; if (d < 0) d = -d; exit !(d <= t * pct / 100) }'
}

# value_of_function TOPOUTPUT NAME: the flat value pprof -top gives NAME.
flat_of() {
    awk -v n="$2" '$6 == n { print $1 }' <<<"$1"
}

# fetch_until URL FILE NAME...: fetch URL into FILE until go tool pprof
# names every NAME (sampling is random and the machine may be slow), for
# at most 60 seconds. Never a fixed sleep: a loaded CI machine is slow.
fetch_until() {
    local url=$1 file=$2
    shift 2
    local top missing
    for _ in $(seq 1 120); do
        fetch "$url" "$file"
        top=$(pprof_top "$file")
        missing=
        for name in "$@"; do
            grep -qw "$name" <<<"$top" || missing="$missing $name"
        done
        [ -z "$missing" ] && return 0
        sleep 0.5
    done
    fail "$url never named$missing: $top"
}
