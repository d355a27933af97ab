#!/usr/bin/env bash
# perf/run_intercept_bench.sh: what the runtime's interception adds to one
# call, in one run: ferry-intercept-bench natively, under ferry-exec with
# FERRY_FASTPATH=0 (every call a SIGSYS trap), with the fast path calling
# glibc's own functions (rewritten call sites; glibc's read site cannot be
# rewritten and still traps) and with the fast path through the symbols the
# runtime interposes (read, write, pread, lseek, ...), for local calls
# (getppid through libc and from an inline syscall, lseek of /dev/null, a
# 1-byte read of /dev/zero and write to /dev/null) and for a forwarded call
# (a 1-byte pread of a file in /pfs, served by a real ferry-iond started
# here).  Writes intercept.csv, interleaved.csv and intercept.png.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SCRIPT=run_intercept_bench.sh
# shellcheck source=perf/bench_lib.sh
. "$HERE/bench_lib.sh"

usage() {
  cat <<EOF
usage: perf/run_intercept_bench.sh [--build DIR] [--out DIR] [--provider shm|tcp]
                                   [--quick] [--pin]

Runs ferry-intercept-bench four ways -- native, sud (FERRY_FASTPATH=0),
fast (FERRY_FASTPATH=1, glibc's own functions: rewritten sites) and
interposed (FERRY_FASTPATH=1, the runtime's interposed symbols) -- against a
ferry-iond it starts and stops itself (the native pread reads the export
directory directly).

Options:
  --build DIR      build tree with bin/ferry-iond, bin/ferry-exec,
                   bin/ferry-intercept-bench and lib/libferry.so (default
                   \$FERRY_BUILD, else build-perf, else build)
  --out DIR        where results go (default perf/results/DATE-intercept)
  --provider P     shm (default) or tcp
  --quick          fewer iterations (a smoke run, a few seconds)
  --pin            the daemon on CPU 0, the benchmark on CPU 1 (taskset): on
                   a busy machine this keeps them from taking turns on one
  -h, --help       this text

Writes DIR/intercept.csv (mode,call,iterations,rounds,median_ns,min_ns,
cpu_median_ns, and added_ns, added_min_ns, added_cpu_ns: each minus
native's), DIR/interleaved.csv (ferry-intercept-interleaved natively and
with the fast path: CPU ns per call, the calls interleaved in one process,
and added_rel_ns: the cost relative to getppid in the same process minus
the same natively), DIR/intercept.png (gnuplot: added_cpu_ns per call of
sud, fast and interposed, the CPU time each adds over native),
DIR/machine.txt, DIR/iond.log and DIR/raw/, and prints the tables.  Run it
on an idle machine; on a shared one, under nice -n -20, and read the
minimum and CPU-time columns (elapsed medians then include other work).
EOF
}

BUILD=${FERRY_BUILD:-}
OUT=
PROVIDER=shm
QUICK=0
PIN=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --provider) PROVIDER=${2:?--provider needs shm or tcp}; shift 2 ;;
    --provider=*) PROVIDER=${1#*=}; shift ;;
    --quick) QUICK=1; shift ;;
    --pin) PIN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$SCRIPT: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

[ -n "$BUILD" ] || BUILD=$(bench_find_build ferry-intercept-bench) ||
  die "no build tree with bin/ferry-intercept-bench; build first or pass --build"
IOND=$BUILD/bin/ferry-iond
FEXEC=$BUILD/bin/ferry-exec
BENCH=$BUILD/bin/ferry-intercept-bench
for f in "$IOND" "$FEXEC" "$BENCH" "$BUILD/bin/ferry-intercept-interleaved" "$BUILD/lib/libferry.so"; do
  [ -e "$f" ] || die "$f missing (build the tree first)"
done
case $PROVIDER in shm|tcp) ;; *) die "--provider shm or tcp" ;; esac

# IOND_WRAP: what iond_start puts before ferry-iond (bench_lib.sh).
IOND_WRAP=; ON_BENCH=()
if [ "$PIN" = 1 ]; then
  [ "$(nproc)" -ge 2 ] || die "--pin needs 2 CPUs"
  IOND_WRAP="taskset -c 0"; ON_BENCH=(taskset -c 1)
fi

