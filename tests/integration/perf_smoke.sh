#!/usr/bin/env bash
# perf_smoke: ferry-forward-bench runs against a real ferry-iond on shm and
# tcp with tiny iteration counts, exits 0 and reports every operation.  No
# timing is checked: this machine's figures mean nothing under ctest.
source "$(dirname "$0")/lib.sh"
BENCH=$FERRY_BUILD/bin/ferry-forward-bench
OPS="null_call statx read_1k read_1m write_1m openat_close"

check "perf/run_bench.sh --help" "$FERRY_SRC/perf/run_bench.sh" --help >/dev/null
for prov in shm tcp; do
  start_iond "$prov"
  out=$T_DIR/bench-$prov.txt
  if timeout -k 5 60 "$BENCH" -n 20 -b 3 --fabric-oneway 64=1,1024=2,1048576=100 \
      --csv "$T_DIR/bench-$prov.csv" "$IONODE_URI" "/pfs=$EXPORT" >"$out" 2>&1; then
    ok "ferry-forward-bench on $prov exits 0"
  else
    fail "ferry-forward-bench on $prov exits 0"; cat "$out"
  fi
  for op in $OPS; do
    check "$prov: $op reported" grep -q "^$op " "$out"
    check "$prov: $op in the csv" grep -q "^$op," "$T_DIR/bench-$prov.csv"
  done
  check "$prov: the bench removed its files" test -z "$(ls -A "$EXPORT")"
  check "ferry-iond ($prov) stops cleanly on SIGTERM" stop_iond
done
finish
