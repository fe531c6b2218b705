# Hostile and malformed requests each get their exact status and a
# one-line reason, checked before any endpoint runs: paths match exactly
# (no percent-encoding, "//" or ".."), methods are checked with Allow,
# parameters pprofd reads are strict, HTTP/1.1 needs Host, bodies are read
# only for POST /symbol. With PPROFD_TOKEN every endpoint wants the token.
source "$(dirname "$0")/lib.sh"

# raw REQUEST: send it as is on a fresh connection; print the status code.
raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    printf '%b' "$1" >&3
    local line
    IFS= read -r -t 10 line <&3 || line=
    exec 3<&- 3>&-
    awk '{ print $2 }' <<<"$line"
}

expect() { # expect STATUS PATH [curl args...]
    local want=$1 path=$2
    shift 2
    local got
    got=$(status "http://127.0.0.1:$PORT$path" "$@")
    [ "$got" = "$want" ] || fail "$* $path: want $want, got $got"
}

start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 "$BUILD/tests/host-alloc_host"

expect 200 /debug/pprof/heap
for p in '/debug/pprof/heap%00' '/debug/pprof/heap%00anything' '/debug/pprof/%68eap' \
    '/debug/pprof//heap' '/debug/pprof/../pprof/heap' '/debug/pprof/heap/' '/debug/pprof/nope'; do
    expect 404 "$p" --path-as-is
done
expect 405 /debug/pprof/heap -X PUT
allow=$(curl -s -o /dev/null -D - -X PUT "http://127.0.0.1:$PORT/debug/pprof/symbol" | tr -d '\r' | awk -F': ' 'tolower($1) == "allow" { print $2 }')
[ "$allow" = "GET, HEAD, POST" ] || fail "PUT /symbol: Allow is '$allow'"
expect 400 '/debug/pprof/heap?seconds'
expect 400 '/debug/pprof/heap?seconds=1%00'
expect 400 '/debug/pprof/heap?debug=1&debug=1'
expect 400 '/debug/pprof/heap?gc=x'
expect 200 '/debug/pprof/heap?unknown=1&other'
many=$(printf 'debug=1&%.0s' $(seq 1 600))
expect 400 "/debug/pprof/heap?${many%&}"
body=$(curl -s "http://127.0.0.1:$PORT/debug/pprof/heap?seconds")
[ "$(printf '%s' "$body" | wc -l)" -le 1 ] || fail "a reason of more than one line: $body"
[ "$(raw 'GET /debug/pprof/cmdline HTTP/1.1\r\nConnection: close\r\n\r\n')" = 400 ] ||
    fail "HTTP/1.1 without Host was not 400"
[ "$(raw 'GET /debug/pprof/cmdline HTTP/1.0\r\n\r\n')" = 200 ] || fail "HTTP/1.0 without Host refused"
# A large body sent to a path that takes none is not kept: the answer is
# the route's (405 here), not 413.
head -c 2000000 /dev/zero >"$WORK/big"
expect 405 /debug/pprof/heap -X POST --data-binary @"$WORK/big"
expect 413 /debug/pprof/symbol -X POST --data-binary @"$WORK/big"
stop_server || true
pass "paths exact, methods with Allow, strict parameters, Host, bodies only for /symbol"

# --- A bearer token.
echo 'file-secret' >"$WORK/token"
start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 PPROFD_TOKEN=s3cret \
    "$BUILD/tests/host-alloc_host"
expect 401 /debug/pprof/
expect 401 /debug/pprof/heap
expect 401 /debug/pprof/heap -H 'Authorization: Bearer wrong'
expect 401 /debug/pprof/heap -H 'Authorization: Bearer s3cre'
expect 200 /debug/pprof/heap -H 'Authorization: Bearer s3cret'
hdr=$(curl -s -o /dev/null -D - "http://127.0.0.1:$PORT/debug/pprof/heap" | tr -d '\r' | grep -i '^WWW-Authenticate:' || true)
[ -n "$hdr" ] || fail "401 without WWW-Authenticate"
! grep -q s3cret "$SERVER_LOG" || fail "the token shows in the host's output"
stop_server || true
start_server env LD_PRELOAD="$BUILD/libpprofd.so" PPROFD_ADDR=127.0.0.1:0 PPROFD_TOKEN_FILE="$WORK/token" \
    "$BUILD/tests/host-alloc_host"
expect 401 /debug/pprof/heap
expect 200 /debug/pprof/heap -H 'Authorization: Bearer file-secret'
stop_server || true
pass "PPROFD_TOKEN and PPROFD_TOKEN_FILE: 401 without the token, 200 with it"
