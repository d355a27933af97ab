#!/usr/bin/env bash
# sock_bench_smoke: perf/run_sock_bench.sh --quick end to end (tcp and shm):
# it exits 0, its forwarded clients went through ferry-iond (the script
# itself fails otherwise: it compares the daemon's SOCK_CONNECT count with
# the client's connections), and results.csv has every figure, direct and
# forwarded, with ratios, plus the fabric's.  No timing is checked: this
# machine's figures mean nothing under ctest.
source "$(dirname "$0")/lib.sh"
# A sanitized build preloads the runtime (shared ASan) into the benchmark.
export ASAN_OPTIONS=verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
SB=$FERRY_BUILD/bin/ferry-sock-bench
check "ferry-sock-bench --help" "$SB" --help >/dev/null
check "run_sock_bench.sh --help" "$FERRY_SRC/perf/run_sock_bench.sh" --help >/dev/null
check "ferry-sock-bench without arguments is a usage error" test "$("$SB" >/dev/null 2>&1; echo $?)" -eq 2

out=$T_DIR/sb
check_logged "run_sock_bench.sh --quick exits 0" "$T_DIR/run.txt" \
  timeout -k 5 270 "$FERRY_SRC/perf/run_sock_bench.sh" --quick --providers tcp,shm \
  --build "$FERRY_BUILD" --out "$out"
CSV=$out/results.csv
check "results.csv starts with its column names" \
  grep -q '^path,test,size,count,median_us,p99_us,mib_s,ops_s,direct_median_us,' <(head -n 1 "$CSV")
check "results.csv names the machine" grep -q '^# cpu: ' "$CSV"
for prov in tcp shm; do
  check "$prov: ferry-iond's socket calls are in the csv" grep -Eq "^# ferry-iond \\($prov\\) served [1-9][0-9]* socket calls" "$CSV"
done
for path in direct tcp shm; do
  for sz in 64 256 1024 4096 16384 65536; do
    # a median and a rate; forwarded rows also the direct figure, the
    # fabric's and both ratios
    check "$path: request/response with a $sz B reply" awk -F, -v p="$path" -v s="$sz" '
      $1 == p && $2 == "rr" && $3 == s && $4 > 0 && $5 > 0 && $6 >= $5 && $8 > 0 &&
      (p == "direct" || ($9 > 0 && $12 > 0 && $14 > 0 && $15 > 0)) { f = 1 } END { exit !f }' "$CSV"
  done
  for dir in down up; do
    for sz in 1048576 4194304; do
      check "$path: streaming $dir $sz B" awk -F, -v p="$path" -v d="$dir" -v s="$sz" '
        $1 == p && $2 == d && $3 == s && $4 >= 3 && $7 > 0 &&
        (p == "direct" || ($10 > 0 && $13 > 0 && $14 > 0 && $15 > 0)) { f = 1 } END { exit !f }' "$CSV"
    done
  done
  check "$path: connections per second" awk -F, -v p="$path" '
    $1 == p && $2 == "conn" && $4 == 100 && $8 > 0 && (p == "direct" || $14 > 0) { f = 1 } END { exit !f }' "$CSV"
done
check "the table has the ratios" grep -q "x direct x fabric" "$T_DIR/run.txt"
if command -v gnuplot >/dev/null; then
  check "sockets.png written" test -s "$out/sockets.png"
fi
finish
