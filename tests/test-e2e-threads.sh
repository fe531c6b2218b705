# Thread dumps of an unmodified program under LD_PRELOAD: named threads,
# busy, blocked in read, pthread_cond_wait and nanosleep, and one
# that blocks every signal. Judged with go tool pprof and /proc.
source "$(dirname "$0")/lib.sh"

HOST=$BUILD/tests/host-threads_host
LIB=$BUILD/libpprofd.so

start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 "$HOST"
wait_for_output '^ready$'

# summarize PROFILE: one line per sample, "thread|server|count|frames|reason",
# from go tool pprof -traces (names from the profile only).
summarize() {
    go tool pprof -symbolize=none -traces "$1" 2>"$WORK/pprof.err" ||
        fail "go tool pprof cannot read $1: $(cat "$WORK/pprof.err")"
}
summarize_traces() {
    awk '
        function flush() { if (count != "") print name "|" server "|" count "|" frames "|" reason
                           name = ""; server = 0; count = ""; frames = ""; reason = "" }
        /^-+\+-+$/ { flush(); next }
        /^ +thread: / { sub(/^ +thread: +/, ""); name = $0; next }
        /^ +pprofd: / { server = 1; next }
        /^ +reason: / { sub(/^ +reason: +/, ""); reason = $0; next }
        /^ +tid: / { next }
        count == "" && $1 ~ /^-?[0-9]+$/ { count = $1; sub(/^ *-?[0-9]+ +/, ""); frames = $0; next }
        count != "" { sub(/^ +/, ""); frames = frames "," $0 }
        END { flush() }'
}

# Host threads: every task of the process but the server's (libmicrohttpd's
# MHD-* and our pprofd-worker).
host_tasks() {
    local n=0 t name
    for t in /proc/"$SERVER_PID"/task/*; do
        read -r name <"$t/comm" || continue
        case "$name" in MHD-* | pprofd-*) ;; *) n=$((n + 1)) ;; esac
    done
    echo $n
}

host_before=$(host_tasks)
fetch "$BASE/threads" "$WORK/threads.out"
host_after=$(host_tasks)
[ "$host_before" = "$host_after" ] || fail "host threads changed during the test: $host_before -> $host_after"
[ "$host_before" = 10 ] || fail "host should run 10 threads, /proc says $host_before"

pprof_raw "$WORK/threads.out" | grep -q '^threads/count$' || fail "threads: sample type"
lines=$(summarize "$WORK/threads.out" | summarize_traces)
echo "$lines"

# Counts: the host's threads exactly, and the server's own, marked.
host_total=$(awk -F'|' '$2 == 0 { s += $3 } END { print s + 0 }' <<<"$lines")
server_total=$(awk -F'|' '$2 == 1 { s += $3 } END { print s + 0 }' <<<"$lines")
[ "$host_total" = "$host_before" ] ||
    fail "threads profile counts $host_total host threads, /proc/PID/task has $host_before"
[ "$server_total" -ge 2 ] || fail "the server's threads (its pool, this request's worker) are not marked: $server_total"
grep -qE '^(MHD-[a-z]*|pprofd-worker)\|1\|1\|.*pprofd__thread_dump_capture' <<<"$lines" ||
    fail "the serving thread is not shown capturing"
pass "threads profile: $host_total host threads as in /proc, $server_total server threads marked"

# expect THREAD COUNT FUNCTION: the thread(s) named THREAD, COUNT of them in
# one sample, stopped in (or under) FUNCTION.
expect() {
    local got
    got=$(awk -F'|' -v n="$1" '$1 == n' <<<"$lines")
    [ -n "$got" ] || fail "no sample for thread $1"
    awk -F'|' -v c="$2" -v f="$3" '
        { total += $3; if (("," $4 ",") !~ ("," f ",")) bad = 1 }
        END { exit !(total == c && !bad) }' <<<"$got" ||
        fail "thread $1: want $2 thread(s) in $3, got: $got"
}
expect sleeper 3 sleep_in_nanosleep
expect busy 2 spin_forever
expect pipe-reader 1 read_pipe_forever
expect cond-waiter 1 wait_on_condition
expect spawner 1 wait_for_spawn_requests
expect host-threads_ho 1 main
pass "every thread named, in its function (nanosleep, busy, read, cond_wait, main)"

grep -q '^sig-blocker|0|1|\[no answer\]|the thread blocks the signal$' <<<"$lines" ||
    fail "the thread blocking every signal is not reported as such"
blocker_tid=
for t in /proc/"$SERVER_PID"/task/*; do
    read -r name <"$t/comm"
    if [ "$name" = sig-blocker ]; then blocker_tid=${t##*/}; fi
done
pprof_raw "$WORK/threads.out" | grep -q "thread $blocker_tid \"sig-blocker\": \[no answer\]" ||
    fail "the profile's comments do not name thread $blocker_tid"
pass "the thread that blocks every signal: answered without it, named with its tid"

# goroutine: the same data under Go's name.
fetch "$BASE/goroutine" "$WORK/goroutine.out"
pprof_raw "$WORK/goroutine.out" | grep -q '^goroutine/count$' || fail "goroutine: sample type"
glines=$(summarize "$WORK/goroutine.out" | summarize_traces)
[ "$(awk -F'|' '$2 == 0 { s += $3 } END { print s + 0 }' <<<"$glines")" = 10 ] ||
    fail "goroutine profile: host thread count"
pass "goroutine answers the same profile as goroutine/count"

