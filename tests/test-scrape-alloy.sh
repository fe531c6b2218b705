# Grafana Alloy's pyroscope.scrape with its defaults, replayed against the
# demo for a minute (tests/scrape_replay.sh says what and how): every
# answer a 200 that google/pprof parses, /allocs cumulative.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scrape_replay.sh"

# Defaults: interval 15 s; the CPU profile asks for interval - 1 s
# (delta_profiling_duration) and gets the 10 s timeout plus that much.
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-15}
cpu_seconds=${SCRAPE_SECONDS:-$((SCRAPE_INTERVAL - 1))}
replay_scraper alloy "$cpu_seconds" 10 $((10 + SCRAPE_INTERVAL - 1)) "Alloy/v1.x (pprofd replay)"
