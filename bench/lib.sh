#!/usr/bin/env bash
# Shared set-up of the benchmark scripts that drive a `tpbulk sim` process: release build (BENCH_PROFILE=profiling,
# set by a script before sourcing this, builds the same code with line tables for perf), a scratch folder removed
# on exit, the simulator's credentials, and start_sim/stop_sim. Source it after `cd` to the repository root.

BENCH_PROFILE=${BENCH_PROFILE:-release}
cargo build --profile "$BENCH_PROFILE" --quiet --bin tpbulk --example gen_shipment
# TPBULK_BIN: another build to measure (e.g. the one before a change), run the same way.
BIN=${TPBULK_BIN:-$PWD/target/$BENCH_PROFILE/tpbulk}
GEN=$PWD/target/$BENCH_PROFILE/examples/gen_shipment
WORK=$(mktemp -d)
SIM_PID=

cleanup() {
    if [[ -n "$SIM_PID" ]]; then kill "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export THINGPARK_CLIENT_ID=tpbulk-sim THINGPARK_CLIENT_SECRET=tpbulk-sim-secret
# No profile of the person running the benchmark: its rate or journal would change what is measured.
unset TPBULK_LOG TPBULK_PROFILE TPBULK_CONFIG
export XDG_CONFIG_HOME=$WORK

# Starts the simulator on a free port (extra arguments go to `tpbulk sim`) and exports THINGPARK_URL.
start_sim() {
    "$BIN" sim --listen 127.0.0.1:0 --page-size 100 "$@" >"$WORK/sim.out" 2>"$WORK/sim.err" &
    SIM_PID=$!
    for _ in $(seq 1 "${SIM_WAIT:-100}"); do
        if grep -q '^listening on ' "$WORK/sim.out"; then break; fi
        sleep 0.1
    done
    THINGPARK_URL=$(sed -n 's/^listening on //p' "$WORK/sim.out" | head -1)
    [[ -n "$THINGPARK_URL" ]] || { echo "the simulator did not start"; cat "$WORK/sim.err"; exit 1; }
    export THINGPARK_URL
}

stop_sim() {
    kill -INT "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
    SIM_PID=
}
