# Shared by test-scrape-alloy.sh and test-scrape-parca.sh: replay a
# continuous profiler's default scrape requests against a pprofd process,
# the way the scraper itself schedules them, and judge every answer the way
# the scraper does (status 200, a non-empty body that google/pprof's parser
# accepts; `go tool pprof` is that parser, vendored in Go). /allocs must
# also stay cumulative with Go's sample types, since Alloy computes its
# deltas itself.
#
# Neither Grafana Alloy nor Parca is installable here, so the requests are
# written down from their sources (see docs/continuous-profiling.md):
#
#   Alloy pyroscope.scrape  interval 15 s, timeout 10 s; profile.process_cpu
#     (delta) asks /debug/pprof/profile?seconds=<interval - 1 s> with the
#     timeout raised by interval - 1 s; profile.memory /debug/pprof/allocs,
#     profile.goroutine /debug/pprof/goroutine, profile.mutex
#     /debug/pprof/mutex, profile.block /debug/pprof/block, each a plain
#     GET. (internal/component/pyroscope/scrape/scrape.go, scrape_loop.go)
#   Parca  interval 10 s, timeout interval + 3 s; the same five paths,
#     process_cpu (delta) with seconds=<interval>. (pkg/config/config.go,
#     pkg/scrape/target.go)
#
# Each profile type is its own target with its own loop; a loop ticks every
# interval and, like Go's time.Ticker, fires at once (just once) when a
# scrape overran its tick. All loops start together, at t=0, the harshest
# alignment (the scrapers spread targets by a hash-based offset).
#
# Environment, to run shorter while developing:
#   SCRAPE_DURATION  seconds to keep scraping (default 60)
#   SCRAPE_INTERVAL  seconds between scrapes (default: the scraper's)
#   SCRAPE_SECONDS   the CPU profile's seconds= (default: the scraper's rule)
#   SCRAPE_TARGET    base URL of a running target, e.g. http://127.0.0.1:6060
#                    (default: start pprofd-demo on a free port); useful to
#                    replay against Go's own net/http/pprof for comparison.
#
# While the target answers an endpoint with 501 (not implemented yet), the
# test is skipped (exit 77) naming the endpoint; any other failure fails.

SCRAPE_DURATION=${SCRAPE_DURATION:-60}

# The paths every default configuration of both scrapers requests.
SCRAPE_PATHS="/debug/pprof/profile /debug/pprof/allocs /debug/pprof/goroutine /debug/pprof/mutex /debug/pprof/block"

# scrape_requests CPU_SECONDS: the requests both scrapers' defaults make, one
# per line; they differ only in the CPU profile's seconds. The replay makes
# these, and test-scrape-configs.sh holds the documented configs to them.
scrape_requests() {
    local path
    for path in $SCRAPE_PATHS; do
        case $path in
        */profile) echo "$path?seconds=$1" ;;
        *) echo "$path" ;;
        esac
    done
}

now_ns() { date +%s%N; }

# sleep_until NS: sleep until the wall clock reads NS.
sleep_until() {
    local left=$(($1 - $(now_ns)))
    if ((left > 0)); then
        sleep "$(printf '%d.%09d' $((left / 1000000000)) $((left % 1000000000)))"
    fi
}

