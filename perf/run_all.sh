#!/usr/bin/env bash
# perf/run_all.sh: every measurement in one command, into one directory.
#   1. run_bench.sh            forwarded calls against native and the fabric
#   2. run_intercept_bench.sh  interception: native, SIGSYS path, fast path
#   3. run_model.sh            the delegation speedup model against measured
#                              runs (its f_c also read from step 1's CSV)
#   4. run_sock_bench.sh       sockets through ferry-iond against a direct
#                              connection and the fabric
# Each step leaves its CSV and plots in its own subdirectory of --out.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/perf/results/all
build=$top/build
quick=()

usage() {
  cat <<USAGE
usage: perf/run_all.sh [--out DIR] [--build DIR] [--quick]
Runs perf/run_bench.sh, perf/run_intercept_bench.sh, perf/run_model.sh and
perf/run_sock_bench.sh one after the other (each with its defaults, --quick
passed on), writing into DIR/bench, DIR/intercept, DIR/model and DIR/sockets
(default DIR: perf/results/all).
Run it on an otherwise idle machine: the figures are medians, but a busy
machine moves them by far more than the differences they show.
USAGE
}

while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
mkdir -p "$out" || exit 1
failed=0
step() {
  local name=$1; shift
  echo "=== run_all: $name ($(date -u +%H:%M:%S))"
  if ! "$@"; then
    echo "=== run_all: $name FAILED" >&2
    failed=1
  fi
}
step bench "$top/perf/run_bench.sh" --build "$build" --out "$out/bench" "${quick[@]}"
step intercept "$top/perf/run_intercept_bench.sh" --build "$build" --out "$out/intercept" "${quick[@]}"
step model "$top/perf/run_model.sh" --build "$build" --out "$out/model" --fc-from "$out/bench/results.csv" "${quick[@]}"
step sockets "$top/perf/run_sock_bench.sh" --build "$build" --out "$out/sockets" "${quick[@]}"
echo "=== run_all: results in $out (bench/, intercept/, model/, sockets/)"
exit $failed
