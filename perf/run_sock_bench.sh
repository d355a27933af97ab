#!/usr/bin/env bash
# perf/run_sock_bench.sh: sockets through the I/O node against a direct
# connection, in one run: ferry-sock-bench's client talks to its server on
# this machine directly, then through a local ferry-iond (its connection
# forwarded: FERRY_SOCKET_FORWARD=127.0.0.0/8) on each provider, next to the
# fabric's own fi_pingpong on that provider.  Prints the machine, absolute
# figures and ratios; leaves results.csv, sockets.png and the raw outputs.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SCRIPT=run_sock_bench.sh
# shellcheck source=perf/bench_lib.sh
. "$HERE/bench_lib.sh"

usage() {
  cat <<EOF
usage: perf/run_sock_bench.sh [--providers tcp,shm] [--out DIR] [--quick] [--build DIR]

In the same run, against one ferry-sock-bench server on 127.0.0.1:
  direct     the client connects itself;
  PROVIDER   the client runs under ferry-exec against a local ferry-iond
             (--listen tcp://127.0.0.1:0 or shm://...), with
             FERRY_SOCKET_FORWARD=127.0.0.0/8 and FERRY_SOCKET_BIND=forward:
             every byte goes client -> runtime -> fabric -> ferry-iond ->
             kernel TCP -> server and back;
  fabric     fi_pingpong -e rdm on the same provider (as perf/run_bench.sh
             runs it): one-way times at the request/response sizes and 1 MiB
             (with --quick at 64 B, 4 KiB, 64 KiB and 1 MiB, interpolated).
Measured: request/response round trips (16-byte request, 64 B .. 64 KiB
reply), streaming both ways (1 MiB .. 64 MiB transfers) and connections per
second (connect, 1-byte exchange, close).

Options:
  --providers LIST  from tcp and shm (default tcp,shm)
  --out DIR         where results go (default perf/results/sock-DATE-TIME)
  --quick           few iterations (seconds; for a smoke run; figures noisy)
  --build DIR       build tree with bin/ferry-iond, ferry-exec and
                    ferry-sock-bench (default \$FERRY_BUILD, else build-perf,
                    else build)
  -h, --help        this text

Writes DIR/results.csv (the machine in its leading # lines), DIR/sockets.png
(gnuplot), DIR/machine.txt and DIR/raw/.  Ratios: latency forwarded/direct
and forwarded/fabric (> 1: slower); throughput and connection rate
forwarded/direct and forwarded/fabric (< 1: slower).
EOF
}

PROVIDERS=tcp,shm
OUT=
QUICK=0
BUILD=${FERRY_BUILD:-}
while [ $# -gt 0 ]; do
  case $1 in
    --providers) PROVIDERS=${2:?--providers needs a list}; shift 2 ;;
    --providers=*) PROVIDERS=${1#*=}; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --quick) QUICK=1; shift ;;
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$SCRIPT: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

[ -n "$BUILD" ] || BUILD=$(bench_find_build ferry-sock-bench) ||
  die "no build tree with bin/ferry-sock-bench; build first or pass --build"
IOND=$BUILD/bin/ferry-iond
FEXEC=$BUILD/bin/ferry-exec
SB=$BUILD/bin/ferry-sock-bench
for b in "$IOND" "$FEXEC" "$SB"; do [ -x "$b" ] || die "$b is missing (build it first)"; done
for t in fi_pingpong fi_info ss; do
  command -v "$t" >/dev/null || die "$t not found (fi_pingpong and fi_info: package libfabric-bin; ss: iproute2)"
done
IFS=, read -r -a PROV_LIST <<<"$PROVIDERS"
for p in "${PROV_LIST[@]}"; do
  case $p in shm|tcp) ;; *) die "unknown provider '$p' (tcp, shm)" ;; esac
done

RR_SIZES="64 256 1024 4096 16384 65536"
# fi_pingpong's sizes: every reply size and 1 MiB; --quick measures fewer and
# interpolates linearly in between (as ferry-bench does for its calls).
PP_SIZES="$RR_SIZES 1048576"
if [ "$QUICK" = 1 ]; then
  PP_SIZES="64 4096 65536 1048576"
  NCONNS=100
  CLIENT_ARGS=(-n 200 --stream-sizes 1M,4M --stream-bytes 8M --conns $NCONNS)
  PP_SMALL=1000 PP_BIG=100
else
  NCONNS=2000
  CLIENT_ARGS=(-n 5000 --stream-sizes 1M,4M,16M,64M --stream-bytes 128M --conns $NCONNS)
  PP_SMALL=5000 PP_BIG=500
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT=$REPO/perf/results/sock-$STAMP
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
CSV=$OUT/results.csv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-sockbench.XXXXXX")
SERVER_PID=
PP_PID=
FG_PID=
IOND_PID=

