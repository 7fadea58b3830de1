#!/usr/bin/env bash
# CPU per device of the importer and of the simulator, next to wrk's: where the import/wrk ratio goes. On two shared
# cores the ratio is roughly (simulator + wrk CPU per request) / (simulator + importer CPU per device), so this says
# which side a change moved, where wall-clock rates only say that something did. Each round:
#   1. `tpbulk import --concurrency 16 --rate 0` of ROWS OTAA rows on a fresh simulator: the importer's CPU (user +
#      sys, whole command, checks included) and the simulator's, per device;
#   2. `wrk -t2 -c16` creating devices on a fresh simulator for 4 s: wrk's CPU and the simulator's, per request.
# Usage: bench/cpu.sh [ROUNDS, default 3] [ROWS, default 50000] [BIN, default the `profiling` build]
# The `profiling` build is the release code with line tables kept, so that `perf record -g` on the importer or the
# simulator of a round names the functions and lines the CPU goes to.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-3}
ROWS=${2:-50000}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

BENCH_PROFILE=profiling
source bench/lib.sh
BIN=${3:-$BIN}

# CPU ticks (user + sys) a process has used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

"$GEN" otaa "$ROWS" "$WORK/cpu.csv" >/dev/null
echo "| round | import devices/s | importer µs/device | simulator µs/device | wrk req/s | wrk µs/request | simulator µs/request |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
    start_sim
    rm -f "$WORK/cpu.db"*
    before=$(ticks "$SIM_PID")
    /usr/bin/time -f '%U %S' -o "$WORK/import.time" "$BIN" import "$WORK/cpu.csv" --journal "$WORK/cpu.db" \
        --concurrency 16 --rate 0 >"$WORK/import.out" 2>/dev/null
    after=$(ticks "$SIM_PID")
    stop_sim
    dps=$(sed -n 's/.*(\([0-9.]*\) devices\/s.*/\1/p' "$WORK/import.out" | tail -1)
    read -r user sys <"$WORK/import.time"
    imp=$(awk -v u="$user" -v s="$sys" -v n="$ROWS" 'BEGIN { printf "%.1f", (u + s) * 1e6 / n }')
    sim_imp=$(awk -v a="$before" -v b="$after" -v n="$ROWS" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / n }')

    start_sim
    # The simulator's own fixed credentials (bench/lib.sh), not a secret.
    token=$(curl -sf -d "grant_type=client_credentials&client_id=$THINGPARK_CLIENT_ID&client_secret=$THINGPARK_CLIENT_SECRET" \
        "$THINGPARK_URL/users-auth/protocol/openid-connect/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
    before=$(ticks "$SIM_PID")
    /usr/bin/time -f '%U %S' -o "$WORK/wrk.time" wrk -t2 -c16 -d4s -s bench/sim/create.lua "$THINGPARK_URL" -- "$token" \
        >"$WORK/wrk.out"
    after=$(ticks "$SIM_PID")
    stop_sim
    rps=$(sed -n 's/^Requests\/sec: *//p' "$WORK/wrk.out")
    requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
    read -r user sys <"$WORK/wrk.time"
    wrk_cpu=$(awk -v u="$user" -v s="$sys" -v n="$requests" 'BEGIN { printf "%.1f", (u + s) * 1e6 / n }')
    sim_wrk=$(awk -v a="$before" -v b="$after" -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / n }')
    echo "| $round | $dps | $imp | $sim_imp | $rps | $wrk_cpu | $sim_wrk |"
done
