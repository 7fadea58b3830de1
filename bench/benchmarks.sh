#!/usr/bin/env bash
# Regenerates BENCHMARKS.md (issue 7): every figure and its peer measured in the same run, release build.
#   bench/benchmarks.sh          performance runs (data generated under target/bench/), then BENCHMARKS.md
#   bench/benchmarks.sh fuzz [S [TARGET...]]  also runs the fuzz targets (default all) S seconds each (default 600,
#                                two at once) first and keeps
#                                its figures in fuzz/RUNS.md, which BENCHMARKS.md includes (FUZZ_ONLY=1: stop there)
# Calls bench/validate.sh, bench/ratio.sh, bench/import.sh and bench/soak.sh rather than repeating them.
# Needs: xsv, wrk, python3 with python-calamine and openpyxl, GNU time, bc, cargo-fuzz (for `fuzz` only).
#   bench/benchmarks.sh report  only rebuilds BENCHMARKS.md from the last run's outputs (target/bench/benchmarks/)
# Environment: BENCH_NOTE (a line on what shared the machine), CSV_ROWS (1000000), XLSX_ROWS (200000), BIG_ROWS (1000000),
# RATIO_ROUNDS (5) and RATIO_ROWS (50000) for bench/ratio.sh, SOAK_ROWS (10000; 0 skips the soak).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CSV_ROWS=${CSV_ROWS:-1000000}
XLSX_ROWS=${XLSX_ROWS:-200000}
BIG_ROWS=${BIG_ROWS:-1000000}
SOAK_ROWS=${SOAK_ROWS:-10000}
RATIO_ROUNDS=${RATIO_ROUNDS:-5}
RATIO_ROWS=${RATIO_ROWS:-50000}
OUT=target/bench/benchmarks
mkdir -p "$OUT"

if [[ "${1:-}" == fuzz ]]; then
    secs=${2:-600}
    all_targets=(csv_input xlsx_input header_mapping identifiers)
    # Further arguments: only these targets (the table still lists every target's last run).
    if [[ $# -gt 2 ]]; then targets=("${@:3}"); else targets=("${all_targets[@]}"); fi
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -O -a)
    # Seeds: the repository's own shipment files, so the fuzzers start from real CSVs and workbooks, not from nothing.
    mkdir -p fuzz/corpus/csv_input fuzz/corpus/xlsx_input
    find sample-data tests/fixtures -name '*.csv' -size -20k -exec cp {} fuzz/corpus/csv_input/ \;
    # .xls seeds too: a compound file under an .xlsx name is read as the .xls it is, so one target covers both readers.
    find sample-data tests/fixtures \( -name '*.xlsx' -o -name '*.xls' \) -size -200k -exec cp {} fuzz/corpus/xlsx_input/ \;
    fuzz_one() {
        local rc=0
        mkdir -p "fuzz/corpus/$1"
        (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a "$1" -- -max_total_time="$secs" -print_final_stats=1 \
            -rss_limit_mb=1024 -timeout=10) >"$OUT/fuzz-$1.log" 2>&1 || rc=$?
        echo "$rc" >"$OUT/fuzz-$1.rc"
    }
    # Two at a time: the machine has two cores and other work on them.
    for ((i = 0; i < ${#targets[@]}; i += 2)); do
        fuzz_one "${targets[i]}" &
        [[ -n "${targets[i + 1]:-}" ]] && fuzz_one "${targets[i + 1]}" &
        wait
    done
    {
        echo "| target | what it feeds | finished (UTC) | time | executions | corpus | result |"
        echo "|---|---|---|---|---|---|---|"
        for t in "${all_targets[@]}"; do
            log="$OUT/fuzz-$t.log"
            [[ -s "$log" ]] || continue
            execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
            ran=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
            units=$(find "fuzz/corpus/$t" -type f | wc -l)
            if [[ $(cat "$OUT/fuzz-$t.rc") == 0 ]]; then result="no crash"; else
                result="CRASH: $(grep -m1 -E 'panicked|ERROR: libFuzzer' "$log" | cut -c1-120)"; fi
            case $t in
            csv_input) what="bytes as a .csv: sniffing, decoding, rows, header, mapping, checks" ;;
            xlsx_input) what="bytes as an .xlsx: calamine, cells, header, mapping, checks" ;;
            header_mapping) what="any header text, alone and with a user mapping" ;;
            identifiers) what="Eui, Key, DevAddr, Imei, Iccid, Eid, Imsi, SimId parse + round trip" ;;
            esac
            finished=$(date -u -r "$log" '+%Y-%m-%d %H:%M')
            echo "| \`$t\` | $what | $finished | ${ran:-?} s | ${execs:-?} | $units inputs | $result |"
        done
        echo
        echo "Each row is its target's last run of \`bench/benchmarks.sh fuzz $secs [TARGET...]\` (cargo-fuzz $(cargo fuzz --version 2>/dev/null | awk '{print $2}'), \`-O -a\`: optimised, with debug assertions and overflow checks), two targets at a time."
    } >fuzz/RUNS.md
    [[ "${FUZZ_ONLY:-0}" == 1 ]] && { cat fuzz/RUNS.md; exit 0; }