cleanup() {
  local rc=$?
  # Only what this script started, by the PIDs it recorded.
  for pid in $FG_PID $PP_PID $SERVER_PID; do stop_pid "$pid"; done
  iond_kill
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM


bench_machine "$OUT/machine.txt" \
  command "perf/run_sock_bench.sh --providers $PROVIDERS$([ "$QUICK" = 1 ] && echo ' --quick')" \
  binaries "$BUILD" \
  libfabric "$(fi_info --version | sed -n 's/^libfabric: //p')"
echo

# ---- fi_pingpong (as perf/run_bench.sh runs it) ----
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
  done
  return 1
}

# ---- the server, natively ----
"$SB" serve --bind 127.0.0.1 --port 0 --ready-file "$WORK/port" >"$OUT/raw/server.txt" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  [ -s "$WORK/port" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited, see $OUT/raw/server.txt"
  sleep 0.05
done
[ -s "$WORK/port" ] || die "the server did not start"
DEST=127.0.0.1:$(cat "$WORK/port")

RAW=$WORK/raw.csv # label,test,size,count,median_us,p99_us,mib_s,ops_s
echo "== direct (no Ferry) =="
fg timeout -k 5 600 "$SB" client "$DEST" --label direct --csv "$RAW" "${CLIENT_ARGS[@]}" \
  | tee "$OUT/raw/client-direct.txt" || die "the direct client failed"

declare -A OWS
FAB=$WORK/fabric.csv # provider,size,oneway_us
: >"$FAB"
mkdir -p "$WORK/export"
: >"$WORK/served.txt"
for PROV in "${PROV_LIST[@]}"; do
  case $PROV in
    tcp) FPROV="tcp;ofi_rxm"; URI="tcp://127.0.0.1:0" ;;
    shm) FPROV=shm; URI="shm://ferry-sockbench-$$" ;;
  esac
  echo
  echo "== $PROV ($FPROV) =="
  for sz in $PP_SIZES; do
    it=$PP_SMALL
    [ "$sz" -ge 65536 ] && it=$PP_BIG
    pp_oneway "$FPROV" "$sz" "$it" "$PROV" || die "fi_pingpong $PROV $sz B failed, see $OUT/raw"
    OWS[$PROV,$sz]=$OW
    echo "$PROV,$sz,$OW" >>"$FAB"
    printf 'fi_pingpong one-way %8s B: %9s us\n' "$sz" "$OW"
  done
  LOG=$OUT/raw/ferry-iond-$PROV.log
  iond_start "$WORK" "$LOG" "$URI" --export "/pfs=$WORK/export" --log-level info
  echo "-- through ferry-iond at $IOND_URI"
  fg env FERRY_SOCKET_FORWARD=127.0.0.0/8 FERRY_SOCKET_BIND=forward \
    timeout -k 5 900 "$FEXEC" --ionode "$IOND_URI" --mount /pfs -- \
    "$SB" client "$DEST" --label "$PROV" --csv "$RAW" "${CLIENT_ARGS[@]}" \
    | tee "$OUT/raw/client-$PROV.txt" || die "the forwarded client ($PROV) failed; daemon log: $OUT/raw/ferry-iond-$PROV.log"
  iond_stop
  # The daemon's own count proves the traffic went through it: every
  # measured connection is a SOCK_CONNECT there.
  read -r SOCK_CALLS SOCK_CONNECTS < <(awk '/stats \(shutdown\): SOCK_[A-Z]* calls/ {
      for (i = 1; i < NF; i++) if ($i == "calls") { n += $(i + 1); if ($(i - 1) == "SOCK_CONNECT") c = $(i + 1) } }
    END { print n + 0, c + 0 }' "$LOG")
  echo "ferry-iond ($PROV) served $SOCK_CALLS socket calls, $SOCK_CONNECTS connects" | tee -a "$WORK/served.txt"
  [ "$SOCK_CONNECTS" -gt "$NCONNS" ] ||
    die "ferry-iond ($PROV) made $SOCK_CONNECTS connections, the client $((NCONNS + 1)): its sockets were not forwarded (see $LOG)"
done
stop_pid "$SERVER_PID"
SERVER_PID=

