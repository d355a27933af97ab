#!/usr/bin/env bash
# perf/run_bench.sh: Ferry's RPC layer and forwarded-call latency, measured
# honestly in one run: for each provider, the fabric's own ping-pong
# (fi_pingpong), ferry-rpc-bench (rpc/ alone) and ferry-forward-bench
# (calls through a real ferry-iond, and the same calls run natively).
# Prints the machine, absolute figures and ratios; leaves results.csv,
# latency.png and the raw outputs in the output directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() {
  cat <<EOF
usage: perf/run_bench.sh [--providers shm,tcp] [--out DIR] [--quick]
                         [--worker-spin-us LIST] [--build DIR]

For each provider (shm, tcp), in the same run:
  1. fi_pingpong (RDM endpoints, server and client on this machine), 64 B,
     1 KiB and 1 MiB messages; its one-way time with the connection set-up
     subtracted (see perf/README.md);
  2. ferry-rpc-bench: null RPC, 1 KiB in+out RPC, 1 MiB bulk both ways;
  3. ferry-forward-bench against a real ferry-iond, once per worker spin
     setting: NULL_CALL, STATX, 1 KiB READ (inline), 1 MiB READ and WRITE
     (bulk), OPENAT+CLOSE, each also run natively on the export directory.

Options:
  --providers LIST      comma-separated, from shm and tcp (default shm,tcp)
  --out DIR             where results go (default perf/results/DATE-TIME)
  --quick               fewer iterations (under 30 s; for a smoke run)
  --worker-spin-us LIST ferry-iond --worker-spin-us values to run the
                        forwarded calls with (default 0,50)
  --build DIR           build tree with bin/ferry-iond, ferry-rpc-bench and
                        ferry-forward-bench (default \$FERRY_BUILD, else
                        build-perf, else build)
  -h, --help            this text

Writes DIR/results.csv, DIR/latency.png (with gnuplot), DIR/machine.txt and
DIR/raw/ (every tool's own output).  Run it on an idle machine: the figures
are latencies of a few microseconds and anything else running shows.
EOF
}

PROVIDERS=shm,tcp
OUT=
QUICK=0
SPINS=0,50
BUILD=${FERRY_BUILD:-}
while [ $# -gt 0 ]; do
  case $1 in
    --providers) PROVIDERS=${2:?--providers needs a list}; shift 2 ;;
    --providers=*) PROVIDERS=${1#*=}; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --quick) QUICK=1; shift ;;
    --worker-spin-us) SPINS=${2:?--worker-spin-us needs a list}; shift 2 ;;
    --worker-spin-us=*) SPINS=${1#*=}; shift ;;
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_bench.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "run_bench.sh: $*" >&2; exit 1; }

if [ -z "$BUILD" ]; then
  for d in "$REPO/build-perf" "$REPO/build"; do
    [ -x "$d/bin/ferry-forward-bench" ] && { BUILD=$d; break; }
  done
fi
[ -n "$BUILD" ] || die "no build tree with bin/ferry-forward-bench; build first or pass --build"
IOND=$BUILD/bin/ferry-iond
RPCB=$BUILD/bin/ferry-rpc-bench
FWDB=$BUILD/bin/ferry-forward-bench
for b in "$IOND" "$RPCB" "$FWDB"; do [ -x "$b" ] || die "$b is missing (build it first)"; done
for t in fi_pingpong fi_info ss; do
  command -v "$t" >/dev/null || die "$t not found (fi_pingpong and fi_info: package libfabric-bin; ss: iproute2)"
done

IFS=, read -r -a PROV_LIST <<<"$PROVIDERS"
for p in "${PROV_LIST[@]}"; do
  case $p in shm|tcp) ;; *) die "unknown provider '$p' (shm, tcp)" ;; esac
done
IFS=, read -r -a SPIN_LIST <<<"$SPINS"
for s in "${SPIN_LIST[@]}"; do
  [[ $s =~ ^[0-9]+$ ]] || die "bad --worker-spin-us value '$s'"
done

# Iterations.  fi_pingpong reports a mean that includes its first message,
# which on tcp;ofi_rxm carries the connection set-up (tens of ms) and on shm
# the first touch of the buffers; a second run of one iteration measures that
# fixed cost and it is subtracted (see pp_oneway).  Enough iterations keep
# what remains of its run-to-run jitter small.
if [ "$QUICK" = 1 ]; then
  PP_SMALL=3000 PP_BIG=100 RPC_N=2000 RPC_B=50 FWD_N=1000 FWD_B=30
