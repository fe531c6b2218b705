# The Alloy and Parca configurations in docs/ are the ones the scrape
# replays test: read each the way its scraper would (interval, each enabled
# profile's path, seconds= for delta profiles), and compare the requests
# with what test-scrape-alloy.sh and test-scrape-parca.sh replay. Neither
# scraper is installable here, so their own parsers cannot check the files;
# this holds them to the replayed contract instead. The documentation must
# show the files verbatim.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scrape_replay.sh"

ALLOY=$SRC/docs/scrape/pprofd.alloy
PARCA=$SRC/docs/scrape/parca.yaml
DOC=$SRC/docs/continuous-profiling.md

# seconds_of "15s": 15 (whole seconds only, as both configs use).
seconds_of() { sed -n 's/^"\{0,1\}\([0-9][0-9]*\)s"\{0,1\}$/\1/p' <<<"$1"; }

# Alloy: attributes `name = value`, blocks `profile.<type> { ... }`.
alloy_setting() {
    awk -v key="$1" '$1 == key && $2 == "=" { gsub(/"/, "", $3); print $3; exit }' "$ALLOY"
}
alloy_profiles() { # type enabled path delta
    awk '
        $1 ~ /^profile\./ && $2 == "{" { type = substr($1, 9); enabled = "false"; path = ""; delta = "false"; next }
        type && $1 == "enabled" { enabled = $3 }
        type && $1 == "path" { path = $3; gsub(/"/, "", path) }
        type && $1 == "delta" { delta = $3 }
        type && $1 == "}" { print type, enabled, path, delta; type = "" }' "$ALLOY"
}
alloy_interval=$(seconds_of "$(alloy_setting scrape_interval)")
[ "$alloy_interval" = 15 ] || fail "Alloy config: scrape_interval is not the default 15s"
[ "$(seconds_of "$(alloy_setting scrape_timeout)")" = 10 ] || fail "Alloy config: scrape_timeout is not the default 10s"
# A delta profile asks for delta_profiling_duration, by default interval - 1 s.
alloy_seconds=$(seconds_of "$(alloy_setting delta_profiling_duration)")
alloy_seconds=${alloy_seconds:-$((alloy_interval - 1))}
alloy_requests=$(alloy_profiles | awk -v s="$alloy_seconds" '
    $2 == "true" { print ($4 == "true") ? $3 "?seconds=" s : $3 }' | sort)
[ "$alloy_requests" = "$(scrape_requests 14 | sort)" ] ||
    fail "Alloy config requests differ from the replay's:
$(diff <(echo "$alloy_requests") <(scrape_requests 14 | sort))"
grep -q 'SCRAPE_INTERVAL:-15}' "$SRC/tests/test-scrape-alloy.sh" || fail "the Alloy replay's interval is not 15 s"
grep -q 'forward_to = \[pyroscope.write.pyroscope.receiver\]' "$ALLOY" ||
    fail "Alloy config does not forward to its pyroscope.write"
pass "Alloy config requests what the replay sends: $(tr '\n' ' ' <<<"$alloy_requests")"

# Parca: YAML; the profiles are the keys under pprof_config.
parca_setting() {
    awk -v key="$1:" '$1 == key { gsub(/"/, "", $2); print $2; exit }' "$PARCA"
}
parca_profiles() { # type enabled path delta
    awk '
        function flush() { if (type) print type, enabled, path, delta; type = "" }
        /^ *pprof_config: *$/ { in_pprof = 1; depth = -1; next }
        in_pprof {
            match($0, /^ */); indent = RLENGTH
            if ($0 ~ /^ *(#.*)?$/) next
            if (depth < 0) depth = indent
            if (indent < depth) { flush(); in_pprof = 0; next }
            if (indent == depth) { flush(); type = $1; sub(/:$/, "", type); enabled = "true"; path = ""; delta = "false"; next }
            v = $2; gsub(/"/, "", v)
            if ($1 == "enabled:") enabled = v
            if ($1 == "path:") path = v
            if ($1 == "delta:") delta = v
        }
        END { flush() }' "$PARCA"
}
parca_interval=$(seconds_of "$(parca_setting scrape_interval)")
[ "$parca_interval" = 10 ] || fail "Parca config: scrape_interval is not the default 10s"
parca_requests=$(parca_profiles | awk -v s="$parca_interval" '
    $2 == "true" { print ($4 == "true") ? $3 "?seconds=" s : $3 }' | sort)
[ "$parca_requests" = "$(scrape_requests 10 | sort)" ] ||
    fail "Parca config requests differ from the replay's:
$(diff <(echo "$parca_requests") <(scrape_requests 10 | sort))"
grep -q 'SCRAPE_INTERVAL:-10}' "$SRC/tests/test-scrape-parca.sh" || fail "the Parca replay's interval is not 10 s"
pass "Parca config requests what the replay sends: $(tr '\n' ' ' <<<"$parca_requests")"

# fenced LANG: the first ```LANG block of the documentation.
fenced() {
    awk -v open="\`\`\`$1" '$0 == open { inside = 1; next } inside && $0 == "```" { exit } inside' "$DOC"
}
diff <(fenced alloy) "$ALLOY" >"$WORK/alloy.diff" || fail "$DOC shows another Alloy config: $(cat "$WORK/alloy.diff")"
diff <(fenced yaml) "$PARCA" >"$WORK/parca.diff" || fail "$DOC shows another Parca config: $(cat "$WORK/parca.diff")"
pass "docs/continuous-profiling.md shows both configs verbatim"
