#!/usr/bin/env bash
# Import engine benchmarks (issue 5), release build, the simulator in its own `tpbulk sim` process:
#   1. throughput: --concurrency 16, no rate limit, journal on          (target >= 2,000 devices/s)
#   2. pacing:     --rate 100 over 1,500 devices                        (target within 2% of 100/s)
#   3. memory:     a 1,000,000-row import, peak RSS via /usr/bin/time -v (target <= 128 MiB)
#      and `resume` of that finished batch                              (target < 2 s)
# Usage: bench/import.sh [THROUGHPUT_ROWS] [BIG_ROWS]   (defaults 20000 and 1000000; 0 skips step 1 or step 3)
# The import/wrk ratio is bench/ratio.sh: interleaved rounds, which a shared machine needs.
set -euo pipefail
cd "$(dirname "$0")/.."

THROUGHPUT_ROWS=${1:-20000}
BIG_ROWS=${2:-1000000}

source bench/lib.sh

summary_of() { grep -E '^created [0-9]+' "$1" | tail -1; }

if [[ "$THROUGHPUT_ROWS" -gt 0 ]]; then
    echo "## 1. throughput: $THROUGHPUT_ROWS devices, --concurrency 16, no rate limit"
    "$GEN" otaa "$THROUGHPUT_ROWS" "$WORK/throughput.csv" >/dev/null
    start_sim
    "$BIN" import "$WORK/throughput.csv" --journal "$WORK/throughput.db" --concurrency 16 --rate 0 \
        >"$WORK/throughput.out" 2>"$WORK/throughput.err"
    summary_of "$WORK/throughput.out"
    stop_sim
fi

echo "## 2. pacing: 1500 devices, --rate 100"
"$GEN" otaa 1500 "$WORK/paced.csv" >/dev/null
start_sim
"$BIN" import "$WORK/paced.csv" --journal "$WORK/paced.db" --rate 100 >"$WORK/paced.out" 2>"$WORK/paced.err"
summary_of "$WORK/paced.out"
stop_sim

if [[ "$BIG_ROWS" -gt 0 ]]; then
    echo "## 3. memory: $BIG_ROWS devices, --concurrency 16, no rate limit"
    "$GEN" otaa "$BIG_ROWS" "$WORK/big.csv" >/dev/null
    start_sim
    /usr/bin/time -v "$BIN" import "$WORK/big.csv" --journal "$WORK/big.db" --concurrency 16 --rate 0 \
        >"$WORK/big.out" 2>"$WORK/big.err"
    summary_of "$WORK/big.out"
    grep -E 'Maximum resident set size|Elapsed \(wall clock\)' "$WORK/big.err"
    echo "## 3b. resume of the finished $BIG_ROWS-row batch"
    start=$(date +%s.%N)
    "$BIN" resume --journal "$WORK/big.db" "$(sed -n 's/^batch //p' "$WORK/big.out")" >"$WORK/resume.out"
    end=$(date +%s.%N)
    summary_of "$WORK/resume.out"
    echo "resume took $(echo "$end - $start" | bc) s"
    stop_sim
fi
