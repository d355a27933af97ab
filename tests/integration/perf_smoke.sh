#!/usr/bin/env bash
# perf_smoke: ferry-bench runs against a real ferry-iond on shm and tcp with
# tiny iteration counts, one client and two client processes, exits 0 and
# reports every operation; the old name ferry-forward-bench still runs it;
# perf/run_bench.sh --quick on shm leaves a complete CSV and the plots.
# No timing is checked: this machine's figures mean nothing under ctest.
source "$(dirname "$0")/lib.sh"
BENCH=$FERRY_BUILD/bin/ferry-bench
OPS="null_call stat open_close pread_1k read_64k write_64k read_1m write_1m getdents_1000"

check "perf/run_bench.sh --help" "$FERRY_SRC/perf/run_bench.sh" --help >/dev/null
check "ferry-bench --help" "$BENCH" --help >/dev/null
check "ferry-forward-bench is ferry-bench" "$FERRY_BUILD/bin/ferry-forward-bench" --help >/dev/null
for prov in shm tcp; do
  start_iond "$prov"
  for clients in 1 2; do
    out=$T_DIR/bench-$prov-$clients.txt csv=$T_DIR/bench-$prov-$clients.csv
    if timeout -k 5 90 "$BENCH" -n 20 -b 3 --clients "$clients" \
        --fabric-oneway 64=1,1024=2,65536=20,1048576=100 --fabric-mibs read=9000,write=9000 \
        --csv "$csv" "$IONODE_URI" "/pfs=$EXPORT" >"$out" 2>&1; then
      ok "ferry-bench on $prov with $clients client(s) exits 0"
    else
      fail "ferry-bench on $prov with $clients client(s) exits 0"; cat "$out"
    fi
    for op in $OPS; do
      check "$prov, $clients client(s): $op reported" grep -q "^$op " "$out"
      # op,size,clients,median,p99,native median,...: the client count as
      # asked and a positive median, forwarded and native
      check "$prov, $clients client(s): $op in the csv" \
        awk -F, -v op="$op" -v c="$clients" '$1 == op && $3 == c && $4 > 0 && $6 > 0 { f = 1 } END { exit !f }' "$csv"
    done
    check "$prov, $clients client(s): 1 MiB read against the fabric's bandwidth" \
      awk -F, '$1 == "read_1m" && $15 == 9000 && $17 > 0 { f = 1 } END { exit !f }' "$csv"
    check "$prov, $clients client(s): the bench removed its files" test -z "$(ls -A "$EXPORT")"
  done
  check "ferry-iond ($prov) stops cleanly on SIGTERM" stop_iond
done

# The documented command end to end, quick, on shm: fi_pingpong,
# ferry-rpc-bench, its own ferry-iond, ferry-bench with 1 and 2 clients,
# the CSV and the plots.
rb=$T_DIR/run_bench
if timeout -k 5 150 "$FERRY_SRC/perf/run_bench.sh" --quick --providers shm --clients 1,2 \
    --build "$FERRY_BUILD" --out "$rb" >"$T_DIR/run_bench.txt" 2>&1; then
  ok "run_bench.sh --quick exits 0"
else
  fail "run_bench.sh --quick exits 0"; tail -30 "$T_DIR/run_bench.txt"
fi
check "results.csv starts with its column names" \
  grep -q '^provider,op,size,clients,ferry_median_us,' <(head -1 "$rb/results.csv")
check "results.csv names the machine" grep -q '^# cpu: ' "$rb/results.csv"
for sz in 64 1024 65536 1048576; do
  check "fi_pingpong one-way at $sz B" \
    awk -F, -v s="$sz" '$1 == "shm" && $2 == "fabric_oneway" && $3 == s && $9 > 0 { f = 1 } END { exit !f }' "$rb/results.csv"
done
for op in $OPS; do
  for clients in 1 2; do
    # a median, a native median and a fabric figure for every call
    check "run_bench: $op with $clients client(s)" \
      awk -F, -v op="$op" -v c="$clients" '$1 == "shm" && $2 == op && $4 == c && $5 > 0 && $7 > 0 && $9 > 0 { f = 1 } END { exit !f }' "$rb/results.csv"
  done
done
check "run_bench reports the targets" grep -q "forwarded null call .* target" "$T_DIR/run_bench.txt"
if command -v gnuplot >/dev/null; then
  check "latency.png written" test -s "$rb/latency.png"
  check "clients.png written" test -s "$rb/clients.png"
fi
finish
