#!/usr/bin/env bash
# After-batch benchmarks (issue 6), release build, the simulator in its own `tpbulk sim` process. One batch of ROWS
# OTAA devices is imported, then each command is timed (wall seconds, peak RSS) with no rate limit, --concurrency 16:
#   verify (one listing pass), health --days 7 (one traffic call per device + every alarm page),
#   health --format jsonl, rollback --yes (one DELETE per device).
# Usage: bench/after.sh [ROWS]   (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-20000}

cargo build --release --quiet --bin tpbulk --example gen_shipment
BIN=$PWD/target/release/tpbulk
GEN=$PWD/target/release/examples/gen_shipment
WORK=$(mktemp -d)
SIM_PID=

cleanup() {
    if [[ -n "$SIM_PID" ]]; then kill "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export THINGPARK_CLIENT_ID=tpbulk-sim THINGPARK_CLIENT_SECRET=tpbulk-sim-secret TPBULK_JOURNAL="$WORK/after.db"
unset TPBULK_LOG

"$BIN" sim --listen 127.0.0.1:0 --page-size 100 >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 1 100); do
    if grep -q '^listening on ' "$WORK/sim.out"; then break; fi
    sleep 0.1
done
THINGPARK_URL=$(sed -n 's/^listening on //p' "$WORK/sim.out" | head -1)
[[ -n "$THINGPARK_URL" ]] || { echo "the simulator did not start"; cat "$WORK/sim.err"; exit 1; }
export THINGPARK_URL

"$GEN" otaa "$ROWS" "$WORK/ship.csv" >/dev/null
"$BIN" import "$WORK/ship.csv" --concurrency 16 --rate 0 -q >"$WORK/import.out"
BATCH=$(sed -n 's/^batch //p' "$WORK/import.out")
echo "batch $BATCH: $ROWS devices"

# Runs a command under GNU time; prints its wall time, requests per second over ROWS, and peak RSS.
measure() {
    local name=$1
    shift
    /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
        echo "$name failed"; cat "$WORK/$name.err"; exit 1; }
    read -r wall kib <"$WORK/time.txt"
    printf '%-14s %7.2f s  %8.0f devices/s  %6.1f MiB peak RSS\n' "$name" "$wall" \
        "$(echo "$ROWS / $wall" | bc -l)" "$(echo "$kib / 1024" | bc -l)"
}

measure verify "$BIN" verify "$BATCH"
measure health "$BIN" health "$BATCH" --rate 0 --concurrency 16
measure health-jsonl "$BIN" health "$BATCH" --rate 0 --concurrency 16 --format jsonl
measure rollback "$BIN" rollback "$BATCH" --yes --rate 0 --concurrency 16
tail -1 "$WORK/rollback.out"