[ -n "$OUT" ] || OUT=$REPO/perf/results/$(date -u +%Y%m%dT%H%M%SZ)-intercept
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-intercept.XXXXXX")
IOND_PID=
cleanup() {
  local rc=$?
  # Only the daemon this script started, by its recorded PID.
  iond_kill
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ITER=1000000; IO_ITER=20000; ROUNDS=7
if [ "$QUICK" = 1 ]; then ITER=50000; IO_ITER=1000; ROUNDS=3; fi

bench_machine "$OUT/machine.txt" \
  command "perf/run_intercept_bench.sh --provider $PROVIDER$([ "$QUICK" = 1 ] && echo ' --quick')$([ "$PIN" = 1 ] && echo ' --pin')" \
  binaries "$BUILD" \
  provider "$PROVIDER" \
  pinned "$([ "$PIN" = 1 ] && echo "ferry-iond on CPU 0, the benchmark on CPU 1" || echo no)" \
  nice "$(nice)"
echo

EXPORT=$TMP/export
mkdir -p "$EXPORT"
head -c 4096 /dev/zero > "$EXPORT/bench.dat"
case $PROVIDER in
  tcp) URI=$(bench_free_tcp_uri) ;;
  shm) URI="shm://ferry-intercept-$$" ;;
esac
: >"$OUT/iond.log" # iond_start appends
iond_start "$TMP" "$OUT/iond.log" "$URI" --export "/pfs=$EXPORT"
URI=$IOND_URI

ARGS=(--iterations "$ITER" --io-iterations "$IO_ITER" --rounds "$ROUNDS")
RAW=$TMP/raw.csv
"${ON_BENCH[@]}" "$BENCH" --mode native "${ARGS[@]}" --file "$EXPORT/bench.dat" > "$RAW"
FERRY_FASTPATH=0 "${ON_BENCH[@]}" "$FEXEC" --ionode "$URI" --mount /pfs -- \
  "$BENCH" --mode sud "${ARGS[@]}" --file /pfs/bench.dat >> "$RAW"
FERRY_FASTPATH=1 "${ON_BENCH[@]}" "$FEXEC" --ionode "$URI" --mount /pfs -- \
  "$BENCH" --mode fast --libc-direct "${ARGS[@]}" --file /pfs/bench.dat >> "$RAW"
FERRY_FASTPATH=1 "${ON_BENCH[@]}" "$FEXEC" --ionode "$URI" --mount /pfs -- \
  "$BENCH" --mode interposed "${ARGS[@]}" --file /pfs/bench.dat >> "$RAW"

awk -F, 'BEGIN { print "mode,call,iterations,rounds,median_ns,min_ns,cpu_median_ns,added_ns,added_min_ns,added_cpu_ns" }
  { row[NR] = $0; call[NR] = $2; med[NR] = $5; mn[NR] = $6; cpu[NR] = $7
    if ($1 == "native") { base[$2] = $5; bmin[$2] = $6; bcpu[$2] = $7 } }
  END { for (i = 1; i <= NR; i++)
          printf "%s,%.1f,%.1f,%.1f\n", row[i], med[i] - base[call[i]],
                 mn[i] - bmin[call[i]], cpu[i] - bcpu[call[i]] }' "$RAW" > "$OUT/intercept.csv"

# The same local calls interleaved in one process: each call's cost
# relative to getppid in the same process, minus the same natively
# (added_rel_ns), cancels the drift between processes on a shared machine.
ILV=$TMP/interleaved.csv
"${ON_BENCH[@]}" "$BUILD/bin/ferry-intercept-interleaved" --mode native > "$ILV"
FERRY_FASTPATH=1 "${ON_BENCH[@]}" "$FEXEC" --ionode "$URI" --mount /pfs -- \
  "$BUILD/bin/ferry-intercept-interleaved" --mode fast >> "$ILV"
awk -F, 'BEGIN { print "mode,call,calls_per_block,rounds,median_ns,q1_ns,q3_ns,added_rel_ns" }
  { row[NR] = $0; mode[NR] = $1; call[NR] = $2; med[NR] = $5
    if ($2 == "getppid_libc") ref[$1] = $5
    if ($1 == "native") base[$2] = $5 }
  END { for (i = 1; i <= NR; i++)
          printf "%s,%.1f\n", row[i], (med[i] - ref[mode[i]]) - (base[call[i]] - ref["native"]) }' \
  "$ILV" > "$OUT/interleaved.csv"
iond_stop

cat "$OUT/machine.txt"
echo
column -s, -t < "$OUT/intercept.csv"
echo
column -s, -t < "$OUT/interleaved.csv"

# ---- the plot ----
bench_plot_report "$OUT" "$OUT/intercept.csv $OUT/interleaved.csv" plot_intercept.sh \
  "$OUT/intercept.csv" "$OUT/intercept.png"
exit 0
