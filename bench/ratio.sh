#!/usr/bin/env bash
# The import/wrk ratio of issue 7, in interleaved rounds so that both sides of each ratio meet the same machine (on a
# shared VM the same run varies by up to 2x from one minute to the next). Each round:
#   1. `wrk -t2 -c16` POSTs the tutorial's OTAA body with a fresh DevEUI per request for DURATION (bench/sim/create.lua)
#      on a fresh simulator;
#   2. `tpbulk import --concurrency 16 --rate 0` of ROWS OTAA rows on another fresh simulator: devices/s over its
#      sending phase, the whole importer (journal commit before every request) included.
# Prints one Markdown row per round, then the median ratio (three decimals: a goal of 0.5 is not met by rounding).
# Usage: bench/ratio.sh [ROUNDS, default 5] [ROWS, default 50000] [DURATION, default 5s]
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-5}
ROWS=${2:-50000}
DURATION=${3:-5s}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

source bench/lib.sh

"$GEN" otaa "$ROWS" "$WORK/ratio.csv" >/dev/null
: >"$WORK/ratios"
echo "| round | \`wrk -c16\` req/s | \`import\` devices/s | ratio |"
echo "|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
    start_sim
    # The simulator's own fixed credentials (bench/lib.sh), not a secret.
    token=$(curl -sf -d "grant_type=client_credentials&client_id=$THINGPARK_CLIENT_ID&client_secret=$THINGPARK_CLIENT_SECRET" \
        "$THINGPARK_URL/users-auth/protocol/openid-connect/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
    rps=$(wrk -t2 -c16 -d"$DURATION" -s bench/sim/create.lua "$THINGPARK_URL" -- "$token" |
        sed -n 's/^Requests\/sec: *//p')
    stop_sim

    start_sim
    rm -f "$WORK/ratio.db"*
    "$BIN" import "$WORK/ratio.csv" --journal "$WORK/ratio.db" --concurrency 16 --rate 0 >"$WORK/ratio.out" 2>/dev/null
    dps=$(sed -n 's/.*(\([0-9.]*\) devices\/s.*/\1/p' "$WORK/ratio.out" | tail -1)
    stop_sim

    ratio=$(awk -v a="$dps" -v b="$rps" 'BEGIN{ printf "%.3f", a / b }')
    echo "$ratio $rps $dps" >>"$WORK/ratios"
    echo "| $round | $rps | $dps | $ratio |"
done
sort -n "$WORK/ratios" | awk '{ r[NR] = $1; w[NR] = $2; d[NR] = $3 }
    END { m = int((NR + 1) / 2); printf "median ratio %s (wrk %s req/s, import %s devices/s), range %s to %s over %d rounds\n",
          r[m], w[m], d[m], r[1], r[NR], NR }'
