#!/usr/bin/env bash
# Soak (issue 7): ROWS devices (every 97th row made invalid) against `tpbulk sim --fail 0.1 --drop 0.02 --rate SIM_RATE
# --token-ttl 30`, the importer run at a higher --rate, SIGKILLed at KILLS random moments and resumed each time.
# Asserts from the simulator's /_sim/stats, `tpbulk status --format json` and `tpbulk report`: every valid row created
# exactly once, nothing else created, the report agrees with the simulator, no row unfinished.
# Usage: bench/soak.sh [ROWS, default 10000] [KILLS, default 5] [SIM_RATE, default 100] [IMPORT_RATE, default 150]
# Exit 0 when every assertion holds; the last lines say what was checked.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000}
KILLS=${2:-5}
SIM_RATE=${3:-100}
IMPORT_RATE=${4:-150}

cargo build --release --quiet --bin tpbulk --example gen_shipment
BIN=$PWD/target/release/tpbulk
GEN=$PWD/target/release/examples/gen_shipment
WORK=$(mktemp -d)
SIM_PID=
RUN_PID=
cleanup() {
    [[ -n "$RUN_PID" ]] && kill -9 "$RUN_PID" 2>/dev/null || true
    [[ -n "$SIM_PID" ]] && kill "$SIM_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export THINGPARK_CLIENT_ID=tpbulk-sim THINGPARK_CLIENT_SECRET=tpbulk-sim-secret TPBULK_JOURNAL=$WORK/soak.db
unset TPBULK_LOG TPBULK_PROFILE TPBULK_CONFIG
export XDG_CONFIG_HOME=$WORK

"$GEN" otaa "$ROWS" "$WORK/gen.csv" >/dev/null
# Every 97th data row gets a DevEUI that is not hex: those rows must end `invalid` and never reach the platform.
awk -F, -v OFS=, 'NR > 1 && (NR - 1) % 97 == 0 { $1 = substr($1, 1, 15) "G" } { print }' "$WORK/gen.csv" >"$WORK/soak.csv"
awk -F, 'NR > 1 && $1 !~ /G$/ { print $1 }' "$WORK/soak.csv" | sort >"$WORK/valid.txt"
VALID=$(wc -l <"$WORK/valid.txt")

"$BIN" sim --listen 127.0.0.1:0 --page-size 100 --fail 0.1 --drop 0.02 --rate "$SIM_RATE" --token-ttl 30 \
    --seed "$RANDOM" >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$WORK/sim.out" && break; sleep 0.1; done
THINGPARK_URL=$(sed -n 's/^listening on //p' "$WORK/sim.out" | head -1)
[[ -n "$THINGPARK_URL" ]] || { echo "the simulator did not start"; cat "$WORK/sim.err"; exit 1; }
export THINGPARK_URL

created_now() {
    "$BIN" status ${BATCH:+"$BATCH"} --format json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["created"])' 2>/dev/null || echo 0
}

start=$(date +%s)
BATCH=
kills=0
for round in $(seq 0 "$KILLS"); do
    if [[ $round -eq 0 ]]; then
        "$BIN" import "$WORK/soak.csv" --rate "$IMPORT_RATE" --concurrency 16 --quiet >"$WORK/run.out" 2>"$WORK/run.err" &
    else
        "$BIN" resume "$BATCH" --rate "$IMPORT_RATE" --concurrency 16 --quiet >"$WORK/run.out" 2>"$WORK/run.err" &
    fi
    RUN_PID=$!
    [[ $round -eq "$KILLS" ]] && break
    # Kill while devices are being sent: after progress since the last kill, plus a random wait that spreads the kills
    # over the run (the faults hold the importer to roughly 12 devices/s).
    before=$(created_now)
    while kill -0 "$RUN_PID" 2>/dev/null && [[ $(created_now) -le $before ]]; do sleep 0.2; done
    spread=$((ROWS / 12 / (KILLS + 1) + 1))
    sleep "$(awk -v r="$RANDOM" -v s="$spread" 'BEGIN { printf "%.2f", (r % 1000) / 1000 * s }')"
    [[ -z "$BATCH" ]] && BATCH=$(sed -n 's/^batch //p' "$WORK/run.out" | head -1)
    if kill -9 "$RUN_PID" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$RUN_PID" 2>/dev/null || true
    echo "kill $((round + 1)) at $(($(date +%s) - start)) s: $(created_now) created so far"
done
status=0
wait "$RUN_PID" || status=$?
RUN_PID=
[[ -z "$BATCH" ]] && BATCH=$(sed -n 's/^batch //p' "$WORK/run.out" | head -1)
elapsed=$(($(date +%s) - start))
echo "last run exited $status after $elapsed s in all, $kills SIGKILLs"

curl -sf "$THINGPARK_URL/_sim/stats" >"$WORK/stats.json"
"$BIN" status "$BATCH" --format json >"$WORK/status.json" || true
"$BIN" report "$BATCH" -o "$WORK/report.jsonl" >/dev/null
python3 - "$WORK" "$ROWS" "$VALID" <<'EOF'
import json, sys
work, rows, valid_count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
valid = set(open(f"{work}/valid.txt").read().split())
stats = json.load(open(f"{work}/stats.json"))
status = json.load(open(f"{work}/status.json"))
report = [json.loads(l) for l in open(f"{work}/report.jsonl")]
creations = stats["creations"]
failures = []
def check(ok, what):
    print(("ok      " if ok else "FAILED  ") + what)
    if not ok:
        failures.append(what)
check(set(creations) == valid, f"the simulator holds exactly the {valid_count} valid devices (it has {len(creations)})")
twice = {k: v for k, v in creations.items() if v != 1}
check(not twice, f"every device created exactly once ({len(twice)} created more than once)")
check(status["state"] == "done" and status["pending"] == 0,
      f"journal: batch {status['state']}, {status['pending']} rows unfinished")
check(status["created"] == valid_count and status["failed"] == 0 and status["invalid"] == rows - valid_count,
      f"journal: created {status['created']}, failed {status['failed']}, invalid {status['invalid']}")
reported = {r["id"] for r in report if r["status"] == "created"}
check(len(report) == rows and reported == set(creations),
      f"report: {len(report)} rows, its {len(reported)} created rows are the simulator's devices")
check(all(r["status"] in ("created", "invalid") for r in report), "report: every row created or invalid")
answers = stats["answers"]
print("simulator answers by status:", ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())))
sys.exit(1 if failures else 0)
EOF