# ---- the CSV: each forwarded figure next to the direct one and the fabric's ----
# fabric_us of a round trip: the request (16 B, taken as 64 B) one way and the
# reply one way; fabric_mib_s: 1 MiB / its one-way time (streams); none for
# connections.  ratio_direct, ratio_fabric: forwarded/direct and
# forwarded/fabric, of the time for rr (> 1: slower), of MiB/s or op/s for
# streams and connections (< 1: slower).
{
  echo "path,test,size,count,median_us,p99_us,mib_s,ops_s,direct_median_us,direct_mib_s,direct_ops_s,fabric_us,fabric_mib_s,ratio_direct,ratio_fabric"
  sed 's/^/# /' "$OUT/machine.txt"
  sed 's/^/# /' "$WORK/served.txt"
  awk -F, -v OFS=, '
    FILENAME == ARGV[1] { ow[$1, $2] = $3; np[$1]++; ps[$1, np[$1]] = $2; next }
    { row[++n] = $0
      if ($1 == "direct") { dmed[$2, $3] = $5; dmib[$2, $3] = $7; dops[$2, $3] = $8 } }
    # oneway(p, s): measured, or linear between the nearest measured sizes
    function oneway(p, s,   k, lo, hi) {
      if ((p, s) in ow) return ow[p, s]
      lo = 0; hi = 0
      for (k = 1; k <= np[p]; k++) {
        if (ps[p, k] + 0 < s + 0 && (lo == 0 || ps[p, k] + 0 > lo + 0)) lo = ps[p, k]
        if (ps[p, k] + 0 > s + 0 && (hi == 0 || ps[p, k] + 0 < hi + 0)) hi = ps[p, k]
      }
      if (lo == 0 || hi == 0) return ""
      return ow[p, lo] + (ow[p, hi] - ow[p, lo]) * (s - lo) / (hi - lo)
    }
    END {
      for (i = 1; i <= n; i++) {
        split(row[i], f, ",")
        p = f[1]; t = f[2]; s = f[3]
        fu = ""; fm = ""; rd = ""; rf = ""
        if (p != "direct") {
          if (t == "rr" && oneway(p, 64) != "" && oneway(p, s) != "") fu = sprintf("%.3f", oneway(p, 64) + oneway(p, s))
          if ((t == "down" || t == "up") && ((p, 1048576) in ow) && ow[p, 1048576] > 0)
            fm = sprintf("%.0f", 1 / (ow[p, 1048576] / 1e6))
          if (t == "rr") {
            if (dmed[t, s] > 0) rd = sprintf("%.2f", f[5] / dmed[t, s])
            if (fu > 0) rf = sprintf("%.2f", f[5] / fu)
          } else if (t == "conn") {
            if (dops[t, s] > 0) rd = sprintf("%.3f", f[8] / dops[t, s])
          } else {
            if (dmib[t, s] > 0) rd = sprintf("%.3f", f[7] / dmib[t, s])
            if (fm > 0) rf = sprintf("%.3f", f[7] / fm)
          }
        }
        print p, t, s, f[4], f[5], f[6], f[7], f[8], \
          (p == "direct" ? "" : dmed[t, s]), (p == "direct" ? "" : dmib[t, s]), (p == "direct" ? "" : dops[t, s]), \
          fu, fm, rd, rf
      }
    }' "$FAB" "$RAW"
} >"$CSV"

# ---- the table ----
echo
echo "== results =="
cat "$OUT/machine.txt"
echo
echo "request/response (16 B request, SIZE reply), one connection; µs, medians:"
printf '%-7s %8s | %9s %9s | %9s | %9s | %8s %8s\n' path size median p99 direct fabric "x direct" "x fabric"
awk -F, '/^#/ || $1 == "path" || $2 != "rr" { next }
  function d(x) { return x == "" ? "-" : x }
  { printf "%-7s %8s | %9s %9s | %9s | %9s | %8s %8s\n", $1, $3, $5, $6, d($9), d($12), d($14), d($15) }' "$CSV"
echo
echo "streaming (one connection, transfers of SIZE bytes; MiB/s from the median transfer):"
printf '%-7s %-5s %9s | %9s | %9s | %9s | %8s %8s\n' path dir size MiB/s direct fabric "x direct" "x fabric"
awk -F, '/^#/ || $1 == "path" || ($2 != "down" && $2 != "up") { next }
  function d(x) { return x == "" ? "-" : x }
  { printf "%-7s %-5s %9s | %9.0f | %9s | %9s | %8s %8s\n", $1, $2, $3, $7, d($10), d($13), d($14), d($15) }' "$CSV"
echo
echo "connections (connect, 1-byte request and answer, close; one at a time):"
printf '%-7s | %9s %9s | %10s | %10s | %8s\n' path "median us" "p99 us" "conn/s" direct "x direct"
awk -F, '/^#/ || $1 == "path" || $2 != "conn" { next }
  function d(x) { return x == "" ? "-" : x }
  { printf "%-7s | %9s %9s | %10.0f | %10s | %8s\n", $1, $5, $6, $8, d($11), d($14) }' "$CSV"
echo
echo "fabric: fi_pingpong one-way of a 64 B request plus one of the reply size"
echo "  (rr), or 1 MiB / its one-way time (streams).  x direct, x fabric: the"
echo "  forwarded figure over the direct or fabric one (time for rr; MiB/s and"
echo "  conn/s otherwise)."

# ---- the plot ----
bench_plot_report "$OUT" "$CSV" plot_sock.sh "$CSV" "$OUT/sockets.png"
exit 0
