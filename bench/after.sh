#!/usr/bin/env bash
# After-batch benchmarks (issue 6), release build, the simulator in its own `tpbulk sim` process. One batch of ROWS
# OTAA devices is imported, then each command is timed (wall seconds, peak RSS) with no rate limit, --concurrency 16:
#   verify (one listing pass), health --days 7 (one traffic call per device + every alarm page),
#   health --format jsonl, rollback --yes (one DELETE per device).
# Usage: bench/after.sh [ROWS]   (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-20000}

source bench/lib.sh
export TPBULK_JOURNAL="$WORK/after.db"
start_sim

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