fi

csv=target/bench/otaa-$CSV_ROWS.csv
xlsx=target/bench/otaa-$XLSX_ROWS.xlsx
# `report`: only rebuild BENCHMARKS.md from the outputs of the last run, kept in target/bench/benchmarks/.
if [[ "${1:-}" != report ]]; then
cargo build --release --quiet --bin tpbulk --example gen_shipment
BIN=$ROOT/target/release/tpbulk
GEN=$ROOT/target/release/examples/gen_shipment

echo "== bench/validate.sh" >&2
bench/validate.sh "$CSV_ROWS" "$XLSX_ROWS" | tee "$OUT/validate.txt" >&2

# Best wall time of 3 runs (s) with that run's CPU time (s) and peak RSS (MiB).
measure() {
    local best="" cpu="" rss=""
    for _ in 1 2 3; do
        /usr/bin/time -f '%e %U %S %M' -o "$OUT/time.txt" "$@" >/dev/null 2>"$OUT/stderr.txt"
        read -r wall user sys kib <"$OUT/time.txt"
        if [[ -z "$best" ]] || awk "BEGIN{exit !($wall < $best)}"; then
            best=$wall cpu=$(awk "BEGIN{print $user + $sys}") rss=$((kib / 1024))
        fi
    done
    echo "$best $cpu $rss"
}
echo "== python peers" >&2
read -r t_py c_py m_py < <(measure python3 bench/py_check.py "$csv")
read -r t_opx c_opx m_opx < <(measure python3 -c '
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1], read_only=True)
print(sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True)))' "$xlsx")
echo "$t_py $c_py $m_py $t_opx $c_opx $m_opx" >"$OUT/python.txt"

echo "== bench/ratio.sh (import against wrk, interleaved rounds)" >&2
bench/ratio.sh "$RATIO_ROUNDS" "$RATIO_ROWS" 5s | tee "$OUT/ratio.txt" >&2

echo "== bench/import.sh (pacing, memory, resume)" >&2
bench/import.sh 0 "$BIG_ROWS" | tee "$OUT/import.txt" >&2

# Devices/hour at a platform's common limits, and the importer's CPU use there.
echo "== rates" >&2
export THINGPARK_CLIENT_ID=tpbulk-sim THINGPARK_CLIENT_SECRET=tpbulk-sim-secret
unset TPBULK_LOG TPBULK_PROFILE TPBULK_CONFIG
export XDG_CONFIG_HOME=$OUT
"$BIN" sim --listen 127.0.0.1:0 --page-size 100 >"$OUT/sim.out" 2>"$OUT/sim.err" &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q '^listening on ' "$OUT/sim.out" && break; sleep 0.1; done
export THINGPARK_URL=$(sed -n 's/^listening on //p' "$OUT/sim.out" | head -1)
: >"$OUT/rates.txt"
first=0
for rate in 10 50 100; do
    n=$((rate * 30))
    "$GEN" otaa $((first + n)) "$OUT/rate-all.csv" >/dev/null
    # Rows past the ones earlier rates created, so every rate creates fresh devices on the one simulator.
    { head -1 "$OUT/rate-all.csv"; tail -n +$((first + 2)) "$OUT/rate-all.csv"; } >"$OUT/rate-$rate.csv"
    first=$((first + n))
    rm -f "$OUT/rate-$rate.db"*
    /usr/bin/time -f '%e %U %S %M' -o "$OUT/time.txt" "$BIN" import "$OUT/rate-$rate.csv" --journal "$OUT/rate-$rate.db" \
        --rate "$rate" >"$OUT/rate-$rate.out" 2>"$OUT/rate-$rate.err"
    read -r wall user sys kib <"$OUT/time.txt"
    summary=$(grep -E '^created [0-9]+' "$OUT/rate-$rate.out" | tail -1)
    dps=$(sed -n 's/.*(\([0-9.]*\) devices\/s.*/\1/p' <<<"$summary")
    echo "$rate $n $wall $(awk "BEGIN{print $user + $sys}") $dps $((kib / 1024))" >>"$OUT/rates.txt"