# allocs_values RAW: one line per sample of a `go tool pprof -raw` dump:
# a key that names the sample across scrapes of one process (its stack's
# addresses and its labels), then alloc_objects and alloc_space, summed
# over samples with the same key.
allocs_values() {
    awk '
        /^Samples:/ { section = "samples"; next }
        /^Locations/ { section = "locations"; next }
        /^Mappings/ { section = "mappings"; next }
        section == "samples" && $1 ~ /^-?[0-9]+$/ && index($0, ":") {
            n++
            split(substr($0, 1, index($0, ":") - 1), values, " ")
            objects[n] = values[1]; space[n] = values[2]
            ids[n] = substr($0, index($0, ":") + 1); labels[n] = ""
            next
        }
        section == "samples" && n && /^ +[^ ]+:\[/ { sub(/^ +/, ""); labels[n] = labels[n] " " $0; next }
        section == "locations" && $1 ~ /^[0-9]+:$/ { address[substr($1, 1, length($1) - 1)] = $2 }
        END {
            for (i = 1; i <= n; i++) {
                key = ""
                count = split(ids[i], stack, " ")
                for (j = 1; j <= count; j++) key = key address[stack[j]] ","
                key = key labels[i]
                sum_objects[key] += objects[i]; sum_space[key] += space[i]
            }
            # %.0f, not %d: mawk clamps %d to 2^31 - 1, and bytes exceed it.
            for (key in sum_objects) printf "%s\t%.0f\t%.0f\n", key, sum_objects[key], sum_space[key]
        }' <<<"$1"
}

# allocs_decreases PREVIOUS CURRENT: the samples whose alloc_objects or
# alloc_space went down (or that vanished) between two allocs_values.
allocs_decreases() {
    awk -F '\t' '
        NR == FNR { objects[$1] = $2; space[$1] = $3; next }
        { now_objects[$1] = $2; now_space[$1] = $3 }
        END {
            for (key in objects) {
                if (!(key in now_objects))
                    print "vanished: " key " (" objects[key] " objects, " space[key] " bytes)"
                else if (now_objects[key] < objects[key] || now_space[key] < space[key])
                    print "decreased: " key " objects " objects[key] " -> " now_objects[key] \
                        ", bytes " space[key] " -> " now_space[key]
            }
        }' "$1" "$2"
}

# judge_answer NAME PATH CODE BODY INDEX: check one answer as the scraper
# would; print the verdict (ok or FAIL ...). For /allocs it leaves the
# sample values in BODY.values for check_allocs_cumulative.
judge_answer() {
    local name=$1 path=$2 code=$3 body=$4 index=$5 raw
    if [ "$code" != 200 ]; then
        echo "FAIL $path #$index: status $code: $(head -c 200 "$body" 2>/dev/null | tr '\n' ' ')"
        return
    fi
    [ -s "$body" ] || { echo "FAIL $path #$index: empty body"; return; }
    if ! raw=$(go tool pprof -raw -symbolize=none "$body" 2>&1); then
        echo "FAIL $path #$index: google/pprof cannot parse it: $(head -c 300 <<<"$raw")"
        return
    fi
    case $path in
    */allocs)
        grep -qE '^alloc_objects/count alloc_space/bytes(\[dflt\])? inuse_objects/count inuse_space/bytes' <<<"$raw" ||
            { echo "FAIL $path #$index: not Go's allocs sample types: $(grep -m1 / <<<"$raw")"; return; }
        allocs_values "$raw" >"$body.values"
        ;;
    */mutex | */block)
        grep -q '^contentions/count delay/nanoseconds$' <<<"$raw" ||
            { echo "FAIL $path #$index: not Go's contentions/count delay/nanoseconds"; return; }
        ;;
    esac
    echo "ok $path #$index"
}

# scrape_loop NAME PATH QUERY TIMEOUT: one target's loop, from SCRAPE_START
# for SCRAPE_DURATION seconds. Each answer is judged in the background, so
# that the slow `go tool pprof` (a subprocess, where a scraper parses in
# memory) does not push the next scrape off its tick.
scrape_loop() {
    local name=$1 path=$2 query=$3 timeout=$4
    local interval_ns=$((SCRAPE_INTERVAL * 1000000000)) end_ns=$((SCRAPE_START + SCRAPE_DURATION * 1000000000))
    local tick=$SCRAPE_START index=0 started code body
    while ((tick < end_ns)); do
        sleep_until "$tick"
        started=$(now_ns)
        body=$SCRAPE_DIR/$name.$index
        code=$(curl -s -o "$body" -w '%{http_code}' --max-time "$timeout" \
            -H "User-Agent: $SCRAPE_USER_AGENT" -H 'Accept-Encoding: gzip' \
            "$SCRAPE_BASE$path$query") || code="none (curl exit $?)"
        printf '%6.1fs %5.1fs' "$(((started - SCRAPE_START) / 1000000))e-3" \
            "$((($(now_ns) - started) / 1000000))e-3" >"$body.when"
        judge_answer "$name" "$path$query" "$code" "$body" "$index" >"$body.verdict" &
        index=$((index + 1))
        # The next tick after this scrape's start; if it has passed already,
        # the loop goes at once, as a Go ticker's buffered tick does.
        while ((tick <= started)); do tick=$((tick + interval_ns)); done
    done
    wait
    echo "$index" >"$SCRAPE_DIR/$name.count"
}

