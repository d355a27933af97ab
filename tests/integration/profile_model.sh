#!/usr/bin/env bash
# model_pipeline: perf/run_model.sh --quick end to end on shm: a real
# ferry-iond, ferry-synthetic natively and under ferry-exec with four
# forwarding policies, profiles, ferry-model's predictions, the CSV and the
# plots.  Checks that every output exists and is sane; no timing is checked.
source "$(dirname "$0")/lib.sh"
MODEL=$FERRY_BUILD/bin/ferry-model
SYN=$FERRY_BUILD/bin/ferry-synthetic
OUT=$T_DIR/model

check "ferry-model --help" bash -c "'$MODEL' --help | grep -q '^usage: ferry-model'"
check "ferry-synthetic --help" bash -c "'$SYN' --help | grep -q '^usage: ferry-synthetic'"
check "perf/run_model.sh --help" bash -c "'$FERRY_SRC/perf/run_model.sh' --help | grep -q '^usage:'"
bad() { ! "$MODEL" "$@" >"$T_DIR/bad.out" 2>&1; }
printf '# ferry-profile 1\n# wall_ns 5\nsyscall,nr,calls\n' >"$T_DIR/bad.csv"
check "ferry-model refuses a malformed profile" bad "$T_DIR/bad.csv"
check "... naming the line" grep -q 'bad.csv: line 3' "$T_DIR/bad.out"
printf '%% time     seconds  usecs/call     calls    errors syscall\n------ ----------- ----------- --------- --------- ----------------\n 90.00    0.009000           9      1000           write\n 10.00    0.001000           1      1000           getppid\n------ ----------- ----------- --------- --------- ----------------\n100.00    0.010000           5      2000           total\n' >"$T_DIR/strace.txt"
check "ferry-model needs --wall for strace -c" bad "$T_DIR/strace.txt"
check "ferry-model reads strace -c" bash -c "'$MODEL' --wall 0.11 --fc 10 --forward write '$T_DIR/strace.txt' | grep -Eq '^list +1 +1000 +0\.130000 +0\.84'"

if timeout -k 5 100 "$FERRY_SRC/perf/run_model.sh" --quick --providers shm --build "$FERRY_BUILD" \
    --out "$OUT" >"$T_DIR/run.log" 2>&1; then
  ok "run_model.sh --quick exits 0"
else
  fail "run_model.sh --quick exits 0"; cat "$T_DIR/run.log"
fi
CSV=$OUT/model.csv
check "model.csv: the header" grep -q '^provider,policy,data_dir,meta_dir,runs,measured_s,' "$CSV"
for pol in none data meta all; do
  check "model.csv: $pol row with positive measured and predicted times and a finite error" \
    awk -F, -v p="$pol" '$1 == "shm" && $2 == p { found = 1
      if (!($6 > 0 && $15 > 0 && $17 > 0 && $16 ~ /^-?[0-9.]+$/ && $18 ~ /^-?[0-9.]+$/)) bad = 1 }
      END { exit !(found && !bad) }' "$CSV"
done
check "none forwards nothing, all forwards most calls" \
  awk -F, '$2 == "none" { n = $12 } $2 == "all" { a = $12; c = $11 } END { exit !(n == 0 && a > c / 2) }' "$CSV"
check "data forwards the writes, meta does not" \
  awk -F, '$2 == "data" { d = $12 } $2 == "meta" { m = $12 } END { exit !(d > 900 && m < 300 && m > 0) }' "$CSV"
check "the profiles are kept" test "$(ls "$OUT"/raw/profile-shm-*.csv | wc -l)" -eq 4
check "surfaces: naive and per-policy CSV" test -s "$OUT/surfaces-shm/surface_naive.csv" -a -s "$OUT/surfaces-shm/surface_policies.csv"
check "surfaces: every paper policy" bash -c "for p in all none least most random ferry; do grep -q \"^\$p,\" '$OUT/surfaces-shm/surface_policies.csv' || exit 1; done"
if command -v gnuplot >/dev/null; then
  check "model.png" test -s "$OUT/model.png"
  check "surfaces.png" test -s "$OUT/surfaces-shm/surfaces.png"
fi
check "the run left nothing running" bash -c "! pgrep -f '[f]erry-iond --listen shm://ferry-model-' >/dev/null"
finish