else
  PP_SMALL=30000 PP_BIG=1000 RPC_N=10000 RPC_B=300 FWD_N=5000 FWD_B=200
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT=$REPO/perf/results/$STAMP
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
CSV=$OUT/results.csv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
IOND_PID=
SERVER_PID=

cleanup() {
  local rc=$?
  # Only what this script started, by the PIDs it recorded.
  for pid in $IOND_PID $SERVER_PID; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the machine ----
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
CORES=$(nproc)
KERNEL=$(uname -r)
FABVER=$(fi_info --version | sed -n 's/^libfabric: //p')
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command:   perf/run_bench.sh --providers $PROVIDERS --worker-spin-us $SPINS$([ "$QUICK" = 1 ] && echo ' --quick')"
  echo "source:    $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown) (binaries from $BUILD)"
  echo "cpu:       ${CPU:-unknown}"
  echo "cores:     $CORES"
  echo "kernel:    $KERNEL"
  echo "libfabric: ${FABVER:-unknown}"
  echo "load:      $LOAD (1, 5, 15 min, at the start)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"
if awk -v l="${LOAD%% *}" -v c="$CORES" 'BEGIN { exit !(l > 0.25 * c) }'; then
  echo "WARNING: the machine is busy (load ${LOAD%% *} on $CORES cores): these figures will be worse and noisier than on an idle machine" | tee -a "$OUT/machine.txt"
fi
echo

echo "provider,op,size,ferry_median_us,ferry_p99_us,native_median_us,fabric_us,ratio_native,ratio_fabric,mib_s,native_p99_us,native_mib_s,iond_spin_us" >"$CSV"

# ---- fi_pingpong ----
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
  done
  return 1
}

# pp_run PROV SIZE ITERS LOG: one fi_pingpong server and client; sets PP_US
# to the client's "usec/xfer" (elapsed / iterations / 2: a one-way time).
# Not run in a subshell, so the EXIT trap knows the server's PID.
pp_run() {
  local fprov=$1 size=$2 iters=$3 log=$4 port args
  args=(-p "$fprov" -e rdm -S "$size" -I "$iters")
  [ "$fprov" = "tcp;ofi_rxm" ] && args+=(-d lo) # the interface Ferry's tcp://127.0.0.1 uses
  PP_US=
  port=$(free_port) || return 1
  fi_pingpong "${args[@]}" -B "$port" >"$log.server" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do
    [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.02
  done
  if ! timeout 120 fi_pingpong "${args[@]}" -P "$port" 127.0.0.1 >"$log" 2>&1; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    echo "fi_pingpong failed, see $log" >&2
    return 1
  fi
  wait "$SERVER_PID" || true
  SERVER_PID=
  # The line after the header: bytes #sent #ack total time MB/sec usec/xfer Mxfers/sec
  PP_US=$(awk '$1 == "bytes" { hdr = 1; next } hdr && NF >= 8 { print $7; exit }' "$log")
  [ -n "$PP_US" ] || { echo "cannot parse $log" >&2; return 1; }
}

# pp_retry: pp_run up to three times.  fi_pingpong on shm now and then
# fails to enable its endpoint (EBUSY) on a busy machine; a failed attempt
# keeps its output next to the log as .failed-N.
pp_retry() {
  local try
  for try in 1 2 3; do
    pp_run "$@" && return 0
    mv -f "$4" "$4.failed-$try" 2>/dev/null || true
    sleep 0.5
  done
  return 1
}

# pp_oneway PROV SIZE ITERS TAG: sets OW (one-way µs, the connection set-up
# and first touch subtracted) and OW_RAW (fi_pingpong's own mean).
#   elapsed(N) = 2 N usec/xfer(N);  one-way = (elapsed(N) - elapsed(1)) / (2 (N - 1))
pp_oneway() {
  local fprov=$1 size=$2 iters=$3 tag=$4 raw one
  pp_retry "$fprov" "$size" "$iters" "$OUT/raw/fi_pingpong-$tag-$size.txt" || return 1
  raw=$PP_US
  pp_retry "$fprov" "$size" 1 "$OUT/raw/fi_pingpong-$tag-$size-1iter.txt" || return 1
  one=$PP_US
  OW_RAW=$raw
  OW=$(awk -v r="$raw" -v o="$one" -v n="$iters" 'BEGIN {
    v = (2 * n * r - 2 * o) / (2 * (n - 1));
    printf "%.3f", (v > 0 ? v : r) }')
}

# ---- ferry-rpc-bench ----
# rpc_field FILE PATTERN FIELD: the number after FIELD ("median", "p99") on
# the line starting with PATTERN.
rpc_field() {
  awk -v pat="$2" -v f="$3" 'index($0, pat) == 1 {
    for (i = 1; i < NF; i++) if ($i == f) { print $(i + 1); exit } }' "$1"
}

