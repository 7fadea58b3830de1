#!/usr/bin/env bash
# Benchmarks `tpbulk validate` against `xsv count` (1,000,000-row OTAA, ABP and cellular CSVs) and python-calamine
# (a 600,000-row XLSX with shared strings, as Excel writes it). Every file is made by bench/gen_shipment.rs.
# Needs: xsv (`cargo install xsv`), python3 with python-calamine (`pip install python-calamine`), GNU time.
# Usage: [ROUNDS=5] bench/validate.sh [ROWS_CSV] [ROWS_XLSX]     (data goes to target/bench/, reused when present)
set -euo pipefail
cd "$(dirname "$0")/.."
rows_csv=${1:-1000000}
rows_xlsx=${2:-600000}
dir=target/bench
mkdir -p "$dir"
xlsx="$dir/otaa-$rows_xlsx.xlsx"

# BENCH_BIN_DIR=DIR runs the tpbulk and gen_shipment found there instead of building them (a copy taken earlier).
if [ -n "${BENCH_BIN_DIR:-}" ]; then
    tpbulk=$BENCH_BIN_DIR/tpbulk
    gen=$BENCH_BIN_DIR/gen_shipment
else
    cargo build --release --quiet --bin tpbulk --example gen_shipment
    tpbulk=target/release/tpbulk
    gen=target/release/examples/gen_shipment
fi
for kind in otaa abp cellular; do
    [ -s "$dir/$kind-$rows_csv.csv" ] || "$gen" "$kind" "$rows_csv" "$dir/$kind-$rows_csv.csv"
done
[ -s "$xlsx" ] || "$gen" otaa "$rows_xlsx" "$xlsx"

# Best wall time (s) of ROUNDS runs, with that run's CPU time (user + sys, s) and peak RSS (MiB), from GNU time.
# CPU time is printed too because wall time on a shared machine says as much about the neighbours as the program.
# Each round runs every command of a comparison once, back to back, so that they see the same neighbours.
rounds=${ROUNDS:-5}
declare -A best cpu rss
run_once() {
    local key=$1
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/stderr.txt" || [ $? -le 1 ]
    read -r wall user sys kib <"$dir/time.txt"
    if [ -z "${best[$key]:-}" ] || awk "BEGIN{exit !($wall < ${best[$key]})}"; then
        best[$key]=$wall
        cpu[$key]=$(awk "BEGIN{print $user + $sys}")
        rss[$key]=$((kib / 1024))
    fi
}

for kind in otaa abp cellular; do
    csv="$dir/$kind-$rows_csv.csv"
    printf '%s: %s bytes, %s rows\n' "$csv" "$(stat -c %s "$csv")" "$rows_csv"
    for _ in $(seq "$rounds"); do
        run_once xsv xsv count "$csv"
        run_once tp "$tpbulk" validate "$csv"
        run_once tpj "$tpbulk" validate "$csv" --format jsonl
    done
    echo "                                  wall      cpu     peak RSS   (best wall of $rounds rounds, interleaved)"
    printf '  xsv count                     %6.2f s %6.2f s  %5d MiB\n' "${best[xsv]}" "${cpu[xsv]}" "${rss[xsv]}"
    printf '  tpbulk validate               %6.2f s %6.2f s  %5d MiB   (wall %.2fx xsv; target <= 1.5x, <= 64 MiB)\n' \
        "${best[tp]}" "${cpu[tp]}" "${rss[tp]}" "$(awk "BEGIN{print ${best[tp]} / ${best[xsv]}}")"
    printf '  tpbulk validate --format jsonl %5.2f s %6.2f s  %5d MiB\n' "${best[tpj]}" "${cpu[tpj]}" "${rss[tpj]}"
    unset 'best[xsv]' 'best[tp]' 'best[tpj]'
done

printf '%s: %s bytes, %s rows\n' "$xlsx" "$(stat -c %s "$xlsx")" "$rows_xlsx"
for _ in $(seq "$rounds"); do
    run_once py python3 -c '
import sys
from python_calamine import CalamineWorkbook
wb = CalamineWorkbook.from_path(sys.argv[1])
rows = wb.get_sheet_by_index(0).to_python()
print(len(rows))' "$xlsx"
    run_once tpx "$tpbulk" validate "$xlsx"
done
printf '  python-calamine read          %6.2f s %6.2f s  %5d MiB\n' "${best[py]}" "${cpu[py]}" "${rss[py]}"
printf '  tpbulk validate               %6.2f s %6.2f s  %5d MiB   (wall %.2fx python-calamine; target <= 0.5x, <= 64 MiB)\n' \
    "${best[tpx]}" "${cpu[tpx]}" "${rss[tpx]}" "$(awk "BEGIN{print ${best[tpx]} / ${best[py]}}")"
uptime
