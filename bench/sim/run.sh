#!/usr/bin/env bash
# Benchmark of the simulator's device creation: a release build, wrk -c16 posting unique DevEUIs with a fresh token,
# then the simulator's own count of creations. Usage: bench/sim/run.sh [duration, default 10s] [connections, default 16]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-10s}"
connections="${2:-16}"

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
cargo build --release --quiet
out="$(mktemp)"
target/release/tpbulk sim --listen 127.0.0.1:0 >"$out" &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
url="$(sed -n 's/^listening on //p' "$out")"

token="$(curl -sf -d 'grant_type=client_credentials&client_id=tpbulk-sim&client_secret=tpbulk-sim-secret' \
  "$url/users-auth/protocol/openid-connect/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"

wrk -t2 -c"$connections" -d"$duration" -s bench/sim/create.lua "$url" -- "$token"

curl -sf "$url/_sim/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("simulator: %d devices, answers %s" % (s["devices"], s["answers"]))'