# csv_row PROV OP SIZE MED P99 FABRIC MIBS: a row for an rpc/ or fabric figure
# (no native counterpart).
csv_row() {
  awk -v p="$1" -v op="$2" -v sz="$3" -v med="$4" -v p99="$5" -v fab="$6" -v mibs="$7" 'BEGIN {
    rf = (med != "" && fab > 0) ? sprintf("%.2f", med / fab) : "";
    printf "%s,%s,%s,%s,%s,,%s,,%s,%s,,,\n", p, op, sz, med, p99, fab, rf, mibs }' >>"$CSV"
}

# ---- ferry-iond ----
start_iond() {
  local uri=$1 spin=$2 exp=$3
  rm -f "$WORK/ready"
  "$IOND" --listen "$uri" --export "/pfs=$exp" --ready-file "$WORK/ready" \
    --worker-spin-us "$spin" --log-level warn >>"$OUT/raw/ferry-iond-$PROV.log" 2>&1 &
  IOND_PID=$!
  for _ in $(seq 300); do
    [ -s "$WORK/ready" ] && break
    kill -0 "$IOND_PID" 2>/dev/null || die "ferry-iond exited before ready, see $OUT/raw/ferry-iond-$PROV.log"
    sleep 0.05
  done
  [ -s "$WORK/ready" ] || die "ferry-iond not ready after 15 s"
  # The ready line names the address to dial (tcp port 0 becomes the real one).
  IOND_URI=$(sed -n 's/.*listening on \([^ ]*\) (.*/\1/p' "$WORK/ready")
  [ -n "$IOND_URI" ] || die "no address in the ready line: $(cat "$WORK/ready")"
}

stop_iond() {
  kill -TERM "$IOND_PID"
  local rc=0
  wait "$IOND_PID" || rc=$?
  IOND_PID=
  [ $rc -eq 0 ] || die "ferry-iond exited with status $rc"
}

declare -A SUMMARY
for PROV in "${PROV_LIST[@]}"; do
  case $PROV in
    shm) FPROV=shm; URI="shm://ferry-bench-$$"; RPC_URI="shm://ferry-rpcb-$$" ;;
    tcp) FPROV="tcp;ofi_rxm"; URI="tcp://127.0.0.1:0"; RPC_URI="tcp://127.0.0.1:0" ;;
  esac
  echo "== $PROV ($FPROV) =="

  # 1. the fabric alone
  pp_oneway "$FPROV" 64 "$PP_SMALL" "$PROV" || die "fi_pingpong $PROV 64 B failed"
  OW64=$OW; OW64_RAW=$OW_RAW
  pp_oneway "$FPROV" 1024 "$PP_SMALL" "$PROV" || die "fi_pingpong $PROV 1 KiB failed"
  OW1K=$OW; OW1K_RAW=$OW_RAW
  pp_oneway "$FPROV" 1048576 "$PP_BIG" "$PROV" || die "fi_pingpong $PROV 1 MiB failed"
  OW1M=$OW; OW1M_RAW=$OW_RAW
  MIBS1M=$(awk -v t="$OW1M" 'BEGIN { printf "%.0f", 1e6 / t }')
  printf 'fi_pingpong one-way: 64 B %s us, 1 KiB %s us, 1 MiB %s us (%s MiB/s); its raw means %s / %s / %s us\n' \
    "$OW64" "$OW1K" "$OW1M" "$MIBS1M" "$OW64_RAW" "$OW1K_RAW" "$OW1M_RAW"
  csv_row "$PROV" fabric_oneway 64 "" "" "$OW64" ""
  csv_row "$PROV" fabric_oneway 1024 "" "" "$OW1K" ""
  csv_row "$PROV" fabric_oneway 1048576 "" "" "$OW1M" "$MIBS1M"

  # 2. rpc/ alone: a null RPC is a request and a reply, i.e. a round trip
  R=$OUT/raw/ferry-rpc-bench-$PROV.txt
  timeout 300 "$RPCB" -n "$RPC_N" -b "$RPC_B" "$RPC_URI" >"$R" 2>&1 || die "ferry-rpc-bench $PROV failed, see $R"
  cat "$R"
  RTT64=$(awk -v a="$OW64" 'BEGIN { printf "%.3f", 2 * a }')
  RTT1K=$(awk -v a="$OW1K" 'BEGIN { printf "%.3f", 2 * a }')
  BULKFAB=$(awk -v a="$OW64" -v b="$OW1M" 'BEGIN { printf "%.3f", 2 * a + b }')
  csv_row "$PROV" rpc_null 0 "$(rpc_field "$R" "null RPC" median)" "$(rpc_field "$R" "null RPC" p99)" "$RTT64" ""
  csv_row "$PROV" rpc_1k_inout 1024 "$(rpc_field "$R" "1 KiB in+out" median)" "$(rpc_field "$R" "1 KiB in+out" p99)" "$RTT1K" ""
  for dir in "client->server:rpc_bulk_pull_1m" "server->client:rpc_bulk_push_1m"; do
    med=$(rpc_field "$R" "1 MiB ${dir%%:*}" median)
    csv_row "$PROV" "${dir#*:}" 1048576 "$med" "$(rpc_field "$R" "1 MiB ${dir%%:*}" p99)" "$BULKFAB" \
      "$(awk -v m="$med" 'BEGIN { if (m > 0) printf "%.0f", 1e6 / m }')"
  done
  SUMMARY[$PROV,rpc_null]=$(rpc_field "$R" "null RPC" median)

  # 3. forwarded calls through ferry-iond, against native calls
  EXP=$WORK/export-$PROV
  mkdir -p "$EXP"
  for SPIN in "${SPIN_LIST[@]}"; do
    start_iond "$URI" "$SPIN" "$EXP"
    F=$OUT/raw/ferry-forward-bench-$PROV-spin$SPIN.txt
    rm -f "$WORK/fwd.csv"
    timeout 300 "$FWDB" -n "$FWD_N" -b "$FWD_B" --fabric-oneway "64=$OW64,1024=$OW1K,1048576=$OW1M" \
      --csv "$WORK/fwd.csv" "$IOND_URI" "/pfs=$EXP" >"$F" 2>&1 || { cat "$F"; die "ferry-forward-bench $PROV failed"; }
    stop_iond
    echo "-- ferry-iond --worker-spin-us $SPIN"
    cat "$F"
    awk -F, -v p="$PROV" -v s="$SPIN" '{ printf "%s,fwd_%s,%s\n", p, $0, s }' "$WORK/fwd.csv" >>"$CSV"
    SUMMARY[$PROV,fwd_null,$SPIN]=$(awk -F, '$1 == "null_call" { print $3 }' "$WORK/fwd.csv")
  done
  echo
