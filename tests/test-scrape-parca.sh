# Parca's scrape defaults, replayed against the demo for a minute
# (tests/scrape_replay.sh says what and how): every answer a 200 that
# google/pprof parses, /allocs cumulative.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scrape_replay.sh"

# Defaults: interval 10 s, timeout interval + 3 s for every profile; the
# CPU profile (delta) asks for seconds=<interval>.
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-10}
cpu_seconds=${SCRAPE_SECONDS:-$SCRAPE_INTERVAL}
replay_scraper parca "$cpu_seconds" $((SCRAPE_INTERVAL + 3)) $((SCRAPE_INTERVAL + 3)) "conprof/v0.x (pprofd replay)"