done
kill "$SIM_PID" 2>/dev/null || true

if [[ "$SOAK_ROWS" -gt 0 ]]; then
    echo "== bench/soak.sh $SOAK_ROWS" >&2
    { echo "# bench/soak.sh $SOAK_ROWS 5"; bench/soak.sh "$SOAK_ROWS" 5 2>&1; } | tee "$OUT/soak.txt" >&2 || true
fi

fi
read -r t_py c_py m_py t_opx c_opx m_opx <"$OUT/python.txt"

# ---- BENCHMARKS.md -------------------------------------------------------------------------------------------------
num() { grep -E "$1" "$2" | head -1 | awk -v f="$3" '{print $f}'; }
t_xsv=$(num '^  xsv count' "$OUT/validate.txt" 3)
c_xsv=$(num '^  xsv count' "$OUT/validate.txt" 5)
t_val=$(grep -E '^  tpbulk validate  ' "$OUT/validate.txt" | head -1 | awk '{print $3}')
c_val=$(grep -E '^  tpbulk validate  ' "$OUT/validate.txt" | head -1 | awk '{print $5}')
m_val=$(grep -E '^  tpbulk validate  ' "$OUT/validate.txt" | head -1 | awk '{print $7}')
t_cal=$(num '^  python-calamine' "$OUT/validate.txt" 3)
t_valx=$(grep -E '^  tpbulk validate  ' "$OUT/validate.txt" | tail -1 | awk '{print $3}')
c_valx=$(grep -E '^  tpbulk validate  ' "$OUT/validate.txt" | tail -1 | awk '{print $5}')
# The median round of bench/ratio.sh: its ratio, and the wrk and import figures of that round.
read -r r_imp wrk_rps imp_dps r_min r_max rounds < <(sed -n \
    's/^median ratio \([0-9.]*\) (wrk \([0-9.]*\) req\/s, import \([0-9.]*\) devices\/s), range \([0-9.]*\) to \([0-9.]*\) over \([0-9]*\) rounds/\1 \2 \3 \4 \5 \6/p' \
    "$OUT/ratio.txt")
pace_dps=$(sed -n '/^## 2\./,/^## 3\./p' "$OUT/import.txt" | sed -n 's/.*(\([0-9.]*\) devices\/s.*/\1/p' | head -1)
big_kib=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$OUT/import.txt" | head -1)
big_wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): *//p' "$OUT/import.txt" | head -1)
big_sum=$(sed -n '/^## 3\. /,/^## 3b/p' "$OUT/import.txt" | grep -E '^created' | head -1)
resume_s=$(sed -n 's/^resume took \([0-9.]*\) s/\1/p' "$OUT/import.txt" | head -1 | awk '{printf "%.2f", $1}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b + 0 == 0) print "?"; else printf "%.2f", a / b }'; }
verdict() { if awk "BEGIN{exit !($1)}"; then echo met; else echo MISSED; fi; }
r_val=$(ratio "$t_val" "$t_xsv")
pace_dev=$(awk -v d="$pace_dps" 'BEGIN{ printf "%.1f", (d - 100) / 100 * 100 }')
big_mib=$(( ${big_kib:-0} / 1024 ))