done

# ---- the table ----
echo "== results (µs; medians, except fabric: fi_pingpong means) =="
cat "$OUT/machine.txt"
printf '\n%-5s %-20s %8s %4s | %9s %9s | %9s | %9s | %8s %8s | %7s\n' \
  prov op bytes spin "ferry med" "ferry p99" native fabric "x native" "x fabric" "MiB/s"
awk -F, 'NR > 1 {
  printf "%-5s %-20s %8s %4s | %9s %9s | %9s | %9s | %8s %8s | %7s\n",
    $1, $2, $3, ($13 == "" ? "-" : $13), ($4 == "" ? "-" : $4), ($5 == "" ? "-" : $5),
    ($6 == "" ? "-" : $6), ($7 == "" ? "-" : $7), ($8 == "" ? "-" : $8), ($9 == "" ? "-" : $9),
    ($10 == "" ? "-" : $10) }' "$CSV"
echo
echo "fabric: what fi_pingpong needs to move the same messages (one-way times summed:"
echo "  null/statx 2 x 64 B, 1 KiB read 64 B + 1 KiB, 1 KiB in+out 2 x 1 KiB,"
echo "  1 MiB 2 x 64 B + 1 MiB, open+close 4 x 64 B).  native: the same call in-process."
for PROV in "${PROV_LIST[@]}"; do
  for SPIN in "${SPIN_LIST[@]}"; do
    awk -v p="$PROV" -v s="$SPIN" -v f="${SUMMARY[$PROV,fwd_null,$SPIN]}" -v r="${SUMMARY[$PROV,rpc_null]}" 'BEGIN {
      if (f != "" && r != "")
        printf "%s: NULL_CALL through ferry-iond (worker spin %s us) %.2f us vs rpc/ null RPC %.2f us: the daemon adds %.2f us\n",
          p, s, f, r, f - r }'
  done
done

# ---- the plot ----
if command -v gnuplot >/dev/null; then
  "$HERE/plot_latency.sh" "$CSV" "$OUT/latency.png" "${SPIN_LIST[0]}" "${SPIN_LIST[${#SPIN_LIST[@]}-1]}" \
    >"$OUT/raw/gnuplot.log" 2>&1 || echo "run_bench.sh: plot failed, see $OUT/raw/gnuplot.log" >&2
else
  echo "run_bench.sh: gnuplot not found: no latency.png" >&2
fi
echo
echo "results: $CSV"
[ -f "$OUT/latency.png" ] && echo "plot:    $OUT/latency.png"
exit 0
