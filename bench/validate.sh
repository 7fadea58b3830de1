#!/usr/bin/env bash
# Benchmarks `tpbulk validate` against `xsv count` (1,000,000-row OTAA CSV) and python-calamine (200,000-row XLSX).
# Needs: xsv (`cargo install xsv`), python3 with python-calamine (`pip install python-calamine`), GNU time.
# Usage: bench/validate.sh [ROWS_CSV] [ROWS_XLSX]     (data goes to target/bench/, reused when present)
set -euo pipefail
cd "$(dirname "$0")/.."
rows_csv=${1:-1000000}
rows_xlsx=${2:-200000}
dir=target/bench
mkdir -p "$dir"
csv="$dir/otaa-$rows_csv.csv"
xlsx="$dir/otaa-$rows_xlsx.xlsx"

cargo build --release --quiet --bin tpbulk --example gen_shipment
tpbulk=target/release/tpbulk
gen=target/release/examples/gen_shipment
[ -s "$csv" ] || "$gen" otaa "$rows_csv" "$csv"
[ -s "$xlsx" ] || "$gen" otaa "$rows_xlsx" "$xlsx"

# Best wall time (s) of 3 runs, with that run's CPU time (user + sys, s) and peak RSS (MiB), from GNU time.
# CPU time is printed too because wall time on a shared machine says as much about the neighbours as the program.
measure() {
    local best="" cpu="" rss=""
    for _ in 1 2 3; do
        /usr/bin/time -f '%e %U %S %M' -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/stderr.txt" || [ $? -le 1 ]
        read -r wall user sys kib <"$dir/time.txt"
        if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then
            best=$wall
            cpu=$(awk "BEGIN{print $user + $sys}")
            rss=$((kib / 1024))
        fi
    done
    echo "$best $cpu $rss"
}

printf '%s: %s bytes, %s rows\n' "$csv" "$(stat -c %s "$csv")" "$rows_csv"
read -r t_xsv c_xsv m_xsv < <(measure xsv count "$csv")
read -r t_tp c_tp m_tp < <(measure "$tpbulk" validate "$csv")
read -r t_tpj c_tpj m_tpj < <(measure "$tpbulk" validate "$csv" --format jsonl)
echo "                                  wall      cpu     peak RSS"
printf '  xsv count                     %6.2f s %6.2f s  %5d MiB\n' "$t_xsv" "$c_xsv" "$m_xsv"
printf '  tpbulk validate               %6.2f s %6.2f s  %5d MiB   (wall %.2fx xsv; target <= 2x, <= 64 MiB)\n' \
    "$t_tp" "$c_tp" "$m_tp" "$(awk "BEGIN{print $t_tp / $t_xsv}")"
printf '  tpbulk validate --format jsonl %5.2f s %6.2f s  %5d MiB\n' "$t_tpj" "$c_tpj" "$m_tpj"

printf '%s: %s bytes, %s rows\n' "$xlsx" "$(stat -c %s "$xlsx")" "$rows_xlsx"
read -r t_py c_py m_py < <(measure python3 -c '
import sys
from python_calamine import CalamineWorkbook
wb = CalamineWorkbook.from_path(sys.argv[1])
rows = wb.get_sheet_by_index(0).to_python()
print(len(rows))' "$xlsx")
read -r t_tpx c_tpx m_tpx < <(measure "$tpbulk" validate "$xlsx")
printf '  python-calamine read          %6.2f s %6.2f s  %5d MiB\n' "$t_py" "$c_py" "$m_py"
printf '  tpbulk validate               %6.2f s %6.2f s  %5d MiB   (wall %.2fx python-calamine; target <= 1x)\n' \
    "$t_tpx" "$c_tpx" "$m_tpx" "$(awk "BEGIN{print $t_tpx / $t_py}")"
uptime