{
    echo "# Benchmarks and evidence"
    echo
    echo "Generated by \`bench/benchmarks.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') from commit \`$(git rev-parse --short HEAD)\`;"
    echo "release build; every peer measured in the same run. Rerun: \`bench/benchmarks.sh\` (add \`fuzz 600\` to rerun the"
    echo "fuzzers too). The machine is a two-core VM on a shared host, so wall times carry noise; CPU times are given"
    echo "where they say more."
    echo
    echo "## Machine"
    echo
    echo '```'
    lscpu | grep -E '^(Model name|Architecture|CPU\(s\)|Thread|Core|Socket|L3)' || true
    echo "nproc: $(nproc)"
    free -h | head -2
    uname -sr
    echo "load average when this file was written: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo '```'
    echo
    # BENCH_NOTE: what else shared the machine during the run, when known.
    [[ -n "${BENCH_NOTE:-}" ]] && { echo "$BENCH_NOTE"; echo; }
    echo "## Summary against the goals of issue 7"
    echo
    echo "| measure | figure | peer / goal | result |"
    echo "|---|---|---|---|"
    echo "| \`validate\` $CSV_ROWS CSV rows | ${t_val} s wall, ${c_val} s CPU, ${m_val} MiB | \`xsv count\` ${t_xsv} s (${c_xsv} s CPU): **${r_val}x**; goal within 2x | $(verdict "$r_val <= 2") |"
    echo "| same file, plain Python csv + regex (\`bench/py_check.py\`) | ${t_py} s wall, ${c_py} s CPU, ${m_py} MiB | tpbulk is $(ratio "$t_py" "$t_val")x faster | (peer) |"
    echo "| \`validate\` $XLSX_ROWS XLSX rows | ${t_valx} s wall, ${c_valx} s CPU | python-calamine ${t_cal} s ($(ratio "$t_valx" "$t_cal")x); openpyxl read-only ${t_opx} s ($(ratio "$t_valx" "$t_opx")x) | (peers) |"
    echo "| \`import\` throughput, $RATIO_ROWS devices, --concurrency 16 (median round) | ${imp_dps} devices/s | goal >= 2,000/s | $(verdict "${imp_dps:-0} >= 2000") |"
    echo "| same, against raw \`wrk -c16\` POSTs on the same endpoint, $rounds interleaved rounds | wrk ${wrk_rps} req/s in that round | median ratio **${r_imp}** (range ${r_min} to ${r_max}); goal >= 0.5 | $(verdict "${r_imp:-0} >= 0.5") |"
    echo "| \`--rate 100\` over 1,500 devices | ${pace_dps} devices/s (${pace_dev}%) | goal within 2% | $(verdict "${pace_dev#-} <= 2") |"
    echo "| peak memory, $BIG_ROWS-row import | ${big_mib} MiB (${big_wall} wall) | goal <= 128 MiB | $(verdict "$big_mib <= 128 && $big_mib > 0") |"
    echo "| \`resume\` of that finished batch | ${resume_s} s | goal < 2 s | $(verdict "${resume_s:-99} < 2") |"
    echo
    echo "Notes: \`--rate\` limits every request of a batch (the look-ups that learn which devices exist included), while"
    echo "the figure above is the importer's devices/s, so part of the gap is look-ups, not pacing error. The import/wrk ratio"
    echo "compares the whole importer (file, checks, one token, and the journal: a committed sending window every 64 rows"
    echo "and every row's outcome) with bare POSTs on the same two cores, shared with the simulator. When every row waited"
    echo "for a commit of its own \`sending\` before its request left (up to commit \`e6f88d6\`), the median ratio was 0.447."
    echo
    echo "## Devices per hour at a platform's rate limit, and CPU use of one process"
    echo
    echo "One \`tpbulk import --rate R\` of 30 s worth of devices per rate against the simulator; CPU = (user + sys) / wall"
    echo "of the process (GNU time). Devices/hour = the importer's own devices/s over its sending phase x 3600."
    echo
    echo "| --rate | devices | wall | CPU time | CPU use of one core | devices/s | devices/hour | peak RSS |"
    echo "|---|---|---|---|---|---|---|---|"
    while read -r rate n wall cpu dps rss; do
        echo "| $rate | $n | ${wall} s | ${cpu} s | $(awk -v c="$cpu" -v w="$wall" 'BEGIN{printf "%.1f%%", c / w * 100}') | $dps | $(awk -v d="$dps" 'BEGIN{printf "%\047d", d * 3600}') | $rss MiB |"
    done <"$OUT/rates.txt"
    echo
    echo "## Soak: faults, rate limit, token expiry and SIGKILLs"
    echo
    if [[ -s "$OUT/soak.txt" ]]; then
        # SOAK_ROWS=0 keeps the output of an earlier soak run; its first line names the command that made it.
        echo "\`$(head -1 "$OUT/soak.txt" | sed 's/^# //')\`$([[ "$SOAK_ROWS" -gt 0 ]] || echo ' (run separately)'): simulator \`--fail 0.1 --drop 0.02 --rate 100 --token-ttl 30\`, importer \`--rate 150"
        echo "--concurrency 16\`, every 97th row invalid, the importer SIGKILLed at 5 random moments and resumed each time."
        echo
        echo '```'
        grep -vE '^(wrote the report|# )' "$OUT/soak.txt"
        echo '```'
    else
        echo "Not run this time (SOAK_ROWS=0)."
    fi
    echo
    echo "Each 503 pauses every request of the run for at least a second (the client's pool-wide pause), so with 10% of"
    echo "calls answered 503 the soak runs at roughly a dozen devices/s whatever the rate: that is the client backing off"
    echo "as a real platform asks, not the importer's speed. The short variant, \`tests/soak.rs\`, runs in \`cargo test\`."
    echo
    echo "## Fuzzing"
    echo
    if [[ -s fuzz/RUNS.md ]]; then cat fuzz/RUNS.md; else echo "Not run yet: \`bench/benchmarks.sh fuzz 600\`."; fi
    echo
    echo "Found so far:"
    echo
    echo "- \`xlsx_input\`, within seconds of the first run: a damaged workbook made calamine 0.38 panic (slice index out"
    echo "  of range in its CFB reader, \`cfb.rs:320\`, reached through its password-protection check), so \`validate\` and"
    echo "  \`import\` crashed with exit 101. \`src/input/sheet.rs\` now turns a panic inside calamine into a refusal that"
    echo "  names the file (exit 2), without the panic text; the file is \`tests/fixtures/fuzz-calamine-cfb-panic.xlsx\` and"
    echo "  its test \`a_workbook_that_makes_calamine_panic_is_refused_by_name\`."
    echo "- \`xlsx_input\`, next: a 14 KB compound file (an \`.xls\` container named \`.xlsx\`) whose sector chain points back"
    echo "  on itself: calamine 0.38 follows it without end, copying sectors (6 GiB and growing when traced with gdb)."
    echo "  Every compound file is now opened first with the \`cfb\` crate, which checks its chains, so the file is refused"
    echo "  at once as damaged (\`src/input/compound.rs\`; \`tests/fixtures/fuzz-calamine-cfb-chain.xlsx\`, test"
    echo "  \`damaged_compound_files_are_refused_at_once\`). Since an \`.xls\` under an \`.xlsx\` name is now read as the"
    echo "  \`.xls\` it is, the seeds include a real \`.xls\` (\`tests/fixtures/xls/devices.xls\`, written with xlwt)."
    echo "- \`xlsx_input\`, within a minute of that fix, from the \`.xls\` seed: a sheet whose DIMENSIONS record claims"
    echo "  402,653,184 cells, for which calamine reserves memory before reading a cell (libFuzzer: malloc of 16 GB); a"
    echo "  record whose rows run backwards makes it ask for terabytes, which aborts the process. The sheets of an \`.xls\`"
    echo "  are now walked before calamine opens the workbook: impossible dimensions are refused as damage, and cells"
    echo "  scattered over a box far larger than they fill are refused as stray cells, the rule \`.xlsx\` sheets already"
    echo "  had (\`tests/fixtures/fuzz-calamine-xls-dimensions.xls\`, \`tests/fixtures/xls/stray-cells.xls\`; unit tests in"
    echo "  \`src/input/compound.rs\`). The \`xlsx_input\` row above is the 10-minute run after both fixes."
    echo
    echo "## Raw output of the scripts this one calls"
    echo
    echo "### \`bench/ratio.sh $RATIO_ROUNDS $RATIO_ROWS 5s\`"
    echo
    cat "$OUT/ratio.txt"
    for part in validate import; do
        echo
        case $part in
        validate) echo "### \`bench/validate.sh $CSV_ROWS $XLSX_ROWS\`" ;;
        import) echo "### \`bench/import.sh 0 $BIG_ROWS\`" ;;
        esac
        echo
        echo '```'
        cat "$OUT/$part.txt"
        echo '```'
    done
    echo
    echo "### Python peers"
    echo
    echo '```'
    echo "python3 bench/py_check.py $csv          best of 3: ${t_py} s wall, ${c_py} s CPU, ${m_py} MiB"
    echo "openpyxl read-only, $xlsx   best of 3: ${t_opx} s wall, ${c_opx} s CPU, ${m_opx} MiB"
    echo '```'
} >BENCHMARKS.md
echo "wrote BENCHMARKS.md" >&2
