#!/usr/bin/env bash
# intercept_bench_smoke: perf/run_intercept_bench.sh --quick end to end: a
# real ferry-iond, the benchmark natively, on the SIGSYS path, with the fast
# path and through the interposed symbols; both CSVs complete and the plot
# drawn.  No timing is checked: figures under ctest mean nothing.
source "$(dirname "$0")/lib.sh"
check "run_intercept_bench.sh --help" "$FERRY_SRC/perf/run_intercept_bench.sh" --help >/dev/null

out=$T_DIR/ib
check_logged "run_intercept_bench.sh --quick exits 0" "$T_DIR/run.txt" \
  timeout -k 5 120 "$FERRY_SRC/perf/run_intercept_bench.sh" --quick --build "$FERRY_BUILD" --out "$out"
CSV=$out/intercept.csv
check "intercept.csv starts with its column names" \
  grep -q '^mode,call,iterations,rounds,median_ns,min_ns,cpu_median_ns,added_ns,' <(head -n 1 "$CSV")
for mode in native sud fast interposed; do
  for call in getppid_libc getppid_inline lseek_local read_local write_local pread_1b; do
    check "$mode $call: a median and the added cost" awk -F, -v m="$mode" -v c="$call" '
      $1 == m && $2 == c && $3 > 0 && $5 > 0 && $7 > 0 && $10 != "" { f = 1 } END { exit !f }' "$CSV"
  done
done
check "interleaved.csv has the fast path's rows" \
  awk -F, '$1 == "fast" && $5 > 0 { f = 1 } END { exit !f }' "$out/interleaved.csv"
check "machine.txt names the CPU and the provider" \
  sh -c "grep -q '^cpu:' '$out/machine.txt' && grep -q '^provider:' '$out/machine.txt'"
# At least the 3 forwarded modes' preads (1 byte each) came back from it.
check "ferry-iond served the forwarded preads" \
  grep -Eq 'stats \(shutdown\): calls [0-9]{4,} errors 0 .* out [0-9]{4,}' "$out/iond.log"
if command -v gnuplot >/dev/null; then
  check "intercept.png written" test -s "$out/intercept.png"
fi
finish
