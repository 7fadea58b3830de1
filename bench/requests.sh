#!/usr/bin/env bash
# Requests a batch spends before its first creation, and requests of `verify` (issue 17), counted by the simulator
# (`GET /_sim/stats`, requests by route). For each cell: a fresh `tpbulk sim --preload SUB --max-page-size PAGE`, an
# import of 1 % of the shipment (every 100th row, so scattered) to stand for devices already there, then the import
# of the whole contiguous shipment (--rate 0) and `verify` of it.
#   requests before the first creation = every request of the import except its POST /devices (the import learns
#   what exists before it sends anything); goal ⌈already there ÷ PAGE⌉ + a few prefix requests.
#   verify = every request of verify; goal ⌈batch ÷ PAGE⌉ + a few.
#   listing = what listing the whole subscription took before (⌈(SUB + already there) ÷ PAGE⌉ pages).
# Usage: bench/requests.sh [BATCHES [SUBSCRIPTIONS [PAGES]]]   (default "1000 10000 100000" "0 100000 1000000" "100 1000")
#        bench/requests.sh walltime [ROWS [RATE]]                (default 10000 10: the --rate goal, ~17 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

# A million preloaded devices take a while to insert on a busy machine.
SIM_WAIT=3000
source bench/lib.sh
export TPBULK_JOURNAL="$WORK/requests.db"

# Total requests the simulator saw, and those of one route.
stats() { curl -fsS "$THINGPARK_URL/_sim/stats"; }
total() { jq '[.requests[]] | add // 0' <<<"$1"; }
route() { jq --arg r "$2" '.requests[$r] // 0' <<<"$1"; }

if [[ "${1:-}" == walltime ]]; then
    ROWS=${2:-10000}
    RATE=${3:-10}
    start_sim --preload 100000
    "$GEN" otaa "$ROWS" "$WORK/ship.csv" >/dev/null
    before=$(stats)
    started=$(date +%s.%N)
    "$BIN" import "$WORK/ship.csv" --rate "$RATE" -q >"$WORK/import.out"
    ended=$(date +%s.%N)
    after=$(stats)
    creations=$(( $(route "$after" "POST /devices") - $(route "$before" "POST /devices") ))
    others=$(( $(total "$after") - $(total "$before") - creations ))
    wall=$(echo "$ended - $started" | bc -l)
    ideal=$(echo "($creations + $others) / $RATE" | bc -l)
    printf 'walltime: %d devices at --rate %s into a 100000-device subscription: %.1f s; %d creations + %d other requests (token, catalogue, look-ups) at %s/s = %.1f s; %+.2f %%\n' \
        "$ROWS" "$RATE" "$wall" "$creations" "$others" "$RATE" "$ideal" \
        "$(echo "($wall - $ideal) * 100 / $ideal" | bc -l)"
    stop_sim
    exit 0
fi

BATCHES=${1:-"1000 10000 100000"}
SUBS=${2:-"0 100000 1000000"}
PAGES=${3:-"100 1000"}

printf '| batch | subscription | page | already there | before 1st creation (look-ups) | goal | verify | goal | listing the subscription |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for batch in $BATCHES; do
    "$GEN" otaa "$batch" "$WORK/ship-$batch.csv" >/dev/null
    # 1 % of the rows, scattered: every 100th from the 37th.
    awk 'NR == 1 || (NR - 1) % 100 == 37' "$WORK/ship-$batch.csv" >"$WORK/pre-$batch.csv"
    already=$(( $(wc -l <"$WORK/pre-$batch.csv") - 1 ))
    for sub in $SUBS; do
        for page in $PAGES; do
            rm -f "$TPBULK_JOURNAL"*
            start_sim --preload "$sub" --max-page-size "$page"
            "$BIN" import "$WORK/pre-$batch.csv" --rate 0 -q >/dev/null
            s0=$(stats)
            "$BIN" import "$WORK/ship-$batch.csv" --rate 0 --concurrency 16 -q >"$WORK/import.out"
            s1=$(stats)
            "$BIN" verify "$(sed -n 's/^batch //p' "$WORK/import.out")" -q >"$WORK/verify.out" || {
                echo "verify failed"; cat "$WORK/verify.out"; exit 1; }
            s2=$(stats)
            posts=$(( $(route "$s1" "POST /devices") - $(route "$s0" "POST /devices") ))
            [[ $posts -eq $(( batch - already )) ]] || { echo "expected $(( batch - already )) creations, saw $posts"; exit 1; }
            before=$(( $(total "$s1") - $(total "$s0") - posts ))
            lookups=$(( $(route "$s1" "GET /devices") - $(route "$s0" "GET /devices") + $(route "$s1" "GET /devices/{id}") - $(route "$s0" "GET /devices/{id}") ))
            verify=$(( $(total "$s2") - $(total "$s1") ))
            printf '| %d | %d | %d | %d | %d (%d) | ⌈%d/%d⌉ + few = %d + few | %d | ⌈%d/%d⌉ + few = %d + few | %d |\n' \
                "$batch" "$sub" "$page" "$already" "$before" "$lookups" \
                "$already" "$page" $(( (already + page - 1) / page )) \
                "$verify" "$batch" "$page" $(( (batch + page - 1) / page )) \
                $(( (sub + already + page - 1) / page ))
            stop_sim
        done
    done
done