# debug=2: every thread of /proc, with its name, state and frames.
fetch "$BASE/threads?debug=2" "$WORK/dump.txt"
for t in /proc/"$SERVER_PID"/task/*; do
    tid=${t##*/}
    read -r name <"$t/comm"
    case "$name" in MHD-* | pprofd-*) continue ;; esac # the server's: some come and go with requests
    grep -q "^thread $tid \"$name\"\( (pprofd server)\)\? \[[A-Z] ([a-z ]*), user [0-9.]*s, system [0-9.]*s\]:$" \
        "$WORK/dump.txt" || fail "debug=2 lacks thread $tid \"$name\": $(head -c 600 "$WORK/dump.txt")"
done
grep -qE '^thread [0-9]* "(MHD-[a-z]*|pprofd-worker)" \(pprofd server\) \[' "$WORK/dump.txt" ||
    fail "debug=2: the server's threads are not marked"
# The thread's whole block: how many libc frames (inlined ones too) sit
# above read_pipe_forever depends on libc's debug info being installed.
reader_block=$(awk '/^thread / { inside = /"pipe-reader"/ } inside' "$WORK/dump.txt")
grep -q "^read_pipe_forever()$" <<<"$reader_block" || fail "debug=2: pipe-reader's frames"
grep -q "threads_host.c:[0-9]" <<<"$reader_block" ||
    fail "debug=2: no file:line for the host's frames"
grep -A1 "^thread $blocker_tid \"sig-blocker\"" "$WORK/dump.txt" |
    grep -q '^\[no answer\]: the thread blocks the signal$' || fail "debug=2: sig-blocker"
pass "debug=2: every thread with tid, name, state, CPU time, frames with file:line"

# debug=1: Go's count-profile text.
fetch "$BASE/threads?debug=1" "$WORK/debug1.txt"
grep -q '^threads profile: total [0-9]*$' "$WORK/debug1.txt" || fail "debug=1 header"
grep -q '^3 @ 0x' "$WORK/debug1.txt" || fail "debug=1: the three sleepers are not one block"
grep -q $'^#\t0x[0-9a-f]*\tsleep_in_nanosleep\t.*threads_host.c:[0-9]*$' "$WORK/debug1.txt" ||
    fail "debug=1: frames with function and file:line"
grep -q "^#.*\[no answer\].*thread $blocker_tid" "$WORK/debug1.txt" || fail "debug=1: no answer"
pass "debug=1: one block per stack with its count"

# threadcreate: counts per creating call site.
fetch "$BASE/threadcreate" "$WORK/threadcreate.out"
pprof_raw "$WORK/threadcreate.out" | grep -q '^threadcreate/count$' || fail "threadcreate: sample type"
top=$(pprof_top "$WORK/threadcreate.out")
[ "$(flat_of "$top" spawn_sleepers)" = 3 ] || fail "threadcreate: spawn_sleepers made 3: $top"
[ "$(flat_of "$top" spawn_busy)" = 2 ] || fail "threadcreate: spawn_busy made 2: $top"
[ "$(flat_of "$top" main)" = 4 ] || fail "threadcreate: main made 4 directly: $top"
pass "threadcreate counts the threads made at each call site"

# Deltas: one more thread during the window, from spawn_late. The signal
# goes a second after both requests were sent: their first snapshot is
# taken right after the request is read, by one of the server's workers
# (created once with the server, so nothing to wait for); the machine may
# be slow, so no tighter timing is assumed.
curl -s --max-time 60 -o "$WORK/tc-delta.out" -D "$WORK/tc-delta.h" "$BASE/threadcreate?seconds=4" &
tc=$!
curl -s --max-time 60 -o "$WORK/th-delta.out" -D "$WORK/th-delta.h" "$BASE/threads?seconds=4" &
th=$!
sleep 1
kill -USR1 "$SERVER_PID"
wait $tc || fail "threadcreate delta request"
wait $th || fail "threads delta request"
grep -qi '^Content-Disposition: attachment; filename="threadcreate-delta"' "$WORK/tc-delta.h" ||
    fail "threadcreate delta filename: $(cat "$WORK/tc-delta.h")"
grep -qi '^Content-Disposition: attachment; filename="threads-delta"' "$WORK/th-delta.h" ||
    fail "threads delta filename"
top=$(pprof_top "$WORK/tc-delta.out")
[ "$(flat_of "$top" spawn_late)" = 1 ] || fail "threadcreate delta: spawn_late made 1: $top"
[ -z "$(flat_of "$top" spawn_sleepers)" ] || fail "threadcreate delta shows old creations: $top"
dlines=$(summarize "$WORK/th-delta.out" | summarize_traces)
grep -q '^late-sleeper|0|1|.*late_sleeper' <<<"$dlines" || fail "threads delta: the new thread: $dlines"
# Every other host thread is still there: per name, the changes cancel (a
# thread may have moved, e.g. a busy one between its loop and nanosleep,
# which shows as -1 at one stack and +1 at another).
moved=$(awk -F'|' '$2 == 0 && $1 != "late-sleeper" { net[$1] += $3 }
                   END { for (n in net) if (net[n] != 0) print n ": " net[n] }' <<<"$dlines")
[ -z "$moved" ] || fail "threads delta: host threads came or went: $moved; delta: $dlines"
pass "seconds=N: deltas of threadcreate and threads"

# Bad input: Go's answers.
[ "$(status "$BASE/threads?seconds=0")" = 400 ] || fail "seconds=0"
[ "$(status "$BASE/threads?seconds=abc")" = 400 ] || fail "seconds=abc"
[ "$(status "$BASE/threadcreate?seconds=-1")" = 400 ] || fail "threadcreate seconds=-1"
[ "$(status "$BASE/threads?debug=x")" = 400 ] || fail "debug=x"
[ "$(status "$BASE/goroutine?seconds=1&debug=1")" = 400 ] || fail "seconds with debug"
pass "bad parameters are 400s"