# check_allocs_cumulative NAME: each parsed /allocs against the one before:
# no sample may go down or vanish (Alloy subtracts consecutive scrapes).
check_allocs_cumulative() {
    local name=$1 count index previous="" decreases
    count=$(cat "$SCRAPE_DIR/$name.count")
    for ((index = 0; index < count; index++)); do
        [ -f "$SCRAPE_DIR/$name.$index.values" ] || continue
        if [ -n "$previous" ]; then
            decreases=$(allocs_decreases "$SCRAPE_DIR/$name.$previous.values" "$SCRAPE_DIR/$name.$index.values")
            [ -z "$decreases" ] ||
                echo "FAIL #$index is not cumulative since #$previous: $(head -5 <<<"$decreases")" \
                    >>"$SCRAPE_DIR/$name.$index.verdict"
        fi
        previous=$index
    done
}

# probe_endpoints QUERY_FOR_PROFILE: one plain request per endpoint before
# the replay: skip (77) while an endpoint is not implemented, fail on
# anything else that is not 200.
probe_endpoints() {
    local path query code missing=""
    for path in $SCRAPE_PATHS; do
        case $path in */profile) query="?seconds=1" ;; *) query="" ;; esac
        code=$(curl -s -o "$SCRAPE_DIR/probe" -w '%{http_code}' --max-time 30 "$SCRAPE_BASE$path$query") || code="none"
        case $code in
        200) ;;
        501) missing="$missing $path" ;;
        *) fail "probe: GET $path$query answered $code: $(head -c 200 "$SCRAPE_DIR/probe")" ;;
        esac
    done
    if [ -n "$missing" ]; then
        echo "SKIP: not implemented yet (501):$missing; the $SCRAPE_NAME replay needs every default endpoint"
        exit 77
    fi
}

# replay_scraper NAME CPU_SECONDS PLAIN_TIMEOUT CPU_TIMEOUT USER_AGENT
# (CPU_SECONDS and the timeouts are given for the interval in effect.)
replay_scraper() {
    SCRAPE_NAME=$1
    local cpu_seconds=$2 plain_timeout=$3 cpu_timeout=$4
    SCRAPE_USER_AGENT=$5
    SCRAPE_DIR=$WORK/scrapes
    mkdir -p "$SCRAPE_DIR"

    if [ -n "${SCRAPE_TARGET:-}" ]; then
        SCRAPE_BASE=${SCRAPE_TARGET%/}
    else
        start_server "$BUILD/pprofd-demo" --addr 127.0.0.1:0
        SCRAPE_BASE=http://127.0.0.1:$PORT
    fi
    probe_endpoints

    echo "replaying $SCRAPE_NAME's defaults against $SCRAPE_BASE for ${SCRAPE_DURATION}s:" \
        "every ${SCRAPE_INTERVAL}s, CPU profile seconds=$cpu_seconds"
    SCRAPE_START=$(now_ns)
    local pids="" request path name query timeout
    for request in $(scrape_requests "$cpu_seconds"); do
        path=${request%%\?*}
        query=${request#"$path"}
        name=${path##*/}
        timeout=$plain_timeout
        [ -z "$query" ] || timeout=$cpu_timeout
        scrape_loop "$name" "$path" "$query" "$timeout" &
        pids="$pids $!"
    done
    # shellcheck disable=SC2086
    wait $pids

    check_allocs_cumulative allocs

    local failed=0 count index
    for path in $SCRAPE_PATHS; do
        name=${path##*/}
        count=$(cat "$SCRAPE_DIR/$name.count")
        [ "$count" -gt 0 ] || fail "$path: no scrape happened"
        # Start, duration, verdict: one line per scrape.
        echo "--- $SCRAPE_NAME $path:"
        for ((index = 0; index < count; index++)); do
            echo "$(cat "$SCRAPE_DIR/$name.$index.when") $(paste -sd ' ' "$SCRAPE_DIR/$name.$index.verdict")"
        done | tee "$SCRAPE_DIR/$name.log"
        if grep -q 'FAIL' "$SCRAPE_DIR/$name.log"; then
            failed=1
        else
            pass "$SCRAPE_NAME $path: $count scrapes, every one 200 and parsed by google/pprof"
        fi
    done
    [ "$failed" = 0 ] || fail "$SCRAPE_NAME replay: some scrapes failed (above)"
    if [ -n "${SERVER_PID:-}" ]; then
        stop_server || fail "demo did not exit cleanly after the replay"
    fi
}
