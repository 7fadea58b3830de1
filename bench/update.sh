#!/usr/bin/env bash
# Requests of an update batch (issue 15, Speed), counted by the simulator (`GET /_sim/stats`, requests by route): a
# fresh `tpbulk sim`, an import of ROWS OTAA devices, then `import --on-existing update` of the same file with the
# Name of every 10th row changed (10 % of the devices), and the same update once more (nothing left to change).
#   requests per device = every request of the update batch ÷ ROWS; goal: at most one read and one write per
#   changed device (PUT + GET of one device ≤ 2 × changed), no write for an unchanged one (PUT = changed).
# Usage: bench/update.sh [ROWS [SUBSCRIPTION]]   (default 10000 0: no other devices on the platform)
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-10000}
SUB=${2:-0}
SIM_WAIT=3000
source bench/lib.sh
export TPBULK_JOURNAL="$WORK/update.db"

stats() { curl -fsS "$THINGPARK_URL/_sim/stats"; }
total() { jq '[.requests[]] | add // 0' <<<"$1"; }
route() { jq --arg r "$2" '.requests[$r] // 0' <<<"$1"; }
diff_route() { echo $(( $(route "$2" "$3") - $(route "$1" "$3") )); }

start_sim --preload "$SUB"
"$GEN" otaa "$ROWS" "$WORK/ship.csv" >/dev/null
"$BIN" import "$WORK/ship.csv" --rate 0 --concurrency 16 -q >/dev/null
# Every 10th row renamed (Name is the 4th column of the generated file).
awk -F, -v OFS=, 'NR > 1 && (NR - 1) % 10 == 0 { $4 = $4 " (moved)" } { print }' "$WORK/ship.csv" >"$WORK/update.csv"
changed=$(( ROWS / 10 ))

run_update() {
    local s0 s1 started ended
    s0=$(stats)
    started=$(date +%s.%N)
    "$BIN" import "$WORK/update.csv" --on-existing update --again --rate 0 --concurrency 16 -q >"$WORK/update.out"
    ended=$(date +%s.%N)
    s1=$(stats)
    local all puts reads lists
    all=$(( $(total "$s1") - $(total "$s0") ))
    puts=$(diff_route "$s0" "$s1" "PUT /devices/{id}")
    reads=$(diff_route "$s0" "$s1" "GET /devices/{id}")
    lists=$(diff_route "$s0" "$s1" "GET /devices")
    printf '| %s | %d | %d | %d | %d | %d | %d | %.3f | %.1f s |\n' "$1" "$ROWS" "$2" "$all" "$puts" "$reads" "$lists" \
        "$(echo "$all / $ROWS" | bc -l)" "$(echo "$ended - $started" | bc -l)"
    [[ $puts -eq $2 ]] || { echo "expected $2 updates, saw $puts"; exit 1; }
}

printf '| run | rows | changed | requests | PUT /devices/{uid} | GET /devices/{uid} | GET /devices (look-ups) | requests per device | wall (--rate 0) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
run_update "10 % renamed" "$changed"
# Each changed device updated exactly once, by the simulator's own count.
once=$(jq '[.updates[]] | map(select(. == 1)) | length' <<<"$(stats)")
[[ $once -eq $changed ]] || { echo "expected $changed devices updated once, saw $once"; exit 1; }
run_update "again, nothing to change" 0
stop_sim
